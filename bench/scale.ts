// `npm run bench -- scale`: N simulated agents (bench/load/, the real outbox/publisher, in 2 generator
// processes whose CPU is their own) on a 3-node NATS cluster (R3 stream), two collector replicas with
// a 10,000-pod --pods-file. Per N: steady state (cost per node), then the seed-incident storm (every
// node 50 flows x 20 drops/s): ingest per replica, publish -> API latency, CPU/RSS of collectors and
// NATS nodes, lag, exact counts. N grows (BENCH_SCALE_N, default 50,100,250,500,1000,2000) until a step does
// not keep up. Then the Events part against a real kube-apiserver (writes/s vs budget, exact counts).
// BENCH_SCALE_STEADY_SECONDS (default 40) and BENCH_SCALE_STORM_SECONDS (default 30) bound each step.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { generatePods, nodeName, type FleetCounts, type FleetStats, type SimPod } from './load/agents.js';
import { startFleetProc, type FleetProc, type Marker } from './load/fleet-client.js';
import { apiFlowCounts, diffCounts, expectedPodEventTotals, podEventTotals } from './load/truth.js';
import { procStats } from './proc-stats.js';
import { startNatsCluster, type NatsCluster } from '../test/support/nats-cluster.js';
import { natsServerBin } from '../test/support/nats-callout.js';
import { startControlPlane } from '../test/support/kube.js';
import { grantCollector, auditWrites, COLLECTOR_USER } from '../test/fixtures/kube/helpers.js';
import { startCli, type Proc } from '../test/support/procs.js';
import { freePort, waitFor, sleep } from '../test/support/wait.js';
import { STREAM } from '../common/subjects.js';

type Record_ = (key: string, label: string, value: number, unit: string, digits?: number) => void;

const STEPS = (process.env.BENCH_SCALE_N ?? '50,100,250,500,1000,2000')
  .split(',')
  .map(Number)
  .filter((n) => n > 0);
const STEADY_S = Number(process.env.BENCH_SCALE_STEADY_SECONDS ?? 40);
const STORM_S = Number(process.env.BENCH_SCALE_STORM_SECONDS ?? 30);
const PODS = 10_000;
const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? NaN;
};

interface Collector {
  port: number;
  proc: Proc;
  api: string;
  args: string[];
}

async function startCollectors(args: string[], env: NodeJS.ProcessEnv): Promise<Collector[]> {
  const out: Collector[] = [];
  for (let i = 0; i < 2; i++) {
    const port = await freePort();
    const argv = ['collector', ...args, '--listen', `127.0.0.1:${port}`, '--stream-replicas', '3'];
    out.push({ port, proc: startCli(argv, env), api: `http://127.0.0.1:${port}`, args: argv });
  }
  for (const c of out) {
    await waitFor(
      'collector ready',
      async () => (await fetch(`${c.api}/readyz`).catch(() => undefined))?.status === 200,
      120_000,
      250,
    ).catch((err: Error) => {
      throw new Error(`${err.message}\n${c.proc.output().slice(-2000)}`);
    });
  }
  return out;
}

async function consumed(c: Collector): Promise<number> {
  const text = await (await fetch(`${c.api}/metrics`, { signal: AbortSignal.timeout(10_000) })).text();
  return sum([...text.matchAll(/^nodewarden_collector_messages_total\{[^}]*\} (\S+)/gm)].map((m) => Number(m[1])));
}

async function readSeq(c: Collector): Promise<number> {
  const text = await (await fetch(`${c.api}/metrics`, { signal: AbortSignal.timeout(10_000) })).text();
  return Number(/^nodewarden_collector_stream_read_seq (\S+)/m.exec(text)?.[1] ?? NaN);
}

async function streamState(nc: NatsConnection): Promise<{ lastSeq: number; bytes: number }> {
  const s = (await (await jetstreamManager(nc)).streams.info(STREAM)).state;
  return { lastSeq: s.last_seq, bytes: s.bytes };
}

