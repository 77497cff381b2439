// Where reading starts: files present at the first start from their end (or the configured lookback),
// files that appear later from their start, resume at saved offsets after a restart (also for files
// that appeared while the agent was down), truncation in place, and a removed container.
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startLogWatch } from '../agent/logs/index.js';
import { criLines, metric, newRegistry, podLog, RuntimeWriter, tempDir, watchFlags } from './logs/helpers.js';
import { RecordingSink } from './support/sink.js';
import { testLog } from './support/log.js';
import { sleep, waitFor } from './support/wait.js';

const WEBHOOK = (name: string) => `failed calling webhook "${name}": failed to call webhook: context deadline exceeded`;
const NOSPACE = 'Error: etcdserver: mvcc: database space exceeded';

/** A file with `n` lines from `minutesAgo`, the last of them a signature line. */
async function history(w: RuntimeWriter, minutesAgo: number, n: number, last: string): Promise<void> {
  const at = new Date(Date.now() - minutesAgo * 60_000);
  let s = '';
  for (let i = 0; i < n - 1; i++) s += criLines('stdout', `I0822 reconcile ${i} done in 12ms`, 16384, at);
  s += criLines('stderr', last, 16384, at);
  await w.write(s);
}

test('first start: present files from their end; files appearing later from their start', async () => {
  const tmp = tempDir('start-end');
  const old = await podLog(tmp.dir, { namespace: 'a', pod: 'old-0', container: 'c' });
  const w = new RuntimeWriter(old.file);
  await history(w, 30, 50, WEBHOOK('old.example.com'));
  const sink = new RecordingSink();
  const registry = newRegistry();
  const watch = await startLogWatch(watchFlags(tmp.dir), sink, {
    log: testLog,
    stateDir: path.join(tmp.dir, 'state'),
    registry,
  });
  try {
    await sleep(300);
    assert.is(sink.findings.length, 0, 'nothing from before the first start');
    await w.line('stderr', WEBHOOK('new.example.com'));
    const f = await waitFor('the appended line', () => sink.of('WebhookCallFailed')[0], 5000);
    assert.match(f.message, /"new.example.com"/);

    // A container started after us: its file is read from the first line.
    const fresh = await podLog(tmp.dir, { namespace: 'a', pod: 'fresh-0', container: 'c', link: false });
    const fw = new RuntimeWriter(fresh.file);
    await fw.line('stderr', NOSPACE);
    await fw.line('stdout', 'I0822 after');
    await fsp.symlink(fresh.file, fresh.link);
    const g = await waitFor('the new file', () => sink.of('EtcdNoSpace')[0], 5000);
    assert.equal(g.pod, { namespace: 'a', name: 'fresh-0', uid: fresh.uid, container: 'c' });
    assert.is(await metric(registry, 'nodewarden_agent_container_log_files'), 2);
    assert.is(await metric(registry, 'nodewarden_agent_container_log_lines_total'), 3);

    // The container is removed (kubelet deletes the symlink): the file is no longer followed.
    await fsp.rm(fresh.link);
    await waitFor(
      'the removed file to be dropped',
      async () => (await metric(registry, 'nodewarden_agent_container_log_files')) === 1,
      5000,
    );
    await w.close();
    await fw.close();
  } finally {
    await watch.stop();
    tmp.cleanup();
  }
});

test('first start with --log-lookback 10m: recent lines are read, older ones are not', async () => {
  const tmp = tempDir('start-lookback');
  const pod = await podLog(tmp.dir, { namespace: 'a', pod: 'p-0', container: 'c' });
  const w = new RuntimeWriter(pod.file);
  // ~300 kB an hour old (with a signature that must NOT be read), then 20 lines from 2 minutes ago.
  await history(w, 60, 3000, WEBHOOK('too-old.example.com'));
  await history(w, 2, 20, WEBHOOK('recent.example.com'));
  const sink = new RecordingSink();
  const registry = newRegistry();
  const watch = await startLogWatch(watchFlags(tmp.dir, { 'log-lookback': '10m' }), sink, {
    log: testLog,
    stateDir: path.join(tmp.dir, 'state'),
    registry,
  });
  try {
    const f = await waitFor('the recent line', () => sink.of('WebhookCallFailed')[0], 5000);
    assert.match(f.message, /"recent.example.com"/);
    await sleep(200);
    assert.is(sink.findings.length, 1);
    assert.is(
      await metric(registry, 'nodewarden_agent_container_log_lines_total'),
      20,
      'exactly the lines of the last 10 minutes',
    );
    assert.ok(
      (await metric(registry, 'nodewarden_agent_container_log_bytes_total')) < 100_000,
      'the hour-old part was skipped, not read',
    );
    await w.close();
  } finally {
    await watch.stop();
    tmp.cleanup();
  }
});

