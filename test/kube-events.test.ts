// PacketDrop and finding Events through the whole pipeline: a real journal (systemd-journal-remote)
// -> the agent's journalctl -> NATS JetStream -> `nodewarden collector --kubeconfig` -> a REAL
// kube-apiserver, checked with the real `kubectl describe`. The collector runs as a token user with
// only the RBAC it needs (test/fixtures/kube/collector-rbac.yaml).
// Run: node --import tsx test/kube-events.test.ts
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { startControlPlane, type ControlPlane } from './support/kube.js';
import { startNats, type NatsServer } from './support/nats.js';
import { createTestJournal, journalRemoteAvailable, type TestJournal } from './support/journal.js';
import { startCli, spawnCollector, getJson, type CollectorProc, type Proc } from './support/procs.js';
import { waitFor } from './support/wait.js';
import { grantCollector, listEvents, auditWrites, COLLECTOR_USER, type K8sEvent } from './fixtures/kube/helpers.js';
import { encodeEnvelope, pb } from '../proto/codec.js';

if (!journalRemoteAvailable())
  throw new Error('systemd-journal-remote is missing: run `npm test` (it installs it as root)');

const NODE = 'node-a';
let cp: ControlPlane,
  nats: NatsServer,
  journal: TestJournal,
  agent: Proc,
  collector: CollectorProc,
  api: string,
  state: string;
const uids: Record<string, string> = {};

const tcp = (src: string, dst: string, dpt: number, n = 1, proto = 'TCP') =>
  Array.from(
    { length: n },
    (_, i) =>
      `calico-packet: IN=cali1a2b3c4d5e6 OUT=eth0 MAC=92:e6:fa:3a:01:6d:6a:09:8e:ab:40:e0:08:00 SRC=${src} DST=${dst} LEN=60 TOS=0x00 PREC=0x00 TTL=63 ID=1 DF PROTO=${proto} SPT=${40000 + i} DPT=${dpt} WINDOW=64240 RES=0x00 SYN URGP=0 `,
  );
const icmp = (src: string, dst: string) =>
  `calico-packet: IN=cali1a2b3c4d5e6 OUT=eth0 SRC=${src} DST=${dst} LEN=84 TOS=0x00 PREC=0x00 TTL=64 ID=1 DF PROTO=ICMP TYPE=8 CODE=0 ID=7 SEQ=1 `;

const describe = async (kind: 'pod' | 'node', name: string, ns?: string) => {
  const r = await cp.kubectl([...(ns ? ['-n', ns] : []), 'describe', kind, name]);
  if (r.code !== 0) throw new Error(r.stderr);
  return r.stdout;
};
const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
const eventLine = (type: string, reason: string, message: string) =>
  new RegExp(`${type}\\s+${reason}\\s+\\S.*\\s+nodewarden\\s+${esc(message)}\\s*$`, 'm');
const eventsFor = async (ns: string, name: string) =>
  listEvents(cp, ns, `involvedObject.name=${name},involvedObject.uid=${uids[name]}`);

test.before(async () => {
  cp = await startControlPlane({ users: [{ name: COLLECTOR_USER }, { name: 'collector-off' }] });
  await grantCollector(cp, ['collector-off']);
  await cp.createNode('node-a', '192.0.2.10');
  await cp.createNode('node-b', '192.0.2.11');
  await cp.createNamespace('shop');
  for (const [name, node, ip, host] of [
    ['web-0', 'node-a', '10.244.0.4', '192.0.2.10'],
    ['db-0', 'node-b', '10.244.1.6', '192.0.2.11'],
    ['cache-0', 'node-b', '10.244.1.9', '192.0.2.11'],
  ] as const) {
    uids[name] = (await cp.createPod('shop', name, { nodeName: node, podIP: ip, hostIP: host })).uid;
  }
  nats = await startNats();
  journal = createTestJournal();
  await journal.append(['Linux version 6.18 (boot banner, not a drop)']);
  state = mkdtempSync(join(tmpdir(), 'nw-kube-events-'));
  // --events defaults to on with --kubeconfig
  collector = await spawnCollector(nats.url, [
    '--kubeconfig',
    cp.kubeconfig(COLLECTOR_USER),
    '--event-update-interval',
    '1s',
  ]);
  api = collector.api;
  await collector.waitForLog(/kube: pod cache synced/);
  await collector.waitForLog(/events: consuming/);
  agent = startCli([
    'agent',
    '--node',
    NODE,
    '--nats',
    nats.url,
    '--state-dir',
    state,
    '--journal-dir',
    journal.dir,
    '--window',
    '100ms',
    '--max-hold',
    '2s',
    '--heartbeat-interval',
    '1s',
  ]);
  await agent.waitForLog(/journal: following/);
});

test.after(async () => {
  await agent?.stop('SIGKILL');
  await collector?.stop('SIGKILL');
  await nats?.stop();
  journal?.remove();
  if (state) rmSync(state, { recursive: true, force: true });
  await cp?.stop();
});

