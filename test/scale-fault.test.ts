// Fault under load (docs/architecture.md#data-flow): 50 simulated agents (the real outbox/publisher,
// bench/load/agents.ts) storm a 3-node NATS cluster (R3 stream) read by two collector replicas that
// share the Event consumer and write Events into a real kube-apiserver. During the storm the stream
// leader's nats-server is SIGKILLed for 30 s, later one collector replica is SIGKILLed and started
// again. What users see must equal what the agents published: every flow count in both replicas'
// API exactly (no loss, no double count), and every PacketDrop Event count in the API server.
// Run: node --import tsx test/scale-fault.test.ts
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { Fleet, generatePods, nodeName, type FleetCounts, type SimPod } from '../bench/load/agents.js';
import { apiFlowCounts, diffCounts, podEventTotals, expectedPodEventTotals } from '../bench/load/truth.js';
import { startNatsCluster, type NatsCluster } from './support/nats-cluster.js';
import { natsServerBin } from './support/nats-callout.js';
import { startControlPlane, type ControlPlane } from './support/kube.js';
import { grantCollector, COLLECTOR_USER } from './fixtures/kube/helpers.js';
import { startCli, type Proc } from './support/procs.js';
import { freePort, waitFor, sleep } from './support/wait.js';
import { STREAM } from '../common/subjects.js';

const AGENTS = 50;
/** Pods the API server knows (so their drops become Events); every other IP stays unnamed. */
const KNOWN = 10;
const UPDATE_MS = 2000;

let cluster: NatsCluster;
let cp: ControlPlane;
let fleet: Fleet;
const collectors: { port: number; proc: Proc; args: string[] }[] = [];
let known: SimPod[] = [];

const api = (i: number) => `http://127.0.0.1:${collectors[i].port}`;
const metric = async (i: number, name: string): Promise<number> => {
  const text = await (await fetch(`${api(i)}/metrics`, { signal: AbortSignal.timeout(3000) })).text();
  const v = new RegExp(`^${name} (\\S+)`, 'm').exec(text)?.[1];
  if (v === undefined) throw new Error(`replica ${i} exposes no ${name}`);
  return Number(v);
};

async function startCollector(i: number): Promise<void> {
  const c = collectors[i];
  c.proc = startCli(c.args);
  await waitFor(
    `collector ${i} ready`,
    async () =>
      (await fetch(`${api(i)}/readyz`, { signal: AbortSignal.timeout(3000) }).catch(() => undefined))?.status === 200,
    90_000,
    250,
  ).catch((err: Error) => {
    throw new Error(`${err.message}\n--- collector output:\n${c.proc.output().slice(-3000)}`);
  });
}

/** Both replicas' API equals the agents' truth, flow by flow (bounded wait, then an exact comparison). */
async function assertApiExact(truth: FleetCounts, what: string): Promise<void> {
  for (let i = 0; i < collectors.length; i++) {
    let got: FleetCounts['flows'] = {};
    await waitFor(
      `replica ${i} API equals what the agents published (${what})`,
      async () => {
        got = await apiFlowCounts(api(i), Object.keys(truth.flows));
        return diffCounts(truth.flows, got).length === 0;
      },
      90_000,
      500,
    ).catch(() => undefined);
    const diff = diffCounts(truth.flows, got);
    if (diff.length) {
      const m = (await (await fetch(`${api(i)}/metrics`)).text())
        .split('\n')
        .filter((l) => /^nodewarden_collector_messages_total/.test(l));
      console.log(
        `    replica ${i}: ${diff.length} flows differ; ${m.join('; ')}; fleet ${JSON.stringify(fleet.stats().outbox)}\n--- collector log:\n${collectors[
          i
        ].proc
          .output()
          .split('\n')
          .filter((l) => /"level":(40|50)/.test(l))
          .slice(-30)
          .join('\n')}`,
      );
    }
    assert.equal(diff.slice(0, 10), [], `replica ${i}: ${what}`);
  }
}

test.before(async () => {
  try {
    await setup();
  } catch (err) {
    console.error(err);
    throw err;
  }
});

async function setup(): Promise<void> {
  cluster = await startNatsCluster({ binary: natsServerBin() });
  await cluster.waitForMetaLeader();
  cp = await startControlPlane({ users: [{ name: COLLECTOR_USER }] });
  await grantCollector(cp);
  const { pods, dnsIps } = generatePods(10_000, AGENTS);
  // The first pod of the first KNOWN nodes: each is the source of that node's first storm flow.
  known = pods.slice(0, KNOWN);
  for (const p of known) {
    await cp.createNamespace(p.namespace);
    await cp.createPod(p.namespace, p.name, { nodeName: nodeName(p.node), podIP: p.ip });
  }
  for (let i = 0; i < 2; i++) {
    const port = await freePort();
    collectors.push({
      port,
      proc: undefined as unknown as Proc,
      args: [
        'collector',
        '--nats',
        cluster.urls,
        '--listen',
        `127.0.0.1:${port}`,
        '--kubeconfig',
        cp.kubeconfig(COLLECTOR_USER),
        '--stream-replicas',
        '3',
        '--event-qps',
        '50',
        '--event-burst',
        '100',
        '--event-object-burst',
        '200',
        '--event-update-interval',
        `${UPDATE_MS}ms`,
        '--stream-check-interval',
        '1s',
      ],
    });
    await startCollector(i);
  }
  fleet = new Fleet({
    n: AGENTS,
    nats: cluster.urls,
    stateRoot: mkdtempSync(join('/dev/shm', 'nw-scale-fault-')),
    pods,
    dnsIps,
  });
  await fleet.start();
  // Heartbeats and runtime snapshots only: drops come from the storms, so a count taken now stays the truth.
  fleet.steady({ flowsPerMinute: 0 });
}

