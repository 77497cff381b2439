// conntrack: the real files read inside a netns; the fill threshold and the kernel's "table full" line
// (through the JournalConsumer) on a proc tree written in the kernel's format, since the real table is
// global to the VM and cannot be filled safely. journald: a real process whose argv[0]/comm are
// systemd-journald grows its anonymous memory -> JournaldMemoryGrowth, cleared once it stops growing.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startProbes } from '../agent/probes/index.js';
import { PREFIX, ProbeProcess, isRoot, sh } from './probes/support.js';
import { RecordingSink } from './support/sink.js';
import { sleep, waitFor } from './support/wait.js';
import { testLog } from './support/log.js';

const tmp = mkdtempSync(join(tmpdir(), 'nwp-conntrack-'));
test.after(() => rmSync(tmp, { recursive: true, force: true }));

test('conntrack: fill threshold and kernel "table full" lines raise ConntrackFull; both clear', async () => {
  const proc = join(tmp, 'proc');
  const nf = join(proc, 'sys', 'net', 'netfilter');
  mkdirSync(nf, { recursive: true });
  const fill = (count: number) => writeFileSync(join(nf, 'nf_conntrack_count'), `${count}\n`);
  writeFileSync(join(nf, 'nf_conntrack_max'), '262144\n');
  fill(1000);
  const sink = new RecordingSink();
  const probes = startProbes(
    { probes: ['conntrack'], 'proc-root': proc, 'probe-interval': '100ms', 'conntrack-percent': '90' },
    sink,
    { log: testLog, registry: new Registry() },
  );
  try {
    await waitFor('status', () => sink.statuses[0], 2000);
    assert.equal(sink.statuses, [{ name: 'conntrack', ok: true, detail: 'running every 100 ms' }]);
    const consumer = probes.journalConsumers.find((c) => c.name === 'conntrack');
    // kernels >= 4.x print the module prefix twice; the consumer's literal matches both forms
    const line = 'nf_conntrack: nf_conntrack: table full, dropping packet';
    assert.ok(consumer?.literals.every((lit) => line.includes(lit)));
    consumer!.onEntry({ message: line, timeMs: Date.now() });
    consumer!.onEntry({ message: line, timeMs: Date.now() });
    const byLine = await waitFor('ConntrackFull from the kernel line', () => sink.find('ConntrackFull', true), 2000);
    assert.is(byLine.severity, 'critical');
    assert.is(byLine.evidence.kernel, `${line} (2 lines since last poll)`);
    assert.is(byLine.evidence.used, '0.4%');
    await waitFor('cleared without new lines', () => sink.find('ConntrackFull', false), 2000);

    fill(240000);
    const byFill = await waitFor('ConntrackFull from the fill level', () => sink.find('ConntrackFull', true, 2), 2000);
    assert.equal([byFill.evidence['net.netfilter.nf_conntrack_count'], byFill.evidence.used], ['240000', '91.6%']);
    fill(1000);
    await waitFor('cleared when the table drains', () => sink.find('ConntrackFull', false, 3), 2000);
    assert.is(sink.findings.length, 4);
  } finally {
    await probes.stop();
  }
});

test('conntrack: the real nf_conntrack files, read inside a fresh netns, give no alarm', async () => {
  if (!isRoot) throw new Error('conntrack in a netns needs root: run npm test as root (CI does)');
  const ns = `${PREFIX}c`;
  sh(['ip', 'netns', 'add', ns]);
  const p = new ProbeProcess(['--probes', 'conntrack', '--probe-interval', '100ms'], ns);
  try {
    const st = await waitFor(
      'conntrack status',
      () => p.sink.statuses[0],
      15_000,
      undefined,
      () => p.stderr,
    );
    assert.equal([st.name, st.ok], ['conntrack', true], st.detail);
    await sleep(400);
    assert.equal(p.sink.findings, []);
  } finally {
    await p.stop();
    sh(['ip', 'netns', 'del', ns]);
  }
});

test('journald: sustained anonymous memory growth of systemd-journald -> JournaldMemoryGrowth, cleared when it stops', async () => {
  // comm is taken from the executed file name, so a python3 symlink named systemd-journald passes for it
  const exe = join(tmp, 'systemd-journald');
  symlinkSync('/usr/bin/python3', exe);
  const leak = `
import time
held = []
for _ in range(12):
    held.append(b"\\x01" * (10 << 20))  # written, so resident
    time.sleep(0.15)
time.sleep(15)`;
  const child = spawn(exe, ['-c', leak], { stdio: 'ignore' });
  const exited = new Promise((r) => child.once('exit', r));
  const sink = new RecordingSink();
  const probes = startProbes(
    { probes: ['journald'], 'journald-interval': '200ms', 'journald-window': '2s', 'journald-growth': '40' },
    sink,
    { log: testLog, registry: new Registry() },
  );
  const mine = (f: { key?: string }) => f.key === `pid ${child.pid}`;
  try {
    const raised = await waitFor(
      'JournaldMemoryGrowth',
      () => sink.find('JournaldMemoryGrowth', true, 0, mine),
      5000,
      undefined,
      () => ({ findings: sink.findings, statuses: sink.statuses }),
    );
    assert.is(raised.evidence.pid, String(child.pid));
    const [from, to] = [...raised.evidence.RssAnon.matchAll(/([\d.]+) MiB/g)].map((m) => Number(m[1]));
    assert.ok(to - from >= 40, raised.evidence.RssAnon);
    assert.match(raised.message, new RegExp(`systemd-journald \\(pid ${child.pid}\\) anonymous memory grew`));
    // growth stops at 120 MiB; once the 2 s window holds only the plateau, it clears
    const cleared = await waitFor(
      'cleared on the plateau',
      () => sink.find('JournaldMemoryGrowth', false, 0, mine),
      6000,
      undefined,
      () => sink.findings,
    );
    assert.match(cleared.message, /not growing steadily/);
  } finally {
    await probes.stop();
    child.kill('SIGKILL');
    await exited;
  }
});

test.run();
