// A real `nodewarden agent` whose --state-dir is a small real tmpfs, filled until the kernel answers
// ENOSPC, with the real journal (systemd-journal-remote + journalctl), real NATS and the collector:
// the agent keeps running, delivers every drop, reports AgentStateDirUnwritable and clears it.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readdirSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { createTestJournal, journalRemoteAvailable, type TestJournal } from './support/journal.js';
import { QUICK_AGENT_ARGS, startStack, type Stack } from './support/stack.js';
import { getJson } from './support/procs.js';
import { mountTmpfs, type Tmpfs } from './support/tmpfs.js';
import { waitFor, freePort, isRoot } from './support/wait.js';

if (!isRoot()) throw new Error('agent-disk needs root (it mounts a tmpfs); CI runs as root');
if (!journalRemoteAvailable())
  throw new Error('systemd-journal-remote is missing: run `npm test` (it installs it as root)');

const NODE = 'disk-node';
let journal: TestJournal, stack: Stack, fs: Tmpfs, metrics: string;
let written = 0;

const line = (dpt: number, spt: number) =>
  `calico-packet: IN=cali1a2b3c4d5e6 OUT=eth0 SRC=10.244.0.4 DST=10.244.1.6 LEN=60 TOS=0x00 PREC=0x00 TTL=63 ID=1 DF PROTO=TCP SPT=${spt} DPT=${dpt} WINDOW=64240 RES=0x00 SYN URGP=0 `;
/** n lines over `flows` destination ports from `base` (distinct flows make seals of several KiB). */
const lines = (n: number, flows: number, base: number) =>
  Array.from({ length: n }, (_, i) => line(base + (i % flows), 30000 + (i % 20000)));
const write = async (n: number, flows: number, base: number) => {
  await journal.append(lines(n, flows, base));
  written += n;
};

type Finding = { kind: string; active: boolean; evidence?: Record<string, string> };
const delivered = async () =>
  (await getJson<{ items: { count: number }[] }>(`${stack.api}/api/v1/drops?limit=10000`)).items.reduce(
    (a, f) => a + f.count,
    0,
  );
const stateFinding = async () =>
  (await getJson<{ items: Finding[] }>(`${stack.api}/api/v1/findings?kind=AgentStateDirUnwritable`)).items[0];
/**
 * One series' value; `series` is its exposition text, e.g. nodewarden_agent_state_write_failures_total{file="spool"}.
 */
const metric = async (series: string) =>
  Number(
    new RegExp(`^${series.replace(/[{}]/g, '\\$&')} (\\S+)$`, 'm').exec(
      await (await fetch(`${metrics}/metrics`)).text(),
    )?.[1] ?? NaN,
  );
const alive = () => stack.agent.child.exitCode === null && stack.agent.child.signalCode === null;

test.before(async () => {
  fs = mountTmpfs(2 << 20);
  journal = createTestJournal();
  await journal.append(['Linux version 6.18 (boot banner, not a drop)']);
  const port = await freePort();
  metrics = `http://127.0.0.1:${port}`;
  stack = await startStack({
    node: NODE,
    journalDir: journal.dir,
    stateDir: join(fs.dir, 'state'),
    agentArgs: [...QUICK_AGENT_ARGS, '--runtime', 'off', '--metrics-listen', `127.0.0.1:${port}`],
  });
});

test.after(async () => {
  await stack?.stop();
  journal?.remove();
  fs?.unmount();
});

test('state dir full while running: the agent keeps running, every drop arrives, the finding is raised and then cleared', async () => {
  await write(20, 5, 1000);
  await waitFor('first drops', async () => (await delivered()) === written);
  const filled = fs.fill();
  await write(300, 60, 2000);
  await waitFor(`${written} drops with the disk full`, async () => (await delivered()) === written, 30_000);
  const f = await waitFor('AgentStateDirUnwritable active', async () => {
    const x = await stateFinding();
    return x?.active ? x : undefined;
  });
  assert.is(f.evidence?.errno, 'ENOSPC');
  assert.is(f.evidence?.path, join(fs.dir, 'state', 'spool'));
  assert.ok(Number(f.evidence?.memoryBytes) > 0, JSON.stringify(f.evidence));
  assert.ok(alive(), 'agent still running');
  assert.is((stack.agent.output().match(/state dir unwritable/g) ?? []).length, 1, 'logged once per episode');
  assert.ok((await metric('nodewarden_agent_state_write_failures_total{file="spool"}')) >= 1);
  fs.free();
  await waitFor('AgentStateDirUnwritable cleared', async () => (await stateFinding())?.active === false, 15_000);
  assert.ok(filled > 1_000_000, `filled ${filled} bytes`);
  assert.is(await delivered(), written);
});

test('restart with spool files present, the disk full and NATS down at first: every spooled drop arrives, .tmp leftovers are removed', async () => {
  await stack.nats.kill();
  const before = written;
  await write(450, 45, 3000);
  await waitFor('450 lines read', async () => (await metric('nodewarden_agent_drop_lines_total')) >= 450 + 320);
  await stack.agent.stop('SIGTERM'); // seals the open window into the spool
  const spool = join(fs.dir, 'state', 'spool');
  const files = readdirSync(spool).filter((n) => n.endsWith('.msg'));
  assert.ok(files.length >= 1, 'the 450 lines are spooled');
  fs.fill();
  // Empty, so that removing them frees no space: the disk stays full.
  writeFileSync(join(fs.dir, 'state', '.checkpoint.json.tmp'), '');
  writeFileSync(join(spool, '.000000009999.msg.tmp'), '');
  stack.startAgent();
  await stack.agent.waitForLog(/journal: following/);
  assert.match(stack.agent.output(), /removed unfinished writes/);
  assert.ok(
    !existsSync(join(spool, '.000000009999.msg.tmp')) && !existsSync(join(fs.dir, 'state', '.checkpoint.json.tmp')),
  );
  await write(50, 50, 4000); // read while the disk is full and NATS is down: held in memory
  await waitFor('50 new lines read', async () => (await metric('nodewarden_agent_drop_lines_total')) === 50);
  await stack.agent.waitForLog(/state dir unwritable/, 10_000);
  assert.ok(alive(), 'agent still running with the disk full and NATS down');
  await stack.nats.start();
  await waitFor(`all ${written - before} drops after the restart`, async () => (await delivered()) === written, 30_000);
  assert.is(written - before, 500);
  assert.ok(alive());
  fs.free();
  await waitFor('AgentStateDirUnwritable cleared', async () => (await stateFinding())?.active === false, 15_000);
  assert.is(await delivered(), written, 'nothing doubled either');
  assert.not.match(stack.agent.output(), /someone else publishes/, 'a resumed spool is not an unexpected duplicate');
});

test.run();
