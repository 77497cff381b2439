// A real kernel OOM kill: a bounded memory hog (dd with a 64 MiB buffer) in a kubelet-shaped memory
// cgroup (<unique>/kubepods/burstable/pod<uid>/<container id>) with a 20 MiB limit. The kernel lines
// are read through a real, privately started systemd-journald with `journalctl -o json -f`, fed to the
// OOM journal consumer exactly as the agent's journal source does -> OOMKilled with that pod's uid.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startLogWatch } from '../agent/logs/index.js';
import { parseJournalJson } from '../agent/parse/log-line.js';
import type { JournalConsumer } from '../agent/sources/journal-consumer.js';
import { metric, newRegistry, randomHex, randomUid, tempDir } from './logs/helpers.js';
import { RecordingSink } from './support/sink.js';
import { testLog } from './support/log.js';
import { sleep, waitFor } from './support/wait.js';

const JOURNALD = '/lib/systemd/systemd-journald';
const MIB = 1024 * 1024;

/** What the agent's journal source does with each `journalctl -o json` line (agent/sources/journal-consumer.ts). */
function feed(line: string, consumers: JournalConsumer[]): void {
  if (!consumers.some((c) => c.literals.some((l) => line.includes(l)))) return;
  const entry = parseJournalJson(line);
  if ('reject' in entry) return;
  for (const c of consumers) if (c.literals.some((l) => entry.message.includes(l))) c.onEntry(entry);
}

/** Memory cgroup for a container: v1 (memory controller hierarchy) or v2 (unified, memory enabled). */
function makeMemcg(uid: string, cid: string): { dir: string; memcgPath: string; remove(): void } {
  const rel = [`nwtest-${randomHex(8)}`, 'kubepods', 'burstable', `pod${uid}`, cid];
  const v1 = '/sys/fs/cgroup/memory';
  const v2 =
    existsSync('/sys/fs/cgroup/cgroup.controllers') &&
    readFileSync('/sys/fs/cgroup/cgroup.controllers', 'utf8').includes('memory');
  const base = existsSync(path.join(v1, 'memory.limit_in_bytes')) ? v1 : v2 ? '/sys/fs/cgroup' : undefined;
  if (!base) throw new Error('no memory cgroup controller (neither v1 /sys/fs/cgroup/memory nor v2 with memory)');
  const made: string[] = [];
  let dir = base;
  for (const part of rel) {
    if (base !== v1) writeFileSync(path.join(dir, 'cgroup.subtree_control'), '+memory');
    dir = path.join(dir, part);
    mkdirSync(dir);
    made.push(dir);
  }
  if (base === v1) {
    writeFileSync(path.join(dir, 'memory.limit_in_bytes'), String(20 * MIB)); // before memsw: memsw >= limit
    if (existsSync(path.join(dir, 'memory.memsw.limit_in_bytes')))
      writeFileSync(path.join(dir, 'memory.memsw.limit_in_bytes'), String(20 * MIB));
  } else {
    writeFileSync(path.join(dir, 'memory.max'), String(20 * MIB));
    if (existsSync(path.join(dir, 'memory.swap.max'))) writeFileSync(path.join(dir, 'memory.swap.max'), '0');
  }
  return {
    dir,
    memcgPath: `/${rel.join('/')}`,
    remove() {
      for (const d of made.reverse()) {
        for (let i = 0; i < 50; i++) {
          try {
            rmdirSync(d);
            break;
          } catch {
            spawnSync('sleep', ['0.1']); // the killed task may take a moment to leave the cgroup
          }
        }
      }
    },
  };
}

async function stop(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(t);
}