function fleets(
  n: number,
  urls: string,
  pods: SimPod[],
  dnsIps: string[],
  dir: string,
  onMarker: (m: Marker) => void,
): FleetProc[] {
  // Two generator processes: 1,000 connections and their outboxes are more than one core's work.
  const half = Math.ceil(n / 2);
  return [0, 1].map((k) =>
    startFleetProc(
      {
        first: k * half,
        n: k ? n - half : half,
        nats: urls,
        stateRoot: mkdtempSync(join('/dev/shm', 'nw-scale-')),
        pods,
        dnsIps,
      },
      dir,
      onMarker,
    ),
  );
}

const mergeStats = (ss: FleetStats[]) => ({
  messages: sum(ss.map((s) => sum(Object.values(s.messages)))),
  bytes: sum(ss.map((s) => sum(Object.values(s.bytes)))),
  flows: sum(ss.map((s) => s.outbox.flows_sealed ?? 0)),
  spooled: sum(ss.map((s) => s.spooled)),
  errors: sum(ss.map((s) => s.outbox.publish_errors ?? 0)),
});
const mergeCounts = (cs: FleetCounts[]): FleetCounts => ({
  drops: sum(cs.map((c) => c.drops)),
  flows: Object.assign({}, ...cs.map((c) => c.flows)),
});

