// Event writing under load and faults, through the real pipeline (journal -> agent -> NATS JetStream
// -> collector replicas -> REAL kube-apiserver): a 10,000-drop storm over 200 flows within the
// configured write budget (counted from the apiserver's audit log), two replicas sharing the stream
// without duplicate Events and sharing one budget, and a kube-apiserver restart mid-run.
// Run: node --import tsx test/kube-events-scale.test.ts
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startControlPlane, type ControlPlane } from './support/kube.js';
import { startNats, type NatsServer } from './support/nats.js';
import { createTestJournal, journalRemoteAvailable, type TestJournal } from './support/journal.js';
import { startCli, spawnCollector, type Proc } from './support/procs.js';
import { waitFor, sleep } from './support/wait.js';
import {
  grantCollector,
  listEvents,
  auditWrites,
  budgetExcess,
  COLLECTOR_USER,
  type K8sEvent,
} from './fixtures/kube/helpers.js';

if (!journalRemoteAvailable())
  throw new Error('systemd-journal-remote is missing: run `npm test` (it installs it as root)');

const QPS = 50,
  BURST = 100;
const REPLICA2 = 'collector-2';
let cp: ControlPlane, nats: NatsServer, journal: TestJournal, agent: Proc, state: string;
const collectors: Proc[] = [];
const ports: number[] = [];

const line = (src: string, dst: string, dpt: number, spt: number) =>
  `calico-packet: IN=cali1a2b3c4d5e6 OUT=eth0 SRC=${src} DST=${dst} LEN=60 TOS=0x00 PREC=0x00 TTL=63 ID=1 DF PROTO=TCP SPT=${spt} DPT=${dpt} WINDOW=64240 RES=0x00 SYN URGP=0 `;

const startCollector = async (user: string) => {
  const p = await spawnCollector(nats.url, [
    '--kubeconfig',
    cp.kubeconfig(user),
    '--event-qps',
    String(QPS),
    '--event-burst',
    String(BURST),
    '--event-object-burst',
    '20',
    '--event-object-refill',
    '1s',
    '--event-update-interval',
    '2s',
  ]);
  collectors.push(p);
  ports.push(p.port);
  await p.waitForLog(/events: consuming/, 30_000);
  return p;
};

let created = 0;

/** One metric of a collector's /metrics, all its series summed (0 when absent). */
async function metricOf(port: number, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  return [...text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\d+)$`, 'gm'))].reduce((a, m) => a + Number(m[1]), 0);
}
const replicasOf = (port: number) => metricOf(port, 'nodewarden_collector_events_replicas');

/** Waits until every collector's pod cache (nodewarden_collector_kube_pods at /metrics) holds every pod created. */
async function podsKnown(): Promise<void> {
  const want = created;
  await waitFor(
    `${want} pods in every collector's cache`,
    async () => {
      const counts = await Promise.all(ports.map((port) => metricOf(port, 'nodewarden_collector_kube_pods')));
      return counts.every((c) => c >= want);
    },
    15_000,
    50,
  );
}

/** Creates n pods named prefix0..n-1 on a node with IPs base.1..n; returns name -> {uid, ip}. */
async function pods(ns: string, prefix: string, n: number, node: string, base: string, host: string) {
  created += n;
  const out: Record<string, { uid: string; ip: string }> = {};
  await Promise.all(
    Array.from({ length: n }, async (_, i) => {
      const ip = `${base}.${i + 1}`;
      out[`${prefix}${i}`] = {
        uid: (await cp.createPod(ns, `${prefix}${i}`, { nodeName: node, podIP: ip, hostIP: host })).uid,
        ip,
      };
    }),
  );
  return out;
}

/** Every (uid, message) once, and its count. Throws on a duplicate. */
function byKey(events: K8sEvent[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const e of events) {
    const k = `${e.involvedObject.uid}|${e.message}`;
    if (m.has(k)) throw new Error(`duplicate Event for ${e.involvedObject.name}: ${e.message}`);
    m.set(k, e.count);
  }
  return m;
}