test('real kernel OOM kill in a kubelet-shaped memcg -> OOMKilled on the pod uid, via a real journal', async () => {
  if (process.getuid?.() !== 0) throw new Error('needs root (cgroups, a private journald)');
  if (!existsSync(JOURNALD)) throw new Error(`${JOURNALD} missing: apt-get install -y systemd systemd-journal-remote`);
  const tmp = tempDir('oom');
  const uid = randomUid();
  const cid = randomHex(64);
  let journald: ChildProcess | undefined;
  let follower: ChildProcess | undefined;
  let cg: ReturnType<typeof makeMemcg> | undefined;
  const sink = new RecordingSink();
  const registry = newRegistry();
  const watch = await startLogWatch({ 'container-log-dir': '' }, sink, {
    log: testLog,
    stateDir: path.join(tmp.dir, 'state'),
    registry,
  });
  try {
    assert.equal(sink.statuses, [
      { name: 'container-logs', ok: false, detail: 'container log signatures are off (--container-log-dir is empty)' },
    ]);
    assert.is(watch.journalConsumers.length, 1);

    // A private journald: its own mount namespace with tmpfs over /run and /var/log, and our dir as
    // /run/log/journal, so the host's journal dirs are neither used nor created.
    const jdir = path.join(tmp.dir, 'journal');
    mkdirSync(jdir);
    journald = spawn(
      'unshare',
      [
        '-m',
        '--propagation',
        'private',
        'sh',
        '-c',
        `mount -t tmpfs nwtest /run && mkdir -p /run/log/journal /run/systemd/journal && mount --bind '${jdir}' /run/log/journal && mount -t tmpfs nwtest /var/log && exec ${JOURNALD}`,
      ],
      { stdio: 'ignore' },
    );
    const machineDir = await waitFor(
      'journald to create its journal',
      () =>
        readdirSync(jdir)
          .map((d) => path.join(jdir, d))
          .find((d) => existsSync(path.join(d, 'system.journal'))),
      10_000,
    );

    // `journalctl -k` fails ("No such boot ID in journal") until the first kernel record is stored.
    await waitFor(
      'kernel records in the journal',
      () =>
        spawnSync('journalctl', ['--no-pager', '-D', machineDir, '-k', '-n', '1', '-o', 'json'], {
          encoding: 'utf8',
          timeout: 5000,
        }).stdout.includes('"MESSAGE"'),
      15_000,
      100,
    );
    // Follow it the way the agent does (JSON, kernel transport); the backlog may hold older OOM kills.
    follower = spawn('journalctl', ['--no-pager', '-D', machineDir, '-k', '-f', '-n', 'all', '-o', 'json'], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    let journalLines = 0;
    readline.createInterface({ input: follower.stdout! }).on('line', (l) => {
      journalLines++;
      feed(l, watch.journalConsumers);
    });
    await waitFor('journalctl to print the kmsg backlog', () => journalLines > 0, 10_000);

    cg = makeMemcg(uid, cid);
    // sh joins the cgroup and execs `timeout`, whose child dd (a 64 MiB buffer) inherits the cgroup; bounded to 15 s.
    const hog = spawn(
      'sh',
      [
        '-c',
        `echo $$ > '${cg.dir}/cgroup.procs' && exec timeout -s KILL 15 dd if=/dev/zero of=/dev/null bs=64M count=1`,
      ],
      { stdio: 'ignore' },
    );
    const hogExit = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
      hog.once('exit', (code, signal) => r({ code, signal })),
    );
    assert.ok(
      hogExit.code === 137 || hogExit.signal === 'SIGKILL',
      `hog ended by SIGKILL (got ${JSON.stringify(hogExit)})`,
    );

    const f = await waitFor(
      'OOMKilled for our pod',
      () => sink.of('OOMKilled').find((x) => x.pod?.uid === uid),
      15_000,
    );
    assert.equal(f.pod, { uid });
    assert.is(f.active, true);
    assert.is(f.severity, 'warning');
    assert.is(f.key, uid);
    assert.is(f.evidence.task, 'dd');
    assert.is(f.evidence.containerId, cid);
    assert.is(f.evidence.constraint, 'CONSTRAINT_MEMCG');
    assert.is(f.evidence.taskMemcg, cg.memcgPath, 'task_memcg as the kernel printed it');
    assert.match(f.evidence.killed, new RegExp(`Killed process ${f.evidence.pid} \\(dd\\)`));
    assert.match(f.evidence.oomKill, new RegExp(`pod${uid}/${cid},task=dd,pid=${f.evidence.pid},`));
    assert.match(
      f.message,
      new RegExp(`^Container ${cid.slice(0, 13)} of pod uid ${uid} was OOM-killed: process ${f.evidence.pid} \\(dd\\)`),
    );
    assert.ok(f.evidence.time, 'journal time carried over');
    assert.ok((await metric(registry, 'nodewarden_agent_oom_kills_total', { attributed: 'true' })) >= 1);
    assert.is(sink.of('OOMKilled').filter((x) => x.pod?.uid === uid).length, 1, 'one kill, one finding');
  } finally {
    await stop(follower);
    await stop(journald);
    await sleep(100);
    cg?.remove();
    await watch.stop();
    tmp.cleanup();
  }
});

test.run();
