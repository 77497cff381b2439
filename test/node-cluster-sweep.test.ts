// The node-cluster harness after a run killed with SIGKILL (test/support/node-cluster.ts): the next
// start finds the dead run's footprint and removes what it left on the host — its processes (by PID,
// only while they still run the recorded command), mounts under its dir and on the host, the network
// namespace, cgroups in every hierarchy, kernel knobs back to their old values, the temp dir.
// Real resources throughout; no kube binaries needed.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sweepLeftovers, type Footprint } from './support/node-cluster.js';
import { isRoot, waitFor } from './support/wait.js';

if (!isRoot()) throw new Error('node-cluster-sweep needs root (namespaces, mounts, cgroups): run npm test as root');

const KNOB = '/proc/sys/kernel/keys/root_maxkeys';
const mounted = (path: string) =>
  readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .some((l) => l.split(' ')[1] === path);
const hierarchies = existsSync('/sys/fs/cgroup/cgroup.controllers')
  ? ['/sys/fs/cgroup']
  : readdirSync('/sys/fs/cgroup')
      .map((h) => join('/sys/fs/cgroup', h))
      .filter((h) => existsSync(join(h, 'cgroup.procs')));

test('a dead run is cleaned up: processes, mounts, netns, cgroups, knobs, dirs; a live one is left alone', async () => {
  const knobBefore = readFileSync(KNOB, 'utf8').trim();
  const id = `${process.pid % 100000}`;
  const dir = mkdtempSync(join(tmpdir(), 'nw-node-sweep-'));
  const hostMount = mkdtempSync(join(tmpdir(), 'nw-node-sweep-host-'));
  const netns = `nwks${id}`;
  const cgroupRoot = `/nwks-${id}`;
  // What a killed run leaves: an orphan process, a mount under its dir and one on the host, a netns,
  // a cgroup dir (with a child) in every hierarchy, a knob changed by the kubelet.
  const orphan = spawn('sleep', ['300'], { detached: true, stdio: 'ignore' });
  orphan.unref();
  const reusedPid = spawn('sleep', ['300'], { detached: true, stdio: 'ignore' });
  reusedPid.unref();
  mkdirSync(join(dir, 'vol'));
  execFileSync('mount', ['-t', 'tmpfs', 'tmpfs', join(dir, 'vol')]);
  execFileSync('mount', ['--bind', dir, hostMount]);
  execFileSync('ip', ['netns', 'add', netns]);
  for (const h of hierarchies) mkdirSync(join(h, cgroupRoot, 'kubepods'), { recursive: true });
  writeFileSync(KNOB, String(Number(knobBefore) + 1));
  const dead = spawn('true');
  await new Promise((r) => dead.once('exit', r));
  const fp = (owner: number): Footprint => ({
    owner,
    dir,
    netns,
    cgroupRoot,
    hierarchies,
    hostMounts: [hostMount],
    created: [],
    sysctlsBefore: [[KNOB, knobBefore]],
    children: [
      { pid: orphan.pid as number, cmd: 'sleep' },
      // a PID that now runs something else than recorded is not killed
      { pid: reusedPid.pid as number, cmd: '/usr/bin/kubelet' },
    ],
  });
  try {
    mkdirSync('/run/nodewarden-test', { recursive: true });
    // A live owner's footprint (this process) stays: that run is still going.
    writeFileSync(`/run/nodewarden-test/node-cluster-${process.pid}.json`, JSON.stringify(fp(process.pid)));
    assert.is(await sweepLeftovers(), 0, 'nothing swept while the owner lives');
    assert.ok(existsSync(`/run/netns/${netns}`));
    execFileSync('rm', [`/run/nodewarden-test/node-cluster-${process.pid}.json`]);

    writeFileSync(`/run/nodewarden-test/node-cluster-${dead.pid}.json`, JSON.stringify(fp(dead.pid as number)));
    assert.is(await sweepLeftovers(), 1);
    await waitFor('the orphan killed', () => orphan.exitCode !== null || orphan.signalCode !== null, 5000, 50);
    assert.is(orphan.signalCode, 'SIGKILL');
    assert.is(reusedPid.exitCode, null, 'the reused PID runs something else: left alone');
    assert.not.ok(mounted(join(dir, 'vol')), 'mount under the dir');
    assert.not.ok(mounted(hostMount), 'host mount');
    assert.not.ok(existsSync(`/run/netns/${netns}`), 'netns');
    for (const h of hierarchies) assert.not.ok(existsSync(join(h, cgroupRoot)), `cgroup in ${h}`);
    assert.is(readFileSync(KNOB, 'utf8').trim(), knobBefore, 'knob restored');
    assert.not.ok(existsSync(dir), 'temp dir');
    assert.not.ok(existsSync(`/run/nodewarden-test/node-cluster-${dead.pid}.json`), 'footprint gone');
    assert.is(await sweepLeftovers(), 0, 'and only once');
  } finally {
    writeFileSync(KNOB, knobBefore);
    for (const p of [orphan.pid, reusedPid.pid]) {
      try {
        process.kill(p as number, 'SIGKILL');
      } catch {}
    }
    for (const m of [hostMount, join(dir, 'vol')]) if (mounted(m)) execFileSync('umount', ['-l', m]);
    if (existsSync(`/run/netns/${netns}`)) execFileSync('ip', ['netns', 'del', netns]);
    for (const h of hierarchies)
      for (const d of [join(h, cgroupRoot, 'kubepods'), join(h, cgroupRoot)])
        if (existsSync(d)) execFileSync('rmdir', [d]);
    execFileSync('rm', ['-rf', dir, hostMount, `/run/nodewarden-test/node-cluster-${dead.pid}.json`]);
  }
});

test.run();
