// Junk in container logs: malformed CRI lines, a 10 MB line without a newline, binary junk, an
// over-long P/F line -> counted and skipped (or cut), and the good lines around them still match.
// Also the Docker json-file fallback format.
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startLogWatch } from '../agent/logs/index.js';
import { criLines, criTime, metric, newRegistry, podLog, RuntimeWriter, tempDir, watchFlags } from './logs/helpers.js';
import { RecordingSink } from './support/sink.js';
import { testLog } from './support/log.js';
import { sleep, waitFor } from './support/wait.js';

test('malformed lines, a 10 MB line without newline and binary junk are counted and skipped; good lines around them match', async () => {
  const tmp = tempDir('junk');
  const sink = new RecordingSink();
  const registry = newRegistry();
  const watch = await startLogWatch(watchFlags(tmp.dir), sink, {
    log: testLog,
    stateDir: path.join(tmp.dir, 'state'),
    registry,
  });
  try {
    const pod = await podLog(tmp.dir, { namespace: 'payments', pod: 'api-7d9f', container: 'api' });
    const w = new RuntimeWriter(pod.file);
    await w.line(
      'stderr',
      'E0822 dispatcher.go:184] failed calling webhook "a.example.com": failed to call webhook: Post "https://a.example.com/validate": dial tcp 10.96.0.12:443: connect: connection refused',
    );
    const malformed = [
      'not a CRI line at all',
      '2026-08-22 07:58:21 stdout F space instead of T',
      '2026-08-22T07:58:21.1Z stdin F wrong stream',
      '2026-08-22T07:58:21.1Z stdout Q bad tag',
      '{"log": broken json',
    ];
    await w.write(malformed.map((l) => `${l}\n`).join(''));

    // 10 MB without a newline, arriving over several polls; the tailer must neither hold it nor choke.
    const mb = Buffer.alloc(1024 * 1024, 'x');
    for (let i = 0; i < 10; i++) {
      await w.write(mb);
      await sleep(20);
    }
    await w.write('\n');

    // Binary junk: three "lines" of random bytes with NULs in them.
    const junk: Buffer[] = [];
    for (let i = 0; i < 3; i++) {
      const b = randomBytes(3000);
      for (let j = 0; j < b.length; j++) if (b[j] === 10) b[j] = 0;
      b[0] = 0;
      junk.push(b, Buffer.from('\n'));
    }
    await w.write(Buffer.concat(junk));

    await w.line(
      'stderr',
      '{"level":"warn","ts":"2026-08-22T07:58:21.000Z","caller":"etcdserver/apply.go:636","msg":"alarm raised","alarm":"NOSPACE","from":"2e1259d415f2a040"}',
    );
    // One logical line of 5 x 16 KiB + 4 KiB: merged, cut at 64 KiB, and still matched on its start.
    await w.write(
      criLines(
        'stdout',
        `E0822 leaderelection.go:330] error retrieving resource lock: rate: Wait(n=1) would exceed context deadline ${'z'.repeat(5 * 16384)}`,
      ),
    );
    // A second NOSPACE line on the same pod: within the window, not a second finding.
    await w.line('stdout', '2026-08-22 07:58:22.000 W | etcdserver: alarm NOSPACE raised by peer 2e1259d415f2a040');

    // The Docker json-file fallback (dockershim / cri-dockerd nodes), with a piece split at 16 KiB.
    const dpod = await podLog(tmp.dir, { namespace: 'kube-system', pod: 'controller-x', container: 'manager' });
    const dw = new RuntimeWriter(dpod.file);
    const t = criTime();
    await dw.write(
      [
        JSON.stringify({ log: 'I0822 started\n', stream: 'stdout', time: t }),
        JSON.stringify({
          log: 'E0822 reflector.go:138] failed to list *v1.Pod: the server has received too many requests ',
          stream: 'stderr',
          time: t,
        }),
        JSON.stringify({ log: 'and has asked us to try again later (get pods)\n', stream: 'stderr', time: t }),
        '',
      ].join('\n'),
    );

    const webhook = await waitFor('WebhookCallFailed', () => sink.of('WebhookCallFailed')[0], 15_000);
    const nospace = await waitFor('EtcdNoSpace after the junk', () => sink.of('EtcdNoSpace')[0], 15_000);
    const cut = await waitFor(
      'APIServerThrottling from the cut line',
      () => sink.of('APIServerThrottling').find((f) => f.pod?.uid === pod.uid),
      15_000,
    );
    const docker = await waitFor(
      'APIServerThrottling from the Docker line',
      () => sink.of('APIServerThrottling').find((f) => f.pod?.uid === dpod.uid),
      15_000,
    );
    await waitFor(
      'the last line',
      async () =>
        (await metric(registry, 'nodewarden_agent_log_findings_suppressed_total', { kind: 'EtcdNoSpace' })) === 1,
      5000,
    );

    const ref = { namespace: 'payments', name: 'api-7d9f', uid: pod.uid, container: 'api' };
    assert.equal(webhook.pod, ref);
    assert.is(webhook.message, 'Calls to admission webhook "a.example.com" fail (seen by api in payments/api-7d9f)');
    assert.match(webhook.evidence.line, /^E0822 dispatcher.go:184\] failed calling webhook "a.example.com"/);
    assert.equal(nospace.pod, ref);
    assert.is(nospace.evidence.rule, 'etcd-nospace-alarm');
    assert.is(cut.evidence.cut, 'true');
    assert.is(cut.evidence.line.length, 2048, 'evidence is clipped');
    assert.equal(docker.pod, { namespace: 'kube-system', name: 'controller-x', uid: dpod.uid, container: 'manager' });
    assert.match(
      docker.evidence.line,
      /too many requests and has asked us to try again later \(get pods\)$/,
      'Docker pieces merged',
    );
    assert.is(sink.findings.length, 4);

    assert.is(
      await metric(registry, 'nodewarden_agent_container_log_rejected_lines_total', { reason: 'malformed' }),
      malformed.length,
    );
    assert.is(await metric(registry, 'nodewarden_agent_container_log_rejected_lines_total', { reason: 'binary' }), 3);
    assert.is(await metric(registry, 'nodewarden_agent_container_log_rejected_lines_total', { reason: 'oversize' }), 1);
    assert.is(await metric(registry, 'nodewarden_agent_container_log_cut_lines_total'), 1);
    // Good logical lines: 4 in the CRI file, 2 in the Docker file.
    assert.is(await metric(registry, 'nodewarden_agent_container_log_lines_total'), 6);
    assert.ok((await metric(registry, 'nodewarden_agent_container_log_bytes_total')) > 10 * 1024 * 1024);
    await w.close();
    await dw.close();
  } finally {
    await watch.stop();
    tmp.cleanup();
  }
});

test.run();
