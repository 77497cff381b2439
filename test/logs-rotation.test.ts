// kubelet's rotation exactly as kubelet does it (rename to <n>.log.<timestamp>, the runtime reopens a
// new <n>.log, the next rotation gzips the previous one via .tmp), while lines keep coming and while
// the runtime still writes into the renamed file; an agent restart in between (with a rotation while
// it is down). Every line must be seen exactly once.
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { FindingReport } from '../agent/findings.js';
import { startLogWatch } from '../agent/logs/index.js';
import {
  kubeletRotate,
  metric,
  newRegistry,
  podLog,
  rotationStamp,
  RuntimeWriter,
  tempDir,
  watchFlags,
} from './logs/helpers.js';
import { RecordingSink } from './support/sink.js';
import { testLog } from './support/log.js';
import { sleep, waitFor } from './support/wait.js';

const RULES = `
rules:
  - name: every-line
    kind: TestSequence
    severity: info
    pattern: '^seq=(\\d+) '
    message: 'line {1}'
    dedupWindow: 0s   # report every matching line, so each one is visible as a finding
`;

const seqOf = (f: FindingReport) => Number(/^line (\d+)$/.exec(f.message)![1]);

test('rotation while writing + restart across a rotation: no line lost, none read twice', async () => {
  const tmp = tempDir('rotation');
  const rulesFile = path.join(tmp.dir, 'rules.yaml');
  await fsp.writeFile(rulesFile, RULES);
  const flags = watchFlags(tmp.dir, { 'rules-file': rulesFile });
  const stateDir = path.join(tmp.dir, 'state');
  await fsp.mkdir(path.join(tmp.dir, 'containers'), { recursive: true });

  let seq = 0;
  const t0 = Date.UTC(2026, 7, 22, 7, 58, 21);
  let stamps = 0;
  const stamp = () => rotationStamp(new Date(t0 + ++stamps * 1000));
  const pod = await podLog(tmp.dir, { namespace: 'default', pod: 'chatty-0', container: 'app', link: false });
  const writer = new RuntimeWriter(pod.file);
  // Every 7th line is ~40 KiB: containerd splits it into P, P, F fragments that must be merged again.
  const writeLines = async (n: number, pauseEvery = 25) => {
    for (let i = 0; i < n; i++) {
      seq++;
      await writer.line(
        seq % 7 === 0 ? 'stderr' : 'stdout',
        `seq=${seq} ${seq % 7 === 0 ? 'y'.repeat(40_000) : 'payload'}`,
      );
      if (i % pauseEvery === pauseEvery - 1) await sleep(5);
    }
  };

  const sink1 = new RecordingSink();
  const reg1 = newRegistry();
  let watch = await startLogWatch(flags, sink1, { log: testLog, stateDir, registry: reg1 });
  const sink2 = new RecordingSink();
  const reg2 = newRegistry();
  const seen = () => [...sink1.of('TestSequence'), ...sink2.of('TestSequence')].map(seqOf);
  try {
    await fsp.symlink(pod.file, pod.link); // kubelet adds the symlink after the runtime created the file
    await writeLines(150);
    // Rotation 1 while running; the runtime writes 10 more lines into the renamed file before it reopens.
    const r1 = await kubeletRotate(writer, stamp(), () => writeLines(10));
    await writeLines(140);
    await waitFor('the first 300 lines', () => seen().length >= 300, 15_000);
    assert.is(await metric(reg1, 'nodewarden_agent_container_log_rotations_total'), 1);

    // Agent down: more lines, rotation 2 (gzips r1, renames the live file), more lines into both files.
    await watch.stop();
    const beforeRestart = seen().length;
    await writeLines(100);
    const r2 = await kubeletRotate(writer, stamp(), () => writeLines(10));
    await writeLines(90);
    const exists = (f: string) =>
      fsp.stat(f).then(
        () => true,
        () => false,
      );
    assert.ok(await exists(`${r1}.gz`), 'kubelet gzipped the first rotated file');
    assert.not.ok(await exists(r1), 'and removed the plain copy');

    // Agent up again: finishes r2 from the stored offset, then the new live file from its start.
    watch = await startLogWatch(flags, sink2, { log: testLog, stateDir, registry: reg2 });
    await writeLines(150);
    const r3 = await kubeletRotate(writer, stamp(), () => writeLines(10)); // gzips r2
    await writeLines(140);
    await waitFor(`all ${seq} lines`, () => seen().length >= seq, 20_000);
    await sleep(500); // a duplicate would arrive within a few polls

    const got = seen();
    assert.is(beforeRestart, 300, 'nothing read twice before the restart');
    const sorted = [...got].sort((a, b) => a - b);
    assert.equal(
      sorted,
      Array.from({ length: seq }, (_, i) => i + 1),
      'every line exactly once',
    );
    assert.is(got.length, 800);
    // Within one file the order is the write order; across the rotation too (old inode finished first).
    assert.equal(got, sorted, 'lines arrive in write order');
    assert.is(sink1.of('TestSequence').length, 300);
    assert.is(
      sink2.of('TestSequence').length,
      500,
      'the restarted agent resumed at its offsets, it did not start over',
    );
    assert.is(await metric(reg2, 'nodewarden_agent_container_log_rotations_total'), 1);
    assert.is(await metric(reg2, 'nodewarden_agent_container_log_rotated_lost_total'), 0);
    assert.is(
      await metric(reg2, 'nodewarden_agent_container_log_rejected_lines_total'),
      0,
      '.gz siblings were never read',
    );
    // 800 lines, of which 114 are 40 KiB lines split into three fragments: merged back, none cut.
    assert.is(
      (await metric(reg1, 'nodewarden_agent_container_log_cut_lines_total')) +
        (await metric(reg2, 'nodewarden_agent_container_log_cut_lines_total')),
      0,
    );
    const files = (await fsp.readdir(path.dirname(pod.file))).sort();
    assert.equal(files, ['0.log', path.basename(`${r2}.gz`), path.basename(`${r1}.gz`), path.basename(r3)].sort());
  } finally {
    await watch.stop();
    await writer.close();
    tmp.cleanup();
  }
});

test.run();
