// Probe framework: raise/clear state machine, time boxes (a hung iptables-save is killed and never
// blocks other probes), "cannot run here" reported once, and recovery.
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { FindingReport } from '../agent/findings.js';
import { startProbe, type Probe } from '../agent/probes/framework.js';
import { startProbes } from '../agent/probes/index.js';
import { iptablesProbe } from '../agent/probes/iptables.js';
import { FindingTracker } from '../agent/probes/tracker.js';
import { RecordingSink } from './support/sink.js';
import { sleep, waitFor } from './support/wait.js';
import { testLog } from './support/log.js';

const tmp = mkdtempSync(join(tmpdir(), 'nwp-framework-'));
test.after(() => rmSync(tmp, { recursive: true, force: true }));

const f = (active: boolean, value: string, key?: string): FindingReport => ({
  kind: 'IPForwardingDisabled',
  severity: 'critical',
  active,
  message: `ip_forward is ${value}`,
  evidence: { 'net.ipv4.ip_forward': value },
  ...(key ? { key } : {}),
});

test('tracker: raise once, refresh only changed evidence, clear once, absence clears', () => {
  const sink = new RecordingSink();
  const t = new FindingTracker(sink, { clearAfter: 1, refreshMs: 1000 });
  t.update([f(false, '1')], 0);
  assert.is(sink.findings.length, 0, 'nothing to say while all is well');
  t.update([f(true, '0')], 100);
  t.update([f(true, '0')], 200);
  assert.equal(
    sink.findings.map((x) => x.active),
    [true],
    'raised once',
  );
  t.update([{ ...f(true, '0'), evidence: { 'net.ipv4.ip_forward': '0', extra: 'more' } }], 500);
  assert.is(sink.findings.length, 1, 'changed evidence waits for the refresh interval');
  t.update([{ ...f(true, '0'), evidence: { 'net.ipv4.ip_forward': '0', extra: 'more' } }], 1200);
  assert.is(sink.findings.length, 2, 'changed evidence is re-sent after the refresh interval');
  t.update([f(false, '1')], 1300);
  t.update([f(false, '1')], 1400);
  assert.equal(
    sink.findings.map((x) => [x.active, x.evidence['net.ipv4.ip_forward']]),
    [
      [true, '0'],
      [true, '0'],
      [false, '1'],
    ],
  );

  // keyed findings: the one that disappears (pod gone) is cleared with its last evidence
  t.update([f(true, '0', 'a'), f(true, '0', 'b')], 2000);
  t.update([f(true, '0', 'a')], 2100);
  const cleared = sink.findings[sink.findings.length - 1];
  assert.equal(
    [cleared.key, cleared.active, cleared.evidence.cleared],
    ['b', false, 'the condition is no longer observed'],
  );
  assert.match(cleared.message, /^no longer observed \(was: ip_forward is 0\)$/);
});

test('tracker: clearAfter damps one quiet observation', () => {
  const sink = new RecordingSink();
  const t = new FindingTracker(sink, { clearAfter: 2, refreshMs: 60_000 });
  t.update([f(true, '0')], 0);
  t.update([f(false, '1')], 1);
  t.update([f(true, '0')], 2);
  t.update([f(false, '1')], 3);
  assert.is(sink.findings.length, 1, 'one quiet poll between two active ones neither clears nor re-raises');
  t.update([f(false, '1')], 4);
  assert.equal(
    sink.findings.map((x) => x.active),
    [true, false],
  );
});

