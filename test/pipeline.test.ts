// Agent -> real NATS JetStream -> collector -> HTTP API, with a real journal written by
// systemd-journal-remote and followed by journalctl. Faults: NATS outage, agent SIGKILL, corrupt
// messages, collector restart.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { connect } from '@nats-io/transport-node';
import { createTestJournal, journalRemoteAvailable, type TestJournal } from './support/journal.js';
import { QUICK_AGENT_ARGS, startStack, type Stack } from './support/stack.js';
import { getJson } from './support/procs.js';
import { waitFor, sleep } from './support/wait.js';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { loadCheckpoint } from '../agent/outbox/checkpoint.js';

if (!journalRemoteAvailable())
  throw new Error('systemd-journal-remote is missing: run `npm test` (it installs it as root)');

const NODE = 'node-a.example';
let journal: TestJournal, stack: Stack, api: string;
const token = 'test-api-token';
let written = 0; // drop lines written for flow web-0 -> db-0:5432

const pods = [
  {
    metadata: { namespace: 'shop', name: 'web-0', uid: 'uid-web' },
    spec: { nodeName: NODE },
    status: { podIP: '10.244.0.4', podIPs: [{ ip: '10.244.0.4' }], hostIP: '10.4.0.4' },
  },
  {
    metadata: { namespace: 'shop', name: 'db-0', uid: 'uid-db' },
    spec: { nodeName: 'node-b' },
    status: { podIP: '10.244.1.6', podIPs: [{ ip: '10.244.1.6' }, { ip: 'fd00:10:244:1::6' }], hostIP: '10.4.0.5' },
  },
];

const line = (src: string, dst: string, dpt: number, spt = 40000) =>
  `calico-packet: IN=cali1a2b3c4d5e6 OUT=eth0 MAC=92:e6:fa:3a:01:6d:6a:09:8e:ab:40:e0:08:00 SRC=${src} DST=${dst} LEN=60 TOS=0x00 PREC=0x00 TTL=63 ID=1 DF PROTO=TCP SPT=${spt} DPT=${dpt} WINDOW=64240 RES=0x00 SYN URGP=0 `;
const webToDb = (n: number) => Array.from({ length: n }, (_, i) => line('10.244.0.4', '10.244.1.6', 5432, 40000 + i));

type Drops = {
  items: {
    count: number;
    src: { ip: string; pod?: { name: string } };
    dst: { ip: string; port?: number; pod?: { name: string; namespace: string } };
    node: string;
  }[];
  total: number;
};
const drops = (q = '') => getJson<Drops>(`${api}/api/v1/drops${q}`, token);
const countFor = async (dport: number) =>
  (await drops()).items.filter((f) => f.dst.port === dport).reduce((a, f) => a + f.count, 0);

test.before(async () => {
  journal = createTestJournal();
  await journal.append(['Linux version 6.18 (boot banner, not a drop)']);
  stack = await startStack({
    node: NODE,
    journalDir: journal.dir,
    pods,
    agentArgs: [...QUICK_AGENT_ARGS],
    collectorArgs: ['--api-token', token],
  });
  api = stack.api;
});

test.after(async () => {
  await stack?.stop();
  journal?.remove();
});

test('drops reach the API with both pods named, counts, and first/last seen; other lines ignored', async () => {
  await journal.append([
    ...webToDb(3),
    'cgroup: fork rejected by pids controller in /kubepods/x',
    line('10.244.0.4', '10.9.9.9', 53).replace('TCP', 'UDP'),
    'calico-packet: IN=eth0 SRC=garbage DST=10.0.0.1',
  ]);
  written += 3;
  const r = await waitFor('two flows in the API', async () => {
    const d = await drops();
    return d.total === 2 && d.items.some((f) => f.count === 3) ? d : undefined;
  });
  const flow = r.items.find((f) => f.dst.port === 5432)!;
  assert.is(flow.count, 3);
  assert.is(flow.node, NODE);
  assert.equal(flow.src.pod, { namespace: 'shop', name: 'web-0', uid: 'uid-web' });
  assert.equal(flow.dst.pod, { namespace: 'shop', name: 'db-0', uid: 'uid-db' });
  const other = r.items.find((f) => f.dst.port === 53)!;
  assert.is(other.dst.pod, undefined);
  // filters: namespace/pod match either side; unknown parameters are a 400
  assert.is((await drops('?namespace=shop&pod=db-0')).total, 1);
  assert.is((await drops('?pod=web-0')).total, 2);
  assert.is((await drops('?namespace=other')).total, 0);
  assert.is((await drops(`?node=${NODE}&since=5m&limit=1`)).items.length, 1);
  const bad = await fetch(`${api}/api/v1/drops?namespac=shop`, { headers: { authorization: `Bearer ${token}` } });
  assert.is(bad.status, 400);
  assert.match(((await bad.json()) as { error: string }).error, /unknown query parameter "namespac"/);
  assert.is((await fetch(`${api}/api/v1/drops`)).status, 401);
  const nodes = await getJson<{ items: { node: string; healthy: boolean; agentVersion: string }[] }>(
    `${api}/api/v1/nodes`,
    token,
  );
  assert.is(nodes.items[0].node, NODE);
  assert.is(nodes.items[0].healthy, true);
  const metrics = await (await fetch(`${api}/metrics`)).text();
  assert.match(metrics, /nodewarden_collector_messages_total\{outcome="drops"\} [1-9]/);
  assert.is((await fetch(`${api}/readyz`)).status, 200);
  const spec = await getJson<{ openapi: string; paths: Record<string, unknown> }>(`${api}/openapi.json`);
  assert.ok(spec.openapi.startsWith('3.') && '/api/v1/drops' in spec.paths);
});