test('/readyz is ready once the pod cache synced; the drops API names pods from the watch', async () => {
  const r = await fetch(`${api}/readyz`);
  assert.is(r.status, 200);
});

test('drop web-0 -> db-0 (another node): kubectl describe shows PacketDrop on BOTH pods, named peers, count 3', async () => {
  const t0 = Date.now();
  await journal.append(tcp('10.244.0.4', '10.244.1.6', 5432, 3));
  const send = 'Packet dropped when sending traffic to shop/db-0 (10.244.1.6) on port 5432/TCP';
  const recv = 'Packet dropped when receiving traffic from shop/web-0 (10.244.0.4) on port 5432/TCP';
  await waitFor(
    'both Events',
    async () => (await eventsFor('shop', 'web-0')).length === 1 && (await eventsFor('shop', 'db-0')).length === 1,
    20_000,
    100,
  );
  console.log(`    journal append -> both Events visible: ${Date.now() - t0} ms (incl. agent window and NATS)`);
  const web = await describe('pod', 'web-0', 'shop');
  const db = await describe('pod', 'db-0', 'shop');
  assert.match(web, eventLine('Warning', 'PacketDrop', send), web);
  assert.match(db, eventLine('Warning', 'PacketDrop', recv), db);
  const [ev] = await eventsFor('shop', 'web-0');
  assert.is(ev.count, 3);
  assert.equal(ev.involvedObject, {
    kind: 'Pod',
    namespace: 'shop',
    name: 'web-0',
    uid: uids['web-0'],
    apiVersion: 'v1',
  });
  assert.equal(ev.source, { component: 'nodewarden', host: NODE });
  assert.is(ev.type, 'Warning');
  assert.is(ev.reason, 'PacketDrop');
  // the drops API names both pods (uids) from the same pod watch
  const drops = await getJson<{
    items: { src: { pod?: { name: string; uid?: string } }; dst: { pod?: { name: string } } }[];
  }>(`${api}/api/v1/drops?pod=web-0`);
  assert.equal(drops.items[0].src.pod, { namespace: 'shop', name: 'web-0', uid: uids['web-0'] });
  assert.is(drops.items[0].dst.pod?.name, 'db-0');
});

test('repeats PATCH the same Event (count grows, no new Event); describe shows (xN over ...)', async () => {
  await journal.append(tcp('10.244.0.4', '10.244.1.6', 5432, 4));
  await waitFor(
    'count 7 on both',
    async () => {
      const [a] = await eventsFor('shop', 'web-0');
      const [b] = await eventsFor('shop', 'db-0');
      return a?.count === 7 && b?.count === 7;
    },
    20_000,
    100,
  );
  assert.is((await eventsFor('shop', 'web-0')).length, 1);
  assert.match(
    await describe('pod', 'db-0', 'shop'),
    /\(x7 over [^)]+\)\s+nodewarden\s+Packet dropped when receiving traffic from shop\/web-0/,
  );
  const writes = auditWrites(cp);
  assert.ok(
    writes.some((w) => w.verb === 'patch' && w.code === 200),
    'a PATCH was used',
  );
  assert.ok(
    writes.every((w) => w.code < 400 || w.code === 409),
    JSON.stringify(writes.filter((w) => w.code >= 400)),
  );
  // The writer's and the pod watch's metrics are served with the collector's own.
  const metrics = await (await fetch(`${api}/metrics`)).text();
  assert.match(metrics, /nodewarden_collector_events_api_requests_total\{verb="patch",code="200"\} [1-9]/);
  assert.match(metrics, /nodewarden_collector_messages_total\{outcome="drops"\} [1-9]/);
});

test('node-IP peer, external IP, and ICMP: the message forms of docs/architecture.md#events; host IPs get no Event', async () => {
  await journal.append([
    ...tcp('192.0.2.11', '10.244.0.4', 8080, 2), // from node-b's host IP into web-0
    ...tcp('10.244.0.4', '8.8.8.8', 53, 1, 'UDP'),
    icmp('10.244.1.9', '10.244.0.4'),
  ]);
  const want: [string, string][] = [
    ['web-0', 'Packet dropped when receiving traffic from node/node-b (192.0.2.11) on port 8080/TCP'],
    ['web-0', 'Packet dropped when sending traffic to 8.8.8.8 on port 53/UDP'],
    ['web-0', 'Packet dropped when receiving traffic from shop/cache-0 (10.244.1.9) on ICMP'],
    ['cache-0', 'Packet dropped when sending traffic to shop/web-0 (10.244.0.4) on ICMP'],
  ];
  await waitFor(
    'four more Events',
    async () => {
      const all = [...(await eventsFor('shop', 'web-0')), ...(await eventsFor('shop', 'cache-0'))];
      return want.every(([, m]) => all.some((e) => e.message === m));
    },
    20_000,
    100,
  );
  const web = await describe('pod', 'web-0', 'shop');
  for (const [pod, m] of want)
    assert.match(pod === 'web-0' ? web : await describe('pod', pod, 'shop'), eventLine('Warning', 'PacketDrop', m));
  // the node got no Event for the drop (only findings go to Nodes)
  const nodeEvents = await listEvents(cp, 'default', 'involvedObject.kind=Node');
  assert.ok(nodeEvents.every((e) => e.reason !== 'PacketDrop'));
});

