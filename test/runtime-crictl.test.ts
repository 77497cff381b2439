// The crictl fallback (--crictl PATH) against a fake crictl that prints real `crictl -o json` shapes
// (test/fixtures/runtime/crictl: 64-bit numbers as strings, nanosecond createdAt, RFC3339Nano in
// inspectp, enum names): what it runs, what it reads, and a hung or failing crictl.
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CrictlRuntimeReader, parseCrictlPods, parseCrictlPs } from '../agent/cri/crictl-reader.js';
import { runRuntimeLoop, runtimeConfig } from '../agent/cri/index.js';
import { RuntimePoller } from '../agent/cri/poller.js';
import { recordingDeps } from './runtime/support.js';
import { RecordingSink } from './support/sink.js';
import { sleep, waitFor } from './support/wait.js';

const FAKE = new URL('./runtime/fake-crictl.sh', import.meta.url).pathname;
const FIXTURES = new URL('./fixtures/runtime/crictl', import.meta.url).pathname;
const tmp = mkdtempSync(join(tmpdir(), 'nwrt-crictl-'));
const fixtures = join(tmp, 'fixtures');
const log = join(tmp, 'argv.log');
const STATIC_ID = '0dff41f0099489dc46fbc33c0f691382c262fc6044d547a31d6efaf60abc4768';
const WEB_ID = '39287a20d07e81af1886a583a66bceb10330c8b35679d0f8c2485f939efcdfca';
const JOB_ID = '5c3e0a9d7b1f42e68a0c9d3b2e1f4a5b6c7d8e9f0a1b2c3d4e5f60718293a4b5';

