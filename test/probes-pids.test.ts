// Real pids cgroups (cgroup v1 `pids` controller) laid out like kubelet's: a bounded fork loop in a pod
// with a small pids.max -> PodPIDsExhausted for that pod uid, with the kernel's own line as evidence;
// many tasks in another pod under a lowered node threshold -> PIDPressure naming it, then cleared.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startProbes } from '../agent/probes/index.js';
import { PREFIX, isRoot, sh } from './probes/support.js';
import { RecordingSink } from './support/sink.js';
import { sleep, waitFor } from './support/wait.js';
import { testLog } from './support/log.js';

const PIDS_V1 = '/sys/fs/cgroup/pids';
const INTERVAL = 300;
const UID_A = `0a0a0a0a-${process.pid.toString(16).padStart(4, '0').slice(-4)}-4a4a-8a8a-0a0a0a0a0a0a`;
const UID_B = `0b0b0b0b-${process.pid.toString(16).padStart(4, '0').slice(-4)}-4b4b-8b8b-0b0b0b0b0b0b`;
const SLEEPERS = 600;

if (!isRoot || !existsSync(join(PIDS_V1, 'cgroup.procs')))
  throw new Error(
    `probes-pids needs root and a cgroup v1 pids hierarchy at ${PIDS_V1}: run npm test as root (CI does)`,
  );
const root = join(PIDS_V1, PREFIX); // the test's --cgroup-root: kubepods trees go right under it
const podA = join(root, 'kubepods', 'burstable', `pod${UID_A}`); // cgroupfs driver layout
const podB = join(
  root,
  'kubepods.slice',
  'kubepods-besteffort.slice',
  `kubepods-besteffort-pod${UID_B.replace(/-/g, '_')}.slice`,
); // systemd driver layout
const children: ChildProcess[] = [];
const sink = new RecordingSink();
let probes: ReturnType<typeof startProbes> | undefined;

const procsIn = (dir: string) =>
  readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);
const current = (dir: string) => Number(readFileSync(join(dir, 'pids.current'), 'utf8'));

/** Kills every process in one of our cgroups (all started by this test) and waits until it is empty. */
async function empty(dir: string) {
  for (let i = 0; i < 50 && existsSync(dir) && current(dir) > 0; i++) {
    for (const pid of procsIn(dir)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone already
      }
    }
    await sleep(50);
  }
}

function removeTree(dir: string) {
  if (!existsSync(dir)) return;
  for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) removeTree(join(dir, e.name));
  rmdirSync(dir);
}

/** A process started inside a cgroup: it writes its own pid to cgroup.procs first. */
function startIn(dir: string, script: string): ChildProcess {
  const c = spawn('bash', ['-c', `echo $$ > ${join(dir, 'cgroup.procs')} && ${script}`], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(c);
  return c;
}

test.before(() => {
  mkdirSync(podA, { recursive: true });
  mkdirSync(podB, { recursive: true });
  writeFileSync(join(podA, 'pids.max'), '8');
  writeFileSync(join(podB, 'pids.max'), String(SLEEPERS + 100));
});

test.after(async () => {
  await probes?.stop();
  await empty(podA);
  await empty(podB);
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  removeTree(root);
});

// The node threshold sits 300 tasks above what the machine runs now; the test adds 600.
const loadTasks = () => Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[3].split('/')[1]);
const limit = Math.min(
  Number(readFileSync('/proc/sys/kernel/pid_max', 'utf8')),
  Number(readFileSync('/proc/sys/kernel/threads-max', 'utf8')),
);
const pressurePercent = (((loadTasks() + SLEEPERS / 2) / limit) * 100).toFixed(3);

test('probes start against the test cgroup root', async () => {
  probes = startProbes(
    {
      probes: ['pids', 'pod-pids'],
      'cgroup-root': root,
      'probe-interval': `${INTERVAL}ms`,
      'finding-refresh': `${INTERVAL}ms`,
      'pid-pressure-percent': pressurePercent,
      'pod-pids-percent': '90',
    },
    sink,
    { log: testLog, registry: new Registry() },
  );
  await waitFor(
    'both statuses',
    () => (sink.statuses.length === 2 ? true : undefined),
    5000,
    undefined,
    () => sink.statuses,
  );
  assert.ok(
    sink.statuses.every((s) => s.ok),
    JSON.stringify(sink.statuses),
  );
  assert.is(sink.find('PodPIDsExhausted', true), undefined, 'idle pods are not exhausted');
});