test('NATS down for 10 s while drops keep coming: after it returns, counts equal the lines written', async () => {
  const before = await countFor(5432);
  await stack.nats.kill();
  for (let i = 0; i < 5; i++) {
    await journal.append(webToDb(20));
    written += 20;
    await sleep(2000);
  }
  await stack.nats.start();
  await waitFor(`count ${written} after the outage`, async () => (await countFor(5432)) === written, 30_000);
  assert.is(written - before, 100);
  await sleep(1500); // nothing doubled later either
  assert.is(await countFor(5432), written);
});

test('graceful agent restart: a backlog written meanwhile is read completely', async () => {
  // the agent's cursor checkpoint has reached the newest record (what a graceful stop resumes from)
  const newest = () =>
    JSON.parse(
      execFileSync('journalctl', ['--directory', journal.dir, '--lines=1', '--output=json'], {
        encoding: 'utf8',
      }).trim(),
    ).__CURSOR;
  await waitFor(
    'the cursor checkpoint at the newest record',
    () => loadCheckpoint(join(stack.dir, 'agent-state')).cursor === newest(),
    15_000,
  );
  await stack.agent.stop('SIGTERM');
  await journal.append(webToDb(60));
  written += 60;
  await stack.startAgent().waitForLog(/journal: following/);
  await waitFor(`count ${written} after a graceful restart`, async () => (await countFor(5432)) === written, 30_000);
});

test('agent killed with SIGKILL mid-stream and restarted: nothing lost, nothing repeated', async () => {
  await journal.append(webToDb(10));
  written += 10;
  await stack.agent.stop('SIGKILL');
  await journal.append(webToDb(45)); // written while no agent runs (more than journalctl -f shows by default)
  written += 45;
  await stack.startAgent().waitForLog(/journal: following/);
  await journal.append(webToDb(5));
  written += 5;
  await waitFor(`count ${written} after the agent restart`, async () => (await countFor(5432)) === written, 30_000);
  await sleep(1500);
  assert.is(await countFor(5432), written);
});

test('corrupt and foreign messages on the subjects are counted; the collector keeps serving', async () => {
  const nc = await connect({ servers: stack.nats.url });
  nc.publish('nodewarden.v1.node-a_example.drops', new Uint8Array([0xde, 0xad, 0xbe, 0xef, 0xff, 0xff]));
  nc.publish('nodewarden.v1.x.drops', new TextEncoder().encode('{"hello":"json"}'));
  await nc.flush();
  await nc.close();
  await journal.append(webToDb(1));
  written += 1;
  await waitFor('count after corrupt messages', async () => (await countFor(5432)) === written, 15_000);
  const metrics = await (await fetch(`${api}/metrics`)).text();
  assert.match(metrics, /nodewarden_collector_messages_rejected_total\{reason="corrupt"\} [12]/);
  assert.match(stack.collector.output(), /not a valid nodewarden envelope/);
});

test('collector restart rebuilds the same answers from the stream', async () => {
  const before = await drops();
  await stack.collector.stop('SIGTERM');
  await stack.startCollector().waitForLog(/caught up with the stream/);
  const after = await drops();
  assert.is(after.total, before.total);
  assert.is(await countFor(5432), written);
});

test.run();