const setMode = (mode: 'normal' | 'hang' | 'refuse') => {
  process.env.FAKE_CRICTL_MODE = mode;
};
test.before.each(() => {
  rmSync(fixtures, { recursive: true, force: true });
  cpSync(FIXTURES, fixtures, { recursive: true });
  rmSync(log, { force: true });
  rmSync(`${log}.pids`, { force: true });
  Object.assign(process.env, { FAKE_CRICTL_DIR: fixtures, FAKE_CRICTL_LOG: log, FAKE_CRICTL_MODE: 'normal' });
});
test.after(() => rmSync(tmp, { recursive: true, force: true }));
const argv = () => (existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n') : []);

test('fixture shapes parse: string int64 nanoseconds, enum names, image ID vs tag', () => {
  const pods = parseCrictlPods(readFileSync(join(FIXTURES, 'pods.json'), 'utf8'));
  assert.equal(
    pods.map((p) => [p.name, p.state, p.createdNs]),
    [
      ['web-0', 'SANDBOX_READY', 1795447550938286811],
      ['kube-apiserver-node-a', 'SANDBOX_READY', 1795447550681294267],
      ['migrate-28904115-x7k2p', 'SANDBOX_NOTREADY', 1795440012345678900],
    ],
  );
  assert.is(pods[1].annotations['kubernetes.io/config.source'], 'file');
  const ps = parseCrictlPs(readFileSync(join(FIXTURES, 'ps-a.json'), 'utf8'));
  assert.equal(
    ps.map((c) => [c.name, c.attempt, c.state, c.image]),
    [
      ['app', 1, 'CONTAINER_RUNNING', 'docker.io/library/busybox:1.36'],
      ['app', 0, 'CONTAINER_EXITED', 'docker.io/library/busybox:1.36'],
      ['kube-apiserver', 0, 'CONTAINER_RUNNING', 'registry.k8s.io/kube-apiserver:v1.31.2'],
    ],
  );
});

test('a poll through crictl: the commands it runs and the snapshot it makes', async () => {
  const poller = new RuntimePoller({
    crictl: FAKE,
    endpoint: 'unix:///run/containerd/containerd.sock',
    timeoutMs: 2000,
  });
  const r = await poller.poll();
  assert.equal(argv(), [
    '--timeout=2s --runtime-endpoint=unix:///run/containerd/containerd.sock version',
    '--timeout=2s --runtime-endpoint=unix:///run/containerd/containerd.sock info -q -o json',
    '--timeout=2s --runtime-endpoint=unix:///run/containerd/containerd.sock ps -a -o json',
    '--timeout=2s --runtime-endpoint=unix:///run/containerd/containerd.sock pods -o json',
    `--timeout=2s --runtime-endpoint=unix:///run/containerd/containerd.sock inspectp -q -o json ${WEB_ID} ${STATIC_ID} ${JOB_ID}`,
  ]);
  const s = r.snapshot;
  assert.equal(
    [s.runtimeName, s.runtimeVersion, s.endpoint],
    ['containerd', '1.6.20~ds1', `crictl:${FAKE} unix:///run/containerd/containerd.sock`],
  );
  assert.equal(
    s.conditions,
    [
      {
        type: 'NetworkReady',
        status: false,
        reason: 'NetworkPluginNotReady',
        message: 'Network plugin returns error: cni plugin not initialized',
      },
      { type: 'RuntimeReady', status: true, reason: '', message: '' },
    ],
    '`crictl info` conditions, sorted by type',
  );
  const by = Object.fromEntries(s.pods!.map((p) => [p.name, p]));
  assert.equal(by['web-0'].ips, ['10.89.0.2', 'fd00:89::2'], 'IPv4 and the additional IPv6 from inspectp');
  assert.equal([by['kube-apiserver-node-a'].ips, by['kube-apiserver-node-a'].hostNetwork], [[], true]);
  assert.equal(by['kube-apiserver-node-a'].annotations, {
    'kubernetes.io/config.hash': '9d0c5e5d4c0a6e0f3b9e2c1a7f4d8b21',
    'kubernetes.io/config.seen': '2026-11-23T15:25:49.904417213Z',
    'kubernetes.io/config.source': 'file',
  });
  assert.is(by['migrate-28904115-x7k2p'].state, 'SANDBOX_NOTREADY');
  assert.equal(
    by['web-0'].containers!.map(
      (c: { name?: string | null; attempt?: number | null; state?: string | null; createdMs?: number | null }) => [
        c.name,
        c.attempt,
        c.state,
        c.createdMs,
      ],
    ),
    [
      ['app', 0, 'CONTAINER_EXITED', 1795447551091],
      ['app', 1, 'CONTAINER_RUNNING', 1795447551261],
    ],
  );
  assert.is(by['web-0'].createdMs, 1795447550938);
  // the next poll asks inspectp nothing (addresses are cached per sandbox)
  rmSync(log);
  await poller.poll();
  assert.equal(
    argv().map((l) => l.split(' ')[2]),
    ['version', 'info', 'ps', 'pods'],
  );
  poller.close();
});

test('without --runtime-endpoint crictl finds the runtime itself (crictl.yaml); a vanished sandbox does not fail the batch', async () => {
  rmSync(join(fixtures, 'inspectp', `${JOB_ID}.json`));
  const poller = new RuntimePoller({ crictl: FAKE, timeoutMs: 3000 });
  const r = await poller.poll();
  assert.ok(argv().every((l) => l.startsWith('--timeout=3s ') && !l.includes('--runtime-endpoint')));
  assert.equal(
    argv()
      .filter((l) => l.includes('inspectp'))
      .map((l) => l.split(' ').length - 5),
    [3, 1, 1, 1],
    'the batch, then one by one',
  );
  const by = Object.fromEntries(r.snapshot.pods!.map((p) => [p.name, p]));
  assert.equal(by['web-0'].ips, ['10.89.0.2', 'fd00:89::2']);
  assert.equal(by['migrate-28904115-x7k2p'].ips, []);
  poller.close();
});

test('the loop with crictl: snapshot, no resend while unchanged, a restart (attempt 2) is sent', async () => {
  const sink = new RecordingSink();
  const { snapshots, deps } = recordingDeps();
  const loop = runRuntimeLoop(
    runtimeConfig({ crictl: FAKE, 'runtime-poll': '150ms', 'runtime-full-every': '1h' }),
    sink,
    deps,
  );
  try {
    await waitFor('first snapshot', () => snapshots.length === 1, 5000);
    assert.equal(
      sink.statuses.map((s) => [s.ok, s.detail]),
      [[true, `containerd 1.6.20~ds1 via crictl:${FAKE}`]],
    );
    await sleep(500);
    assert.is(snapshots.length, 1);
    // the kubelet re-creates app as attempt 2
    const ps = JSON.parse(readFileSync(join(fixtures, 'ps-a.json'), 'utf8'));
    ps.containers.unshift({
      ...ps.containers[0],
      id: 'a'.repeat(64),
      metadata: { name: 'app', attempt: 2 },
      createdAt: '1795447612000000000',
    });
    ps.containers[1].state = 'CONTAINER_EXITED';
    writeFileSync(join(fixtures, 'ps-a.json'), JSON.stringify(ps, null, 2));
    await waitFor('change snapshot', () => snapshots.length === 2, 5000);
    const web = snapshots[1].snapshot.pods!.find((p) => p.name === 'web-0')!;
    assert.equal(
      web.containers!.map((c) => c.attempt),
      [0, 1, 2],
    );
    assert.is(snapshots[1].snapshot.full, false);
  } finally {
    await loop.stop();
  }
});

test('a hung crictl is killed with its children at the time box; reported once', async () => {
  setMode('hang');
  const sink = new RecordingSink();
  const { snapshots, deps } = recordingDeps();
  const t0 = Date.now();
  const loop = runRuntimeLoop(
    runtimeConfig({ crictl: FAKE, 'runtime-poll': '100ms', 'runtime-timeout': '500ms' }),
    sink,
    deps,
  );
  try {
    await waitFor('status', () => sink.statuses.length === 1, 5000);
    const took = Date.now() - t0;
    assert.ok(took >= 1400 && took < 2500, `killed after ${took} ms (box: timeout + 1 s)`);
    assert.match(sink.statuses[0].detail, /version: no answer within 1500 ms \(killed\)/);
    await sleep(1800);
    assert.is(sink.statuses.length, 1, 'once, although every poll hangs');
    assert.is(snapshots.length, 0);
  } finally {
    const t1 = Date.now();
    await loop.stop();
    assert.ok(Date.now() - t1 < 300, 'stop kills the crictl in flight');
  }
  await sleep(100);
  const pids = readFileSync(`${log}.pids`, 'utf8').trim().split('\n').map(Number);
  assert.ok(pids.length >= 2);
  for (const pid of pids)
    assert.not.ok(
      existsSync(`/proc/${pid}`) && !readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z '),
      `the fake's child ${pid} was killed`,
    );
});

test("crictl failing (runtime down): one status with crictl's reason, no timestamps in it", async () => {
  setMode('refuse');
  const sink = new RecordingSink();
  const { deps } = recordingDeps();
  const loop = runRuntimeLoop(runtimeConfig({ crictl: FAKE, 'runtime-poll': '100ms' }), sink, deps);
  await sleep(800);
  await loop.stop();
  assert.is(sink.statuses.length, 1);
  assert.is(sink.statuses[0].ok, false);
  assert.match(
    sink.statuses[0].detail,
    /fake-crictl.sh version failed: ….*dial unix \/run\/containerd\/containerd.sock: connect: connection refused$/,
  );
  assert.not.match(sink.statuses[0].detail, /time=/);
  // crictl missing altogether
  const r = new CrictlRuntimeReader({ crictl: join(tmp, 'no-such-crictl'), timeoutMs: 1000 });
  await r.version().then(
    () => assert.unreachable(),
    (e: Error & { reason: string }) => {
      assert.is(e.reason, 'absent');
      assert.match(e.message, /no-such-crictl: command not found/);
    },
  );
});

test.run();