test.after(async () => {
  await fleet?.stop();
  for (const c of collectors) await c.proc?.stop('SIGKILL');
  await cluster?.stop();
  await cp?.stop();
});

test("storm with the stream leader's NATS node SIGKILLed for 30 s: API and Event counts exact", async () => {
  const nc = await connect({ servers: cluster.urls });
  const jsm = await jetstreamManager(nc);
  const leader = (await jsm.streams.info(STREAM)).cluster?.leader;
  const victim = cluster.nodes.find((n) => n.name === leader) ?? cluster.nodes[0];
  const storm = fleet.storm({ seconds: 45 });
  await sleep(5000);
  await victim.kill();
  // 30 s down, bounded; the storm goes on meanwhile, and the two remaining nodes keep the R3 stream
  // taking messages (a new leader), rather than the agents merely waiting for the node to return.
  await sleep(10_000);
  const seqDown = (await jsm.streams.info(STREAM)).state.last_seq;
  await sleep(20_000);
  const during = await jsm.streams.info(STREAM);
  await nc.close();
  assert.ok(during.state.last_seq > seqDown, `the stream took no messages while ${victim.name} was down`);
  assert.is.not(during.cluster?.leader, victim.name);
  await victim.start();
  await storm;
  await fleet.drained();
  const truth = fleet.snapshot();
  const s = fleet.stats();
  console.log(
    `    ${truth.drops} drops published by ${AGENTS} agents; ${s.outbox.publish_errors ?? 0} publish errors retried, ${s.outbox.publish_duplicates_unexpected ?? 0} usurped IDs; ${victim.name} (stream leader) down 30 s`,
  );
  await assertApiExact(truth, 'after the NATS node outage');
  // What an operator watches for this: each replica's position in the stream, and no lag once caught up.
  for (let i = 0; i < collectors.length; i++) {
    await waitFor(
      `replica ${i} lag gauge back to 0`,
      async () => (await metric(i, 'nodewarden_collector_stream_lag_messages')) === 0,
      30_000,
      500,
    );
    assert.ok((await metric(i, 'nodewarden_collector_stream_read_seq')) > 1000, `replica ${i} read position`);
  }
  const want = expectedPodEventTotals(truth, known);
  let got: Record<string, number> = {};
  await waitFor(
    'Event counts equal the published drops',
    async () => {
      got = await podEventTotals(cp, known);
      return JSON.stringify(got) === JSON.stringify(want);
    },
    90_000,
    1000,
  ).catch(() => undefined);
  assert.equal(got, want, 'PacketDrop Event counts per pod');
  // Nothing arrives twice later (a redelivered message written again would show up now).
  await sleep(2 * UPDATE_MS + 1000);
  assert.equal(await podEventTotals(cp, known), want, 'Event counts stay exact');
});

test('storm with a collector replica SIGKILLed and started again: both APIs and every Event count exact', async () => {
  const storm = fleet.storm({ seconds: 16 });
  await sleep(8000);
  // The victim holds acks for what it has read and not yet written: JetStream delivers those again
  // (to the survivor, or to the victim once restarted) and the Events' stream-sequence record keeps
  // what was written before the kill from counting twice.
  const unacked = await metric(1, 'nodewarden_collector_events_unacked_messages');
  const pending = await metric(1, 'nodewarden_collector_events_pending_occurrences');
  await collectors[1].proc.stop('SIGKILL');
  await startCollector(1);
  await storm;
  await fleet.drained();
  const truth = fleet.snapshot();
  await assertApiExact(truth, 'after the replica restart (the restarted one replayed the stream)');
  const want = expectedPodEventTotals(truth, known);
  let got: Record<string, number> = {};
  // Redelivery waits for the ack wait (30 s) of what the victim held.
  await waitFor(
    'Event counts equal the published drops',
    async () => {
      got = await podEventTotals(cp, known);
      return JSON.stringify(got) === JSON.stringify(want);
    },
    90_000,
    1000,
  ).catch(() => undefined);
  const early =
    (await metric(0, 'nodewarden_collector_events_acked_unwritten_messages_total')) +
    (await metric(1, 'nodewarden_collector_events_acked_unwritten_messages_total'));
  const skipped =
    (await metric(0, 'nodewarden_collector_events_redelivered_occurrences_total')) +
    (await metric(1, 'nodewarden_collector_events_redelivered_occurrences_total'));
  console.log(
    `    the killed replica held ${unacked} messages unacked (${pending} occurrences unwritten); after redelivery ${skipped} occurrences were recognised as already counted; ${early} messages acked unwritten`,
  );
  assert.ok(unacked > 0, 'the kill hit a replica holding unacked messages (else it proves nothing)');
  assert.equal(got, want, 'PacketDrop Event counts per pod');
  await sleep(2 * UPDATE_MS + 1000);
  assert.equal(await podEventTotals(cp, known), want, 'Event counts stay exact');
});

test.run();
