// Failure messages as etcd, cluster tools and kube-apiserver really print them (test/fixtures/logs/
// real-world.json, each with its source), written by a runtime-style writer into a kubelet-shaped
// tree and read by the real container-log tailer: EtcdNoSpace in every etcd format, and
// APIServerThrottling from the API server's own request log naming the throttled client.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startLogWatch } from '../agent/logs/index.js';
import { newRegistry, podLog, RuntimeWriter, tempDir, watchFlags } from './logs/helpers.js';
import { RecordingSink } from './support/sink.js';
import { testLog } from './support/log.js';
import { sleep, waitFor } from './support/wait.js';

interface Case {
  source: string;
  pod: string;
  container: string;
  kind: string | null;
  evidence?: Record<string, string>;
  line: string;
}
const { cases } = JSON.parse(readFileSync(new URL('./fixtures/logs/real-world.json', import.meta.url), 'utf8')) as {
  cases: Case[];
};

test('each real-world line raises its finding on the pod that printed it, with the facts it names', async () => {
  const tmp = tempDir('realworld');
  const sink = new RecordingSink();
  const watch = await startLogWatch(watchFlags(tmp.dir), sink, {
    log: testLog,
    stateDir: path.join(tmp.dir, 'state'),
    registry: newRegistry(),
  });
  try {
    for (const c of cases) {
      const pod = await podLog(tmp.dir, { namespace: 'kube-system', pod: c.pod, container: c.container });
      const w = new RuntimeWriter(pod.file);
      await w.line('stderr', c.line);
      await w.close();
    }
    const expected = cases.filter((c) => c.kind);
    await waitFor(
      'a finding for every case that has one',
      () => expected.every((c) => sink.findings.some((f) => f.pod?.name === c.pod)),
      15_000,
    );
    // Give the controls time to (wrongly) match before asserting they did not.
    await sleep(500);
    for (const c of cases) {
      const got = sink.findings.filter((f) => f.pod?.name === c.pod);
      if (!c.kind) {
        assert.is(got.length, 0, `${c.source}: ${JSON.stringify(got)}`);
        continue;
      }
      assert.is(got.length, 1, c.source);
      assert.is(got[0].kind, c.kind, c.source);
      for (const [k, v] of Object.entries(c.evidence ?? {}))
        assert.is(got[0].evidence?.[k], v, `${c.source}: evidence ${k}`);
    }
    const throttled = sink.findings.find((f) => f.pod?.name === 'kube-apiserver-node-b')!;
    assert.is(
      throttled.message,
      'The API server answered hot-loop-controller/v0.1 (linux/amd64) kubernetes/abcdef with 429 (LIST /api/v1/pods?limit=500): requests are being throttled',
    );
  } finally {
    await watch.stop();
    tmp.cleanup();
  }
});

test.run();