test('findings: a node finding is an Event on the Node (its uid); a pod finding is on the pod', async () => {
  const nc = await connect({ servers: nats.url });
  const js = jetstream(nc);
  const now = Date.now();
  const env = (seq: number, finding: Record<string, unknown>) =>
    encodeEnvelope({
      node: NODE,
      agentId: 'test-finder',
      seq,
      sentMs: now,
      agentVersion: 'test',
      finding: pb.Finding.create({ firstSeenMs: now, lastSeenMs: now, ...finding } as any),
    });
  // (the real agent may report real findings of this VM too, e.g. IPForwardingDisabled: match on the message)
  const msg = 'nf_conntrack_count 262144 of nf_conntrack_max 262144: new connections are dropped';
  await js.publish(
    `nodewarden.v1.${NODE}.finding`,
    env(1, {
      kind: 'ConntrackFull',
      severity: 'critical',
      active: true,
      message: msg,
      evidence: { nf_conntrack_count: '262144' },
    }),
  );
  await js.publish(
    `nodewarden.v1.${NODE}.finding`,
    env(2, {
      kind: 'PodPIDsExhausted',
      severity: 'warning',
      active: true,
      message: 'pids.current 1024 of pids.max 1024',
      pod: { uid: uids['db-0'] },
    }),
  );
  await nc.close();
  const nodeEvent = async () =>
    (await listEvents(cp, 'default', 'involvedObject.kind=Node,reason=ConntrackFull')).find((e) => e.message === msg);
  const ne = await waitFor('node Event', nodeEvent, 20_000, 100);
  const node = await describe('node', 'node-a');
  assert.match(node, eventLine('Warning', 'ConntrackFull', msg), node);
  const nodeUid = (await cp.request('GET', '/api/v1/nodes/node-a')).body.metadata.uid;
  assert.equal(ne.involvedObject, { apiVersion: 'v1', kind: 'Node', name: 'node-a', uid: nodeUid });
  assert.equal(ne.source, { component: 'nodewarden', host: NODE });
  await waitFor(
    'pod finding Event',
    async () => (await eventsFor('shop', 'db-0')).some((e) => e.reason === 'PodPIDsExhausted'),
    20_000,
    100,
  );
  assert.match(
    await describe('pod', 'db-0', 'shop'),
    eventLine('Warning', 'PodPIDsExhausted', 'pids.current 1024 of pids.max 1024'),
  );
});

test('a pod created after the collector started is named as soon as it exists', async () => {
  uids['late-0'] = (
    await cp.createPod('shop', 'late-0', { nodeName: 'node-a', podIP: '10.244.0.20', hostIP: '192.0.2.10' })
  ).uid;
  await journal.append(tcp('10.244.0.20', '10.244.1.6', 6379, 2));
  await waitFor(
    'Event on the new pod',
    async () =>
      (await eventsFor('shop', 'late-0')).some(
        (e) =>
          e.message === 'Packet dropped when sending traffic to shop/db-0 (10.244.1.6) on port 6379/TCP' &&
          e.count === 2,
      ),
    20_000,
    100,
  );
});

test('--events=off: a second collector names pods but never writes Events', async () => {
  const off = await spawnCollector(nats.url, ['--kubeconfig', cp.kubeconfig('collector-off'), '--events=off']);
  try {
    await off.waitForLog(/caught up with the stream/);
    const flow = await waitFor(
      'named drops',
      async () => {
        const d = await getJson<{
          items: { src: { pod?: { name: string } }; dst: { ip: string; pod?: { name: string } } }[];
        }>(`${off.api}/api/v1/drops?pod=web-0`);
        return d.items.find((f) => f.src.pod?.name === 'web-0' && f.dst.ip === '10.244.1.6');
      },
      15_000,
      100,
    );
    assert.is(flow.dst.pod?.name, 'db-0');
    assert.not.match(off.output(), /events: consuming/);
  } finally {
    await off.stop('SIGTERM');
  }
  // it watched pods under its own identity, and never tried an Event write
  assert.ok(cp.auditEvents((e) => e.user.username === 'collector-off' && e.verb === 'list').length >= 1);
  assert.is(auditWrites(cp, 'collector-off').length, 0);
});

test('graceful stop flushes and reports what it wrote', async () => {
  assert.is(collector.child.exitCode, null, 'collector still running');
  const writes = auditWrites(cp);
  console.log(
    `    Event API writes so far: ${writes.length} (${writes.filter((w) => w.verb === 'create').length} create, ${writes.filter((w) => w.verb === 'patch').length} patch)`,
  );
  await collector.stop('SIGTERM');
  assert.match(collector.output(), /events: stopped/);
  const all: K8sEvent[] = await listEvents(cp, 'shop');
  const keys = all.map((e) => `${e.involvedObject.uid}|${e.reason}|${e.message}`);
  assert.is(new Set(keys).size, keys.length, 'no duplicate Events');
});

test.run();
