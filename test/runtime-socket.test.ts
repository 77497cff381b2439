// The agent's runtime poller against sockets that are not a healthy runtime: absent, refusing (a
// stale socket file), hung (accepts and never answers). Each is one status line, never an alarm,
// never a crash, never a blocked agent. Then a runtime that appears, changes, goes and comes back
// (an in-process CRI server): one snapshot per change, a full one periodically, status on transitions.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runRuntimeLoop, runtimeConfig, startRuntime } from '../agent/cri/index.js';
import { openReader } from '../agent/cri/poller.js';
import { GrpcRuntimeReader } from '../agent/cri/grpc-reader.js';
import { FakeCri } from './runtime/fake-cri.js';
import { recordingDeps } from './runtime/support.js';
import { RecordingSink } from './support/sink.js';
import { sleep, waitFor } from './support/wait.js';

const dir = mkdtempSync(join(tmpdir(), 'nwrt-sock-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

/** Largest delay of a 10 ms interval timer while fn runs: proves nothing blocks the event loop. */
async function maxTimerLag<T>(fn: () => Promise<T>): Promise<{ value: T; lagMs: number }> {
  let last = Date.now(),
    lag = 0;
  const t = setInterval(() => {
    const n = Date.now();
    lag = Math.max(lag, n - last - 10);
    last = n;
  }, 10);
  try {
    const value = await fn();
    return { value, lagMs: lag };
  } finally {
    clearInterval(t);
  }
}

test('absent socket: one status line over many polls, no snapshot, the Detector starts and stops at once', async () => {
  const sink = new RecordingSink();
  const { snapshots, deps } = recordingDeps();
  const detector = startRuntime({
    'runtime-endpoint': `unix://${dir}/absent.sock`,
    'runtime-poll': '100ms',
    'runtime-full-every': '1s',
  });
  const { value: running, lagMs } = await maxTimerLag(async () => {
    const t0 = Date.now();
    const d = await detector(sink, deps);
    assert.ok(Date.now() - t0 < 100, 'the Detector does not wait for the runtime');
    await sleep(1200);
    return d;
  });
  const t1 = Date.now();
  await running.stop();
  assert.ok(Date.now() - t1 < 200, 'stop is immediate');
  assert.equal(
    sink.statuses.map((s) => [s.name, s.ok]),
    [['runtime', false]],
    'reported once, as status',
  );
  assert.match(
    sink.statuses[0].detail,
    new RegExp(`no runtime socket at ${dir}/absent.sock \\(from --runtime-endpoint\\)`),
  );
  assert.is(sink.findings.length, 0, 'never an alarm');
  assert.is(snapshots.length, 0);
  assert.ok(lagMs < 100, `event loop lag ${lagMs} ms`);
});

test('refusing socket (stale file, runtime dead): one status line', async () => {
  const path = join(dir, 'stale.sock');
  // bind without listen, then exit: the file stays, connects get ECONNREFUSED
  execFileSync('python3', ['-c', `import socket; s=socket.socket(socket.AF_UNIX); s.bind(${JSON.stringify(path)})`]);
  const sink = new RecordingSink();
  const { snapshots, deps } = recordingDeps();
  const loop = runRuntimeLoop(
    runtimeConfig({ 'runtime-endpoint': `unix://${path}`, 'runtime-poll': '100ms', 'runtime-timeout': '500ms' }),
    sink,
    deps,
  );
  await sleep(1200);
  await loop.stop();
  assert.equal(
    sink.statuses.map((s) => s.ok),
    [false],
  );
  assert.match(sink.statuses[0].detail, /connection refused/);
  assert.is(snapshots.length, 0);
});

test('hung socket (accepts, never answers): every call ends at its deadline, reported once, stop cancels a call in flight', async () => {
  const path = join(dir, 'hung.sock');
  const held: Socket[] = [];
  const server = createServer((s) => {
    held.push(s);
    s.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(path, r));
  try {
    const sink = new RecordingSink();
    const { snapshots, deps } = recordingDeps();
    const { value: loop, lagMs } = await maxTimerLag(async () => {
      const l = runRuntimeLoop(
        runtimeConfig({ 'runtime-endpoint': `unix://${path}`, 'runtime-poll': '100ms', 'runtime-timeout': '300ms' }),
        sink,
        deps,
      );
      await waitFor('the first status', () => sink.statuses.length > 0, 3000);
      const t0 = Date.now();
      assert.ok(sink.statusAt[0] - t0 < 400);
      // several more timed-out polls
      await sleep(1500);
      return l;
    });
    assert.ok(held.length >= 1, 'the agent did connect');
    assert.equal(
      sink.statuses.map((s) => s.ok),
      [false],
      `one status over ~5 polls: ${JSON.stringify(sink.statuses)}`,
    );
    assert.match(sink.statuses[0].detail, /Version got no answer within 300 ms \(runtime hung or not a CRI socket\)/);
    assert.is(snapshots.length, 0);
    assert.ok(lagMs < 100, `event loop lag ${lagMs} ms`);
    // polls run one after another: at most one poll (one call) in flight, each ended by its deadline
    const polls = await deps.registry.getSingleMetric('nodewarden_agent_runtime_poll_seconds')!.get();
    const vals = polls.values as { metricName?: string; value: number }[];
    const count = vals.find((v) => v.metricName?.endsWith('_count'))!.value;
    const sum = vals.find((v) => v.metricName?.endsWith('_sum'))!.value;
    assert.ok(count >= 3 && sum / count < 0.45, `${count} polls, mean ${(sum / count).toFixed(3)} s (deadline 0.3 s)`);
    // stop in the middle of a hung call: cancelled, not waited for
    await sleep(150);
    const t1 = Date.now();
    await loop.stop();
    assert.ok(Date.now() - t1 < 150, `stop took ${Date.now() - t1} ms`);
  } finally {
    for (const s of held) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  }
});

test('reader choice: crictl when configured, else the flag, else the first well-known socket that exists', () => {
  const noYaml = { env: {}, readFile: () => undefined };
  const r1 = openReader({ timeoutMs: 1000, endpointEnv: noYaml, exists: (ep) => ep === 'unix:///run/crio/crio.sock' });
  assert.ok(r1 instanceof GrpcRuntimeReader);
  assert.is(r1.endpoint, 'unix:///run/crio/crio.sock');
  r1.close();
  assert.throws(
    () => openReader({ timeoutMs: 1000, endpointEnv: noYaml, exists: () => false }),
    /no container runtime socket found \(tried \/run\/containerd\/containerd\.sock, \/run\/crio\/crio\.sock, \/var\/run\/cri-dockerd\.sock; set --runtime-endpoint\)/,
  );
  const r2 = openReader({ timeoutMs: 1000, crictl: '/usr/local/bin/crictl', endpoint: 'unix:///x.sock' });
  assert.is(r2.endpoint, 'crictl:/usr/local/bin/crictl unix:///x.sock');
});

test('a runtime that appears, changes, goes away and comes back: status on transitions, snapshots on change and periodically', async () => {
  const path = join(dir, 'fake.sock');
  const sink = new RecordingSink();
  const { snapshots, deps } = recordingDeps();
  const loop = runRuntimeLoop(
    runtimeConfig({
      'runtime-endpoint': `unix://${path}`,
      'runtime-poll': '100ms',
      'runtime-full-every': '1500ms',
      'runtime-timeout': '500ms',
    }),
    sink,
    deps,
  );
  let fake: FakeCri | undefined;
  try {
    await waitFor('absent status', () => sink.statuses.length === 1, 2000);
    fake = await FakeCri.start(path);
    fake.pods = FakeCri.pods(3);
    fake.pods[0].hostNetwork = true;
    await waitFor(
      'the first snapshot',
      () => snapshots.length === 1,
      3000,
      undefined,
      () => sink.statuses,
    );
    assert.equal(
      sink.statuses.map((s) => s.ok),
      [false, true],
    );
    assert.match(sink.statuses[1].detail, new RegExp(`^fakecri 1\\.0\\.0 via unix://${path}$`));
    const first = snapshots[0].snapshot;
    assert.is(first.full, true);
    assert.is(first.pods!.length, 3);
    assert.equal(first.pods!.find((p) => p.name === 'app-1')!.ips, ['10.244.0.3']);
    assert.is(first.pods!.find((p) => p.name === 'app-0')!.hostNetwork, true);
    // unchanged polls: nothing sent, and sandboxes are inspected only once
    const calls0 = { ...fake.calls };
    await sleep(600);
    assert.is(snapshots.length, 1, 'no snapshot while nothing changes');
    assert.ok(fake.calls.ListPodSandbox - calls0.ListPodSandbox >= 3, 'but it keeps polling');
    assert.is(fake.calls.PodSandboxStatus, 3, 'PodSandboxStatus only for new sandboxes');
    // a restart (new attempt) is a change
    fake.pods[1].containers.push({ id: 'e'.repeat(64), name: 'main', attempt: 1, running: true });
    fake.pods[1].containers[0].running = false;
    await waitFor('a change snapshot', () => snapshots.length === 2, 2000);
    assert.is(snapshots[1].snapshot.full, false);
    assert.equal(
      snapshots[1].snapshot.pods!.find((p) => p.name === 'app-1')!.containers!.map((c) => [c.attempt, c.state]),
      [
        [0, 'CONTAINER_EXITED'],
        [1, 'CONTAINER_RUNNING'],
      ],
    );
    // a new pod: one more PodSandboxStatus
    fake.pods.push(...FakeCri.pods(4).slice(3));
    await waitFor('the new pod', () => snapshots.length === 3, 2000);
    assert.is(fake.calls.PodSandboxStatus, 4);
    // nothing changes: a periodic full one ~1.5 s after the last send
    await waitFor('a periodic full snapshot', () => snapshots.length === 4, 3000);
    assert.is(snapshots[3].snapshot.full, true);
    assert.ok(
      snapshots[3].atMs - snapshots[2].atMs >= 1400,
      `full resend after ${snapshots[3].atMs - snapshots[2].atMs} ms`,
    );
    // the runtime goes away (socket removed) and comes back
    fake.stop();
    fake = undefined;
    rmSync(path, { force: true });
    await waitFor('status: runtime gone', () => sink.statuses.length === 3, 3000);
    assert.is(sink.statuses[2].ok, false);
    await sleep(400);
    assert.is(sink.statuses.length, 3, 'still once');
    fake = await FakeCri.start(path);
    fake.pods = FakeCri.pods(4);
    await waitFor('status: back', () => sink.statuses.length === 4, 3000);
    assert.is(sink.statuses[3].ok, true);
    assert.is(sink.findings.length, 0);
  } finally {
    await loop.stop();
    fake?.stop();
  }
});

test.run();