test('a hung iptables-save is killed at the time box, reported once, and never blocks other probes', async () => {
  const script = join(tmp, 'iptables-save');
  const pidFile = join(tmp, 'sleep.pids');
  // Like a wedged iptables lock: never prints, never exits; its child must die with it.
  writeFileSync(script, `#!/bin/sh\nsleep 30 &\necho $! >> ${pidFile}\nwait\n`);
  chmodSync(script, 0o755);
  const sink = new RecordingSink();
  let ticks = 0;
  const counter: Probe = { name: 'counter', intervalMs: 50, tick: async () => (ticks++, []) };
  const hung = startProbe(
    iptablesProbe({ intervalMs: 100, commands: [script], dropRatePerSec: 1, registry: new Registry() }),
    sink,
    { timeoutMs: 300, refreshMs: 60_000, log: testLog },
  );
  const other = startProbe(counter, sink, { timeoutMs: 300, refreshMs: 60_000, log: testLog });
  const start = Date.now();
  try {
    await waitFor(
      'iptables status false',
      () => sink.statuses.find((s) => s.name === 'iptables'),
      3000,
      undefined,
      () => sink.statuses,
    );
    const first = Date.now() - start;
    await waitFor(
      'three hung polls',
      () => (existsSync(pidFile) && readFileSync(pidFile, 'utf8').trim().split('\n').length >= 3 ? true : undefined),
      5000,
    );
    await sleep(400); // let the third poll reach its time box
    const iptables = sink.statuses.filter((s) => s.name === 'iptables');
    assert.equal(
      iptables.map((s) => s.ok),
      [false],
      'reported once, not on every poll',
    );
    assert.match(iptables[0].detail, /timed out after 300 ms/);
    assert.ok(first < 1500, `first time box hit after ${first} ms`);
    const elapsed = Date.now() - start;
    assert.ok(ticks >= elapsed / 50 / 2, `other probe kept running: ${ticks} ticks in ${elapsed} ms`);
    assert.is(sink.findings.length, 0, 'a probe that cannot run raises no findings');
  } finally {
    const t0 = Date.now();
    await Promise.all([hung.stop(), other.stop()]);
    assert.ok(Date.now() - t0 < 1000, 'stop() does not wait for the hung command');
  }
  // every sleeping grandchild was killed with the script's process group
  const pids = readFileSync(pidFile, 'utf8').trim().split('\n').map(Number);
  await waitFor(
    'sleepers gone',
    () => (pids.every((p) => !alive(p)) ? true : undefined),
    2000,
    undefined,
    () => pids.filter(alive),
  );
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return !readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z ');
  } catch {
    return false;
  }
}

test('missing command and missing cgroup tree: status false once, then recovery once', async () => {
  const root = join(tmp, 'cgroup');
  mkdirSync(root);
  const sink = new RecordingSink();
  const running = startProbes(
    {
      probes: ['iptables', 'pod-pids'],
      'iptables-save': ['/nonexistent/iptables-save'],
      'iptables-interval': '50ms',
      'probe-interval': '50ms',
      'cgroup-root': root,
    },
    sink,
    { log: testLog, registry: new Registry() },
  );
  try {
    await waitFor(
      'both statuses',
      () => (sink.statuses.length >= 2 ? true : undefined),
      3000,
      undefined,
      () => sink.statuses,
    );
    await sleep(300); // several more polls
    assert.equal(
      sink.statuses.find((s) => s.name === 'iptables'),
      { name: 'iptables', ok: false, detail: '/nonexistent/iptables-save: command not found' },
    );
    const pods = sink.statuses.filter((s) => s.name === 'pod-pids');
    assert.is(pods.length, 1);
    assert.match(pods[0].detail, /no kubepods cgroup with the pids controller under/);
    assert.is(sink.statuses.length, 2, 'each said once');

    // kubelet starts: a pod at its limit shows up, status recovers once
    const uid = '6f1d0c3a-2b4e-4f5a-8c9d-0e1f2a3b4c5d';
    const pod = join(root, 'kubepods.slice', `kubepods-pod${uid.replace(/-/g, '_')}.slice`);
    mkdirSync(pod, { recursive: true });
    writeFileSync(join(root, 'kubepods.slice', 'pids.current'), '12\n');
    for (const [file, text] of [
      ['pids.current', '12\n'],
      ['pids.max', '12\n'],
      ['pids.events', 'max 3\n'],
    ])
      writeFileSync(join(pod, file), text);
    const found = await waitFor(
      'PodPIDsExhausted',
      () => sink.find('PodPIDsExhausted', true),
      3000,
      undefined,
      () => sink,
    );
    assert.equal(found.pod, { uid });
    assert.equal(
      sink.statuses.filter((s) => s.name === 'pod-pids').map((s) => s.ok),
      [false, true],
    );
  } finally {
    await running.stop();
  }
});

test('a tick that ignores its abort is not stacked upon, and stop() is bounded', async () => {
  let started = 0;
  const stuck: Probe = { name: 'stuck', intervalMs: 20, tick: () => (started++, new Promise<never>(() => {})) };
  const sink = new RecordingSink();
  const r = startProbe(stuck, sink, { timeoutMs: 100, refreshMs: 1000, log: testLog });
  await sleep(500);
  assert.is(started, 1, 'no second tick while the first never settled');
  assert.equal(
    sink.statuses.map((s) => [s.name, s.ok]),
    [['stuck', false]],
  );
  const t0 = Date.now();
  await r.stop();
  assert.ok(Date.now() - t0 < 300, 'stop() gives up after the time box');
});

test.run();