test('a fork loop at pids.max -> PodPIDsExhausted for that pod, kernel line as evidence, cleared when it ends', async () => {
  // bounded: 20 forks of 30 s sleepers in a pod allowed 8 tasks; python sees EAGAIN, no retry loop
  const bomb = startIn(
    podA,
    `exec python3 -c '
import os, time
ok = failed = 0
for _ in range(20):
  try:
      pid = os.fork()
  except BlockingIOError:
      failed += 1
      continue
  if pid == 0:
      time.sleep(30); os._exit(0)
  ok += 1
print(ok, failed, flush=True)
time.sleep(30)'`,
  );
  let out = '';
  bomb.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  await waitFor('fork loop done', () => (out.includes('\n') ? true : undefined), 5000);
  assert.equal(out.trim().split(' ').map(Number), [7, 13], 'the kernel refused forks beyond pids.max');

  const raised = await waitFor(
    'PodPIDsExhausted',
    () => sink.find('PodPIDsExhausted', true),
    3000,
    undefined,
    () => sink.findings,
  );
  assert.equal(raised.pod, { uid: UID_A });
  assert.is(raised.key, UID_A);
  assert.is(raised.evidence['pids.current'], '8');
  assert.is(raised.evidence['pids.max'], '8');
  // the first poll may land mid-loop, before all 13 refusals
  const refused = Number(/^(\d+) forks rejected/.exec(raised.evidence['pids.events max'])?.[1]);
  assert.ok(refused >= 1 && refused <= 13, raised.evidence['pids.events max']);
  assert.is(raised.evidence.cgroup, `kubepods/burstable/pod${UID_A}`);
  assert.match(raised.evidence.topPods, new RegExp(`^${UID_A} 8/8`));
  assert.match(raised.message, new RegExp(`pod ${UID_A} uses 8 of its 8 PIDs`));

  // The journal source hands kernel lines to the consumer; here the kernel's line comes from dmesg.
  const line = sh(['dmesg'])
    .split('\n')
    .map((l) => l.replace(/^\[[^\]]*\]\s*/, ''))
    .find((l) => l.includes(`/${PREFIX}/kubepods/burstable/pod${UID_A}`));
  assert.ok(line, 'the kernel logged the rejected fork');
  const consumer = probes!.journalConsumers.find((c) => c.literals.some((lit) => line!.includes(lit)));
  assert.ok(consumer, 'a journal consumer takes the fork-rejected line');
  consumer!.onEntry({ message: line! });
  const withLine = await waitFor(
    'report with kernel evidence',
    () => sink.findings.find((f) => f.kind === 'PodPIDsExhausted' && f.active && f.evidence.kernel === line),
    3000,
  );
  assert.equal(withLine.pod, { uid: UID_A });

  const from = sink.findings.length;
  await empty(podA);
  const cleared = await waitFor(
    'PodPIDsExhausted cleared',
    () => sink.find('PodPIDsExhausted', false, from),
    3000,
    undefined,
    () => sink.findings,
  );
  assert.equal(cleared.pod, { uid: UID_A });
  assert.ok(
    Number(cleared.evidence['pids.current']) < 8 * 0.9,
    `cleared below 90% of pids.max: ${cleared.evidence['pids.current']}`,
  );
});

test('lowered threshold: many tasks -> PIDPressure naming the pod that holds them; cleared when they exit', async () => {
  const from = sink.findings.length;
  startIn(podB, `for i in $(seq ${SLEEPERS}); do sleep 60 & done; wait`);
  await waitFor(
    `${SLEEPERS} sleepers`,
    () => (current(podB) >= SLEEPERS ? true : undefined),
    10_000,
    undefined,
    () => current(podB),
  );
  const raised = await waitFor(
    'PIDPressure',
    () => sink.find('PIDPressure', true, from),
    3000,
    undefined,
    () => sink.findings,
  );
  assert.is(raised.severity, 'critical');
  assert.is(raised.evidence.threshold, `${Number(pressurePercent)}%`);
  // raised as soon as the sleepers pushed the node over: pod B holds at least the 300 extra tasks
  const top = new RegExp(`^${UID_B} (\\d+)/${SLEEPERS + 100}`).exec(raised.evidence.topPods);
  assert.ok(top && Number(top[1]) >= SLEEPERS / 2 - 50, raised.evidence.topPods);
  assert.ok(
    (Number(raised.evidence.tasks.split(' ')[0]) / limit) * 100 >= Number(pressurePercent),
    raised.evidence.tasks,
  );
  assert.is(sink.find('PodPIDsExhausted', true, from), undefined, `${SLEEPERS + 1} of ${SLEEPERS + 100} is below 90%`);

  await empty(podB);
  const cleared = await waitFor(
    'PIDPressure cleared',
    () => sink.find('PIDPressure', false, from),
    3000,
    undefined,
    () => sink.findings,
  );
  assert.match(cleared.message, /below/);
});

test.run();