test('restart: resume at saved offsets; a file created while down is read from its start; truncation', async () => {
  const tmp = tempDir('restart');
  const stateDir = path.join(tmp.dir, 'state');
  const a = await podLog(tmp.dir, { namespace: 'a', pod: 'a-0', container: 'c' });
  const aw = new RuntimeWriter(a.file);
  let sink = new RecordingSink();
  let registry = newRegistry();
  let watch = await startLogWatch(watchFlags(tmp.dir), sink, { log: testLog, stateDir, registry });
  try {
    await aw.line('stdout', 'I0822 one');
    await waitFor(
      'one line',
      async () => (await metric(registry, 'nodewarden_agent_container_log_lines_total')) === 1,
      5000,
    );
    await watch.stop();
    const saved = JSON.parse(await fsp.readFile(path.join(stateDir, 'container-log-offsets.json'), 'utf8')) as {
      files: { link: string; offset: number; ino: number }[];
    };
    assert.equal(
      saved.files.map((f) => [f.link, f.offset, f.ino]),
      [[a.link, (await fsp.stat(a.file)).size, (await fsp.stat(a.file)).ino]],
    );

    // While down: a signature in the followed file and a whole new container.
    await aw.line('stderr', WEBHOOK('while-down.example.com'));
    const b = await podLog(tmp.dir, { namespace: 'b', pod: 'b-0', container: 'c' });
    const bw = new RuntimeWriter(b.file);
    await bw.line('stderr', NOSPACE);

    sink = new RecordingSink();
    registry = newRegistry();
    watch = await startLogWatch(watchFlags(tmp.dir), sink, { log: testLog, stateDir, registry });
    await waitFor(
      'both findings',
      () => sink.of('WebhookCallFailed').length === 1 && sink.of('EtcdNoSpace').length === 1,
      5000,
    );
    assert.is(
      await metric(registry, 'nodewarden_agent_container_log_lines_total'),
      2,
      'only what was written while down; "one" not again',
    );

    // copytruncate-style truncation: start over at 0.
    await aw.close();
    await fsp.truncate(a.file, 0);
    await aw.line('stdout', `I0822 status=429 from upstream`);
    const t = await waitFor('a line after truncation', () => sink.of('APIServerThrottling')[0], 5000);
    assert.is(t.pod?.uid, a.uid);
    assert.is(await metric(registry, 'nodewarden_agent_container_log_truncations_total'), 1);
    await aw.close();
    await bw.close();
  } finally {
    await watch.stop();
    tmp.cleanup();
  }
});

test('a container log dir that is missing at start is reported, then followed once it appears', async () => {
  const tmp = tempDir('start-missing');
  const sink = new RecordingSink();
  const watch = await startLogWatch(watchFlags(tmp.dir), sink, {
    log: testLog,
    stateDir: path.join(tmp.dir, 'state'),
    registry: newRegistry(),
  });
  try {
    assert.equal(sink.statuses, [
      { name: 'container-logs', ok: false, detail: `cannot read ${path.join(tmp.dir, 'containers')}: ENOENT` },
    ]);
    const p = await podLog(tmp.dir, { namespace: 'a', pod: 'late-0', container: 'c' });
    const w = new RuntimeWriter(p.file);
    await w.line('stderr', NOSPACE);
    const f = await waitFor('the finding', () => sink.of('EtcdNoSpace')[0], 5000);
    assert.is(f.pod?.uid, p.uid);
    assert.equal(sink.statuses[1], {
      name: 'container-logs',
      ok: true,
      detail: `following container logs in ${path.join(tmp.dir, 'containers')}`,
    });
    await w.close();
  } finally {
    await watch.stop();
    tmp.cleanup();
  }
});

test.run();