/** One step: returns whether the collectors kept up with the storm. */
async function step(n: number, bin: string, record: Record_, env: NodeJS.ProcessEnv): Promise<boolean> {
  const dir = mkdtempSync(join(tmpdir(), 'nw-bench-scale-'));
  let cluster: NatsCluster | undefined;
  let cols: Collector[] = [];
  let gens: FleetProc[] = [];
  let nc: NatsConnection | undefined;
  const tag = (k: string) => `scale_n${n}_${k}`;
  try {
    process.stderr.write(`scale: N=${n} agents (steady ${STEADY_S} s, storm ${STORM_S} s)\n`);
    cluster = await startNatsCluster({ binary: bin });
    await cluster.waitForMetaLeader();
    const { pods, dnsIps, podList } = generatePods(PODS, n);
    const podsFile = join(dir, 'pods.json');
    writeFileSync(podsFile, JSON.stringify(podList));
    cols = await startCollectors(['--nats', cluster.urls, '--pods-file', podsFile], env);
    nc = await connect({ servers: cluster.urls });
    const markers: Marker[] = [];
    gens = fleets(n, cluster.urls, pods, dnsIps, dir, (m) => markers.push(m));
    const t0 = performance.now();
    await Promise.all(gens.map((g) => g.call('start', { timeoutMs: 180_000 })));
    process.stderr.write(`  ${n} agents connected in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);

    const cpu = (pids: number[]) => pids.map((p) => procStats(p).cpuS);
    const colPids = cols.map((c) => c.proc.child.pid!);
    const natsPids = cluster.nodes.map((x) => x.pid()!);
    const genPids = gens.map((g) => g.pid);

    // Steady state: cost per node.
    await Promise.all(gens.map((g) => g.call('steady')));
    await sleep(10_000); // every timer has fired once (they are spread over their interval)
    let c0 = cpu(colPids),
      g0 = cpu(genPids),
      s0 = mergeStats(await Promise.all(gens.map((g) => g.stats()))),
      st0 = await streamState(nc);
    let w0 = performance.now();
    await sleep(STEADY_S * 1000);
    let secs = (performance.now() - w0) / 1000;
    let c1 = cpu(colPids),
      g1 = cpu(genPids),
      s1 = mergeStats(await Promise.all(gens.map((g) => g.stats()))),
      st1 = await streamState(nc);
    const perMin = secs / 60;
    record(
      tag('steady_collector_cpu_ms_per_agent_min'),
      `N=${n} steady: collector CPU per agent per minute (per replica)`,
      ((sum(c1) - sum(c0)) * 1000) / cols.length / n / perMin,
      'CPU-ms',
      2,
    );
    record(
      tag('steady_bytes_per_agent_min'),
      `N=${n} steady: payload bytes per agent per minute`,
      (s1.bytes - s0.bytes) / n / perMin,
      'B',
      0,
    );
    record(
      tag('steady_stream_bytes_per_agent_min'),
      `N=${n} steady: stream bytes per agent per minute (per NATS replica)`,
      (st1.bytes - st0.bytes) / n / perMin,
      'B',
      0,
    );
    record(
      tag('steady_msgs_per_agent_min'),
      `N=${n} steady: messages per agent per minute`,
      (s1.messages - s0.messages) / n / perMin,
      'messages',
      1,
    );
    record(
      tag('steady_generator_cpu_cores'),
      `N=${n} steady: load generator CPU (not the collector's)`,
      (sum(g1) - sum(g0)) / secs,
      'cores',
      3,
    );

    // The storm, with latency probes (a new flow each, added through the same outbox).
    markers.length = 0;
    const lat: { atMs: number; ms: number }[] = [];
    let polling = true;
    const pending = new Map<string, Marker>();
    const poller = (async () => {
      while (polling || pending.size) {
        for (const m of markers.splice(0)) pending.set(`${m.node}|${m.port}`, m);
        const nodes = [...new Set([...pending.values()].map((m) => m.node))];
        for (const node of nodes) {
          const r = await fetch(`${cols[0].api}/api/v1/drops?node=${node}&since=10m&limit=10000`, {
            signal: AbortSignal.timeout(30_000),
          })
            .then((x) => x.json() as Promise<{ items: { dst: { port?: number } }[] }>)
            .catch(() => ({ items: [] }));
          const now = Date.now();
          for (const f of r.items) {
            const m = pending.get(`${node}|${f.dst.port}`);
            if (m) {
              lat.push({ atMs: m.atMs, ms: now - m.atMs });
              pending.delete(`${node}|${f.dst.port}`);
            }
          }
        }
        if (!polling && [...pending.values()].every((m) => Date.now() - m.atMs > 60_000)) break;
        await sleep(100);
      }
    })();
    c0 = cpu(colPids);
    g0 = cpu(genPids);
    const n0 = cpu(natsPids);
    st0 = await streamState(nc);
    const k0 = await Promise.all(cols.map(consumed));
    s0 = mergeStats(await Promise.all(gens.map((g) => g.stats())));
    w0 = performance.now();
    const stormStartMs = Date.now();
    const colRss: number[] = [0, 0],
      natsRss = cluster.nodes.map(() => 0);
    const lagAt: number[] = [];
    const sampler = setInterval(() => {
      colPids.forEach((p, i) => {
        colRss[i] = Math.max(colRss[i], procStats(p).rssMiB);
      });
      natsPids.forEach((p, i) => {
        natsRss[i] = Math.max(natsRss[i], procStats(p).rssMiB);
      });
    }, 1000);
    const lagSampler = (async () => {
      for (let t = 0; t < 3; t++) {
        await sleep((STORM_S * 1000) / 3);
        const [st, k] = await Promise.all([streamState(nc!), readSeq(cols[0])]);
        lagAt.push(st.lastSeq - k);
      }
    })();
    // One latency probe per generator every 0.5 s.
    await Promise.all(gens.map((g) => g.call('storm', { seconds: STORM_S, markerEveryTicks: 5 })));
    secs = (performance.now() - w0) / 1000;
    clearInterval(sampler);
    c1 = cpu(colPids);
    g1 = cpu(genPids);
    const n1 = cpu(natsPids);
    const k1 = await Promise.all(cols.map(consumed));
    st1 = await streamState(nc);
    s1 = mergeStats(await Promise.all(gens.map((g) => g.stats())));
    await lagSampler;
    const published = st1.lastSeq - st0.lastSeq;
    const flowsPerMsg = (s1.flows - s0.flows) / Math.max(1, s1.messages - s0.messages);
    record(
      tag('storm_published_msgs_per_s'),
      `N=${n} storm: messages/s into the stream`,
      published / secs,
      'messages/s',
    );
    // With every simulated agent's 100 ms windows on time (its own node's CPU), the storm would make this many.
    record(
      tag('storm_nominal_flows_per_s'),
      `N=${n} storm: flow records/s with on-time 100 ms windows (N x 50 x 10)`,
      n * 500,
      'flow records/s',
    );
    cols.forEach((_, i) => {
      const got = (k1[i] - k0[i]) / secs;
      record(
        tag(`storm_replica${i}_flows_per_cpu_s`),
        `N=${n} storm: replica ${i} flow records per CPU-second`,
        ((got * flowsPerMsg) / Math.max(1e-9, c1[i] - c0[i])) * secs,
        'flow records/CPU-s',
      );
      record(tag(`storm_replica${i}_msgs_per_s`), `N=${n} storm: replica ${i} ingest`, got, 'messages/s');
      record(
        tag(`storm_replica${i}_flows_per_s`),
        `N=${n} storm: replica ${i} ingest, flow records`,
        got * flowsPerMsg,
        'flow records/s',
      );
      record(tag(`storm_replica${i}_cpu_cores`), `N=${n} storm: replica ${i} CPU`, (c1[i] - c0[i]) / secs, 'cores', 2);
      record(tag(`storm_replica${i}_rss_mib`), `N=${n} storm: replica ${i} RSS (max)`, colRss[i], 'MiB', 1);
    });
    cluster.nodes.forEach((x, i) => {
      record(
        tag(`storm_nats_${x.name}_cpu_cores`),
        `N=${n} storm: NATS ${x.name} CPU`,
        (n1[i] - n0[i]) / secs,
        'cores',
        2,
      );
      record(tag(`storm_nats_${x.name}_rss_mib`), `N=${n} storm: NATS ${x.name} RSS (max)`, natsRss[i], 'MiB', 1);
    });
    record(
      tag('storm_generator_cpu_cores'),
      `N=${n} storm: load generator CPU (2 processes, not the collector's)`,
      (sum(g1) - sum(g0)) / secs,
      'cores',
      2,
    );
    record(
      tag('storm_lag_thirds'),
      `N=${n} storm: replica 0 lag behind the stream at 1/3, 2/3, end`,
      lagAt[lagAt.length - 1] ?? NaN,
      `messages (${lagAt.join(' / ')})`,
    );
    record(
      tag('storm_agent_spool_end'),
      `N=${n} storm: envelopes spooled in agents at the end (not yet acked)`,
      s1.spooled,
      'envelopes',
    );

    // Drain: everything the agents have reaches the stream, the replicas catch up; counts exact.
    const d0 = performance.now();
    // No more steady drops from here: the truth taken once drained must stay the truth while compared.
    await Promise.all(gens.map((g) => g.call('stopSteady')));
    await Promise.all(gens.map((g) => g.call('drained', { timeoutMs: 180_000 })));
    const last = (await streamState(nc)).lastSeq;
    const caughtUp = await waitFor(
      'replicas caught up',
      async () => (await Promise.all(cols.map(readSeq))).every((k) => k >= last),
      120_000,
      500,
    ).then(
      () => true,
      () => false,
    );
    record(
      tag('catch_up_s'),
      `N=${n} after the storm: agents drained and both replicas caught up in`,
      (performance.now() - d0) / 1000,
      caughtUp ? 's' : 's (not caught up: bound hit)',
      1,
    );
    polling = false;
    await poller;
    const during = lat.map((l) => l.ms);
    const third = (k: number) =>
      lat.filter((l) => Math.floor(((l.atMs - stormStartMs) * 3) / (STORM_S * 1000)) === k).map((l) => l.ms);
    record(
      tag('storm_latency_p50_ms'),
      `N=${n} storm: publish -> API latency p50 (${during.length} probes)`,
      pct(during, 0.5),
      'ms',
    );
    record(tag('storm_latency_p99_ms'), `N=${n} storm: publish -> API latency p99`, pct(during, 0.99), 'ms');
    record(
      tag('storm_latency_p50_last_third_ms'),
      `N=${n} storm: latency p50, first third -> last third`,
      pct(third(2), 0.5),
      `ms (first third ${pct(third(0), 0.5)} ms)`,
    );
    const truth = mergeCounts(await Promise.all(gens.map((g) => g.snapshot())));
    const nodes = Array.from({ length: n }, (_, i) => nodeName(i));
    // Exact once caught up; a few bounded attempts (1,000 per-node queries each at N=1000).
    let diffs: string[][] = [];
    for (let attempt = 0; attempt < (caughtUp ? 3 : 1); attempt++) {
      diffs = await Promise.all(cols.map(async (c) => diffCounts(truth.flows, await apiFlowCounts(c.api, nodes))));
      if (diffs.every((d) => d.length === 0)) break;
      await sleep(5000);
    }
    diffs.forEach((d, i) => {
      if (d.length)
        process.stderr.write(`  replica ${i}: ${d.length} flows differ, e.g. ${d.slice(0, 5).join('; ')}\n`);
    });
    record(
      tag('counts_differing_flows'),
      `N=${n}: flows whose API count differs from what the agents published (both replicas)`,
      sum(diffs.map((d) => d.length)),
      `of ${sum(Object.values(truth.flows).map((f) => Object.keys(f).length))} flows, ${truth.drops} drops`,
    );
    // The design limit: a replica (re)starting replays the whole retained stream before it is ready.
    const held = await streamState(nc);
    await cols[1].proc.stop();
    const r0 = performance.now();
    const restarted = startCli(cols[1].args, env);
    cols[1] = { ...cols[1], proc: restarted };
    const ready = await waitFor(
      'restarted replica ready',
      async () => (await fetch(`${cols[1].api}/readyz`).catch(() => undefined))?.status === 200,
      180_000,
      250,
    ).then(
      () => true,
      () => false,
    );
    const replayS = (performance.now() - r0) / 1000;
    record(
      tag('replay_s'),
      `N=${n}: a restarted replica replays the stream (${held.lastSeq} messages, ${(held.bytes / 2 ** 20).toFixed(1)} MiB) and is ready in`,
      replayS,
      ready ? 's' : 's (not ready: bound hit)',
      1,
    );
    record(tag('replay_msgs_per_s'), `N=${n}: replay rate (incl. start-up)`, held.lastSeq / replayS, 'messages/s');
    record(
      tag('replay_rss_mib'),
      `N=${n}: restarted replica RSS when ready`,
      procStats(restarted.child.pid!).rssMiB,
      'MiB',
      1,
    );
    // Kept up: from the first third of the storm to its end the replica's lag grew by less than one
    // second of messages, no agent kept a backlog, and every count is exact once caught up. Latency is
    // reported, not judged. How much of the nominal storm the starved agents made is reported beside it
    // (their windows stretch under CPU pressure and coalesce more).
    const lagGrew = lagAt.length < 3 || lagAt[2] - lagAt[0] > published / secs;
    const delivered = (((k1[1] - k0[1]) / secs) * flowsPerMsg) / (n * 500);
    record(tag('storm_delivered_over_nominal'), `N=${n} storm: flow records delivered / nominal`, delivered, '×', 2);
    const kept = !lagGrew && diffs.every((d) => d.length === 0) && s1.spooled <= n;
    record(
      tag('sustained'),
      `N=${n}: sustained (lag not growing, no agent backlog, counts exact)`,
      kept ? 1 : 0,
      kept ? 'yes' : 'no',
    );
    return kept;
  } finally {
    for (const g of gens) await g.stop();
    for (const c of cols) await c.proc.stop();
    await nc?.close().catch(() => undefined);
    await cluster?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Events against the real kube-apiserver: writes/s vs the default budget, and exact counts after the storm. */
async function eventsPart(bin: string, record: Record_, env: NodeJS.ProcessEnv): Promise<void> {
  const n = 200,
    KNOWN = 20;
  process.stderr.write(`scale/events: N=${n} agents, ${KNOWN} pods in a real kube-apiserver, default Event budget\n`);
  const dir = mkdtempSync(join(tmpdir(), 'nw-bench-scale-ev-'));
  const cluster = await startNatsCluster({ binary: bin });
  const cp = await startControlPlane({ users: [{ name: COLLECTOR_USER }] });
  let cols: Collector[] = [];
  let gens: FleetProc[] = [];
  try {
    await cluster.waitForMetaLeader();
    await grantCollector(cp);
    const { pods, dnsIps } = generatePods(PODS, n);
    const known = pods.slice(0, KNOWN);
    for (const ns of new Set(known.map((p) => p.namespace))) await cp.createNamespace(ns);
    for (const p of known) await cp.createPod(p.namespace, p.name, { nodeName: nodeName(p.node), podIP: p.ip });
    cols = await startCollectors(['--nats', cluster.urls, '--kubeconfig', cp.kubeconfig(COLLECTOR_USER)], env);
    gens = fleets(n, cluster.urls, pods, dnsIps, dir, () => undefined);
    await Promise.all(gens.map((g) => g.call('start', { timeoutMs: 180_000 })));
    const t0 = Date.now();
    await Promise.all(gens.map((g) => g.call('storm', { seconds: STORM_S })));
    const stormEnd = Date.now();
    await Promise.all(gens.map((g) => g.call('drained', { timeoutMs: 180_000 })));
    const truth = mergeCounts(await Promise.all(gens.map((g) => g.snapshot())));
    const want = expectedPodEventTotals(truth, known);
    let got: Record<string, number> = {};
    await waitFor(
      'Event counts settle',
      async () => {
        got = await podEventTotals(cp, known);
        return JSON.stringify(got) === JSON.stringify(want);
      },
      180_000,
      1000,
    ).catch(() => undefined);
    const settled = Date.now();
    const writes = auditWrites(cp).filter((w) => w.atMs >= t0);
    const stormWrites = writes.filter((w) => w.atMs <= stormEnd);
    record(
      'scale_events_writes_per_s',
      `events: Event writes/s during the storm (budget --event-qps 5, burst 50)`,
      stormWrites.length / ((stormEnd - t0) / 1000),
      'writes/s',
      2,
    );
    record(
      'scale_events_settle_s',
      'events: all counts written after the storm in',
      (settled - stormEnd) / 1000,
      's',
      1,
    );
    const w = sum(Object.values(want)),
      g = sum(Object.values(got));
    record(
      'scale_events_counts_exact',
      `events: Event occurrences counted / published (${KNOWN} pods, ${w} occurrences)`,
      g / Math.max(1, w),
      '×',
      4,
    );
  } finally {
    for (const g of gens) await g.stop();
    for (const c of cols) await c.proc.stop();
    await cluster.stop();
    await cp.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function scaleBench(record: Record_, collectorEnv: NodeJS.ProcessEnv): Promise<void> {
  const bin = natsServerBin();
  let largest = 0;
  for (const n of STEPS) {
    if (!(await step(n, bin, record, collectorEnv))) break;
    largest = n;
  }
  record(
    'scale_largest_n_sustained',
    'largest N sustained (2 collector replicas, 3 NATS nodes, one 2-core machine)',
    largest,
    'agents',
  );
  if (process.env.BENCH_SCALE_EVENTS !== '0') await eventsPart(bin, record, collectorEnv);
}