test.before(async () => {
  cp = await startControlPlane({ users: [{ name: COLLECTOR_USER }, { name: REPLICA2 }] });
  await grantCollector(cp, [REPLICA2]);
  for (const ns of ['storm', 'duo', 'shared', 'bounce']) await cp.createNamespace(ns);
  nats = await startNats();
  journal = createTestJournal();
  await journal.append(['Linux version 6.18 (boot banner, not a drop)']);
  state = mkdtempSync(join(tmpdir(), 'nw-kube-scale-'));
  await startCollector(COLLECTOR_USER);
  agent = startCli([
    'agent',
    '--node',
    'node-a',
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
  for (const c of collectors) await c.stop('SIGKILL');
  await nats?.stop();
  journal?.remove();
  if (state) rmSync(state, { recursive: true, force: true });
  await cp?.stop();
});

/**
 * 10,000 drops over 200 flows in ~3 s between 20 senders and 20 receivers in `ns`: waits for the 400
 * Events with count 50 each, checks them per pod, and says when the storm began and how long it took.
 */
async function storm(ns: string, base: number): Promise<{ t0: number; appendMs: number; doneMs: number }> {
  const senders = await pods(ns, 's', 20, 'node-a', `10.244.${base}`, '192.0.2.10');
  const receivers = await pods(ns, 'r', 20, 'node-b', `10.244.${base + 1}`, '192.0.2.11');
  await podsKnown();
  // flows: s_i -> r_((i+k) mod 20), k = 0..9; 50 drops each, written in 5 rounds
  const flows: [string, string][] = [];
  for (let i = 0; i < 20; i++) for (let k = 0; k < 10; k++) flows.push([`s${i}`, `r${(i + k) % 20}`]);
  assert.is(flows.length, 200);
  const t0 = Date.now();
  for (let round = 0; round < 5; round++) {
    const lines: string[] = [];
    for (const [s, r] of flows)
      for (let j = 0; j < 10; j++) lines.push(line(senders[s].ip, receivers[r].ip, 8080, 30000 + round * 10 + j));
    await journal.append(lines);
    if (round < 4) await sleep(600);
  }
  const appendMs = Date.now() - t0;
  let events: K8sEvent[] = [];
  await waitFor(
    '400 Events with count 50 each',
    async () => {
      events = await listEvents(cp, ns, 'reason=PacketDrop');
      return events.length === 400 && events.every((e) => e.count === 50);
    },
    120_000,
    500,
  ).catch((err) => {
    const counts = events.reduce((a, e) => a + e.count, 0);
    throw new Error(
      `${err.message}: ${events.length} Events, counts sum ${counts}\n${collectors[0].output().slice(-2000)}`,
    );
  });
  const doneMs = Date.now() - t0;
  const keys = byKey(events);
  assert.is(keys.size, 400);
  // per pod: 10 Events, counts summing to the 500 drops it sent or received
  for (const [name, p] of Object.entries({ ...senders, ...receivers })) {
    const mine = events.filter((e) => e.involvedObject.uid === p.uid);
    assert.is(mine.length, 10, name);
    assert.is(
      mine.reduce((a, e) => a + e.count, 0),
      500,
      name,
    );
    assert.ok(mine.every((e) => e.involvedObject.name === name && e.source.component === 'nodewarden'));
  }
  return { t0, appendMs, doneMs };
}

/** Event writes of `users` since `sinceMs`, and how far they went over one QPS/BURST budget. */
function budgetOf(users: string[], sinceMs: number) {
  const writes = users
    .flatMap((u) => auditWrites(cp, u))
    .filter((w) => w.atMs >= sinceMs - 1000)
    .sort((a, b) => a.atMs - b.atMs);
  const times = writes.map((w) => w.atMs);
  const spanS = (times[times.length - 1] - times[0]) / 1000;
  const excess = budgetExcess(times, QPS, BURST);
  const text = `${writes.length} writes (${writes.filter((w) => w.verb === 'create').length} create, ${writes.filter((w) => w.verb === 'patch').length} patch, ${writes.filter((w) => w.code === 409).length} conflicts) over ${spanS.toFixed(1)} s = ${(writes.length / spanS).toFixed(1)}/s; budget ${QPS}/s burst ${BURST}: worst window excess ${excess.toFixed(2)}`;
  return { writes, excess, text };
}

test('storm: 10,000 drops over 200 flows in ~3 s -> one Event per (pod, message), counts add up, writes within the budget', async () => {
  const { t0, appendMs, doneMs } = await storm('storm', 10);
  const b = budgetOf([COLLECTOR_USER], t0);
  console.log(`    storm: drops appended in ${appendMs} ms; all 400 Events final after ${doneMs} ms; ${b.text}`);
  assert.ok(b.excess <= 2, `writes exceeded the budget by ${b.excess}`);
  // the naive approach writes once per drop per side: 20,000; one per coalesced record is still thousands
  assert.ok(b.writes.length <= 1200, `${b.writes.length} writes`);
});

test('two collector replicas on one stream: each does part of the Event work, no duplicate Events, exact counts', async () => {
  await startCollector(REPLICA2);
  const as = await pods('duo', 'a', 5, 'node-a', '10.244.20', '192.0.2.10');
  const bs = await pods('duo', 'b', 5, 'node-b', '10.244.21', '192.0.2.11');
  await podsKnown();
  const before1 = auditWrites(cp, COLLECTOR_USER).length;
  // 25 flows x 10 rounds x 4 drops, rounds 300 ms apart: many small messages for both replicas
  for (let round = 0; round < 10; round++) {
    const lines: string[] = [];
    for (let i = 0; i < 5; i++)
      for (let j = 0; j < 5; j++)
        for (let k = 0; k < 4; k++) lines.push(line(as[`a${i}`].ip, bs[`b${j}`].ip, 5432, 40000 + round * 4 + k));
    await journal.append(lines);
    await sleep(300);
  }
  let events: K8sEvent[] = [];
  await waitFor(
    '50 Events with count 40',
    async () => {
      events = await listEvents(cp, 'duo', 'reason=PacketDrop');
      return events.length >= 50 && events.every((e) => e.count === 40);
    },
    60_000,
    250,
  ).catch((err) => {
    throw new Error(`${err.message}: ${events.length} Events, counts ${events.map((e) => e.count).join(',')}`);
  });
  await sleep(3000); // nothing late doubles anything
  events = await listEvents(cp, 'duo', 'reason=PacketDrop');
  const keys = byKey(events);
  assert.is(keys.size, 50);
  assert.ok([...keys.values()].every((c) => c === 40));
  const w1 = auditWrites(cp, COLLECTOR_USER).length - before1,
    w2 = auditWrites(cp, REPLICA2).length;
  const conflicts = auditWrites(cp, COLLECTOR_USER)
    .concat(auditWrites(cp, REPLICA2))
    .filter((w) => w.code === 409).length;
  console.log(`    replicas: writes replica1 ${w1}, replica2 ${w2}, 409 conflicts resolved ${conflicts}`);
  assert.ok(w1 > 0 && w2 > 0, 'both replicas wrote Events');
});

test('two replicas share one budget: they find each other, and a storm through both stays within --event-qps/--event-burst', async () => {
  await waitFor(
    'both replicas count two',
    async () => (await Promise.all(ports.map(replicasOf))).every((n) => n === 2),
    15_000,
    250,
  );
  const observed = () =>
    Promise.all(ports.map((port) => metricOf(port, 'nodewarden_collector_events_observed_occurrences_total')));
  const before = await observed();
  const { t0, doneMs } = await storm('shared', 40);
  const seen = (await observed()).map((n, i) => n - before[i]);
  const b = budgetOf([COLLECTOR_USER, REPLICA2], t0);
  const mine = (u: string) => auditWrites(cp, u).filter((w) => w.atMs >= t0 - 1000).length;
  console.log(
    `    shared budget: all 400 Events final after ${doneMs} ms; both replicas together ${b.text}; occurrences observed ${seen.join(' + ')}`,
  );
  // Each on its own budget, two replicas could write twice it: the 400 creates alone would exceed it.
  assert.ok(b.excess <= 2, `the two replicas together exceeded one budget by ${b.excess}`);
  // JetStream hands each message to one replica (under load a storm may go to one alone, which then
  // writes with the whole budget): a replica that got work wrote it.
  const wrote = [mine(COLLECTOR_USER), mine(REPLICA2)];
  assert.ok(seen[0] + seen[1] > 0, 'occurrences observed');
  for (const i of [0, 1]) if (seen[i] > 0) assert.ok(wrote[i] > 0, `replica ${i + 1} observed ${seen[i]}, wrote none`);
});

test('kube-apiserver restarted mid-run: pod caches resync, Events resume with every count, no crash', async () => {
  const cs = await pods('bounce', 'c', 1, 'node-a', '10.244.30', '192.0.2.10');
  const ds = await pods('bounce', 'd', 1, 'node-b', '10.244.31', '192.0.2.11');
  await podsKnown();
  let written = 0;
  let stop = false;
  const writer = (async () => {
    for (let i = 0; !stop; i++) {
      await journal.append([line(cs.c0.ip, ds.d0.ip, 9000, 41000 + i), line(cs.c0.ip, ds.d0.ip, 9000, 42000 + i)]);
      written += 2;
      await sleep(250);
    }
  })();
  await sleep(2000);
  const restart = Date.now();
  await cp.restartApiserver();
  const downMs = Date.now() - restart;
  // a pod created after the restart is only known through the re-established watch
  const late = (
    await cp.createPod('bounce', 'late', { nodeName: 'node-b', podIP: '10.244.31.200', hostIP: '192.0.2.11' })
  ).uid;
  created++;
  await podsKnown(); // only through the re-established watch
  await journal.append([
    line(cs.c0.ip, '10.244.31.200', 9001, 43000),
    line(cs.c0.ip, '10.244.31.200', 9001, 43001),
    line(cs.c0.ip, '10.244.31.200', 9001, 43002),
  ]);
  await sleep(2000);
  stop = true;
  await writer;
  const send = `Packet dropped when sending traffic to bounce/d0 (${ds.d0.ip}) on port 9000/TCP`;
  let events: K8sEvent[] = [];
  await waitFor(
    `counts ${written} after the restart`,
    async () => {
      events = await listEvents(cp, 'bounce', 'reason=PacketDrop');
      const s = events.find((e) => e.message === send);
      const r = events.find((e) => e.involvedObject.uid === ds.d0.uid);
      const l = events.find((e) => e.involvedObject.uid === late);
      return s?.count === written && r?.count === written && l?.count === 3;
    },
    60_000,
    250,
  ).catch(async (err) => {
    const api = await (await fetch(`http://127.0.0.1:${ports[0]}/api/v1/drops?namespace=bounce`)).json();
    throw new Error(
      `${err.message}: ${JSON.stringify(events.map((e) => [e.involvedObject.name, e.message, e.count]))}\nAPI: ${JSON.stringify(api).slice(0, 1500)}\n--- collector 1:\n${collectors[0].output().slice(-6000)}\n--- collector 2:\n${collectors[1]?.output().slice(-6000)}`,
    );
  });
  byKey(events);
  console.log(`    apiserver down ${downMs} ms; ${written} drops written across it; all counted`);
  for (const [i, c] of collectors.entries()) {
    assert.is(c.child.exitCode, null, `collector ${i} crashed:\n${c.output().slice(-2000)}`);
    assert.is((await fetch(`http://127.0.0.1:${ports[i]}/readyz`)).status, 200);
    assert.match(c.output(), /"reason":"(expired|error)","msg":"kube: pod cache synced"/, 'relisted after the restart');
  }
});

test('a replica that stops cleanly leaves the budget to the other at once (its goodbye), not after 15 s', async () => {
  assert.is(await replicasOf(ports[0]), 2);
  const t0 = Date.now();
  await collectors[1].stop('SIGTERM');
  await waitFor('replica 1 counts itself alone', async () => (await replicasOf(ports[0])) === 1, 5000, 100);
  console.log(`    the other replica wrote the whole budget again ${Date.now() - t0} ms after the SIGTERM`);
  assert.match(collectors[0].output(), /"replicas":1,[^\n]*"msg":"events: collector replicas share the Event budget/);
});

test.run();
