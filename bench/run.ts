// `npm run bench`: parser throughput, agent pipeline throughput/RSS/CPU, journal line -> API latency
// at a sustained rate, collector ingest rate. Prints a table and writes bench/results.json.
// Never part of `npm test`. BENCH_SECONDS (default 60) sets the sustained-load phase, BENCH_IDLE_SECONDS
// (default 60) the probe-cost phase; arguments pick sections (explain parser logs pipeline ingest ingest-1m probes
// runtime scale;
// scale is bench/scale.ts, with its own BENCH_SCALE_* variables).
import { writeFileSync, readFileSync } from 'node:fs';
import { spawn, spawnSync } from 'node:child_process';
import { appendFile } from 'node:fs/promises';
import { join } from 'node:path';
import { cpus, totalmem } from 'node:os';
import { connect } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { parseDropMessage, DEFAULT_DROP_PREFIXES } from '../agent/parse/packet-drop.js';
import { parseJournalJson } from '../agent/parse/log-line.js';
import { encodeEnvelope } from '../proto/codec.js';
import { subjectFor, messageId } from '../common/subjects.js';
import { startNats } from '../test/support/nats.js';
import { createTestJournal } from '../test/support/journal.js';
import { startCli, getJson, type Proc } from '../test/support/procs.js';
import { startStack, type Stack } from '../test/support/stack.js';
import { startLogWatch } from '../agent/logs/index.js';
import { tempDir, podLog, newRegistry, metric, watchFlags } from '../test/logs/helpers.js';
import { RecordingSink } from '../test/support/sink.js';
import { testLog } from '../test/support/log.js';
import { freePort, waitFor, sleep } from '../test/support/wait.js';
import { benchExplain } from './explain.js';
import { procStats } from './proc-stats.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 60);
const RATE = Number(process.env.BENCH_RATE ?? 1000);
const results: Record<string, number | string> = {};
const rows: [string, string][] = [];
const record = (key: string, label: string, value: number, unit: string, digits = 0) => {
  results[key] = Number(value.toFixed(digits));
  rows.push([label, `${value.toLocaleString('en-US', { maximumFractionDigits: digits })} ${unit}`]);
  process.stderr.write(`  ${label}: ${value.toFixed(digits)} ${unit}\n`);
};

const dropLine = (i: number) =>
  `calico-packet: IN=cali${(i % 97).toString(16).padStart(11, '0')} OUT=eth0 MAC=92:e6:fa:3a:01:6d:6a:09:8e:ab:40:e0:08:00 SRC=10.244.${(i >> 8) & 255}.${i & 255} DST=10.245.${(i >> 4) & 255}.${(i * 7) & 255} LEN=60 TOS=0x00 PREC=0x00 TTL=63 ID=${i & 65535} DF PROTO=TCP SPT=${30000 + (i % 30000)} DPT=${(i % 50) + 5000} WINDOW=64240 RES=0x00 SYN URGP=0 `;

function rate(lines: string[], fn: (l: string) => unknown, minMs = 1500): number {
  let n = 0;
  const t0 = performance.now();
  let t = t0;
  while (t - t0 < minMs) {
    for (const l of lines) fn(l);
    n += lines.length;
    t = performance.now();
  }
  return n / ((t - t0) / 1000);
}

/** The parser alone, called directly (a shared callback site would measure call dispatch too). */
function parseRate(lines: string[], minMs = 1500): number {
  let n = 0;
  const t0 = performance.now();
  let t = t0;
  while (t - t0 < minMs) {
    for (let i = 0; i < lines.length; i++) parseDropMessage(lines[i], DEFAULT_DROP_PREFIXES);
    n += lines.length;
    t = performance.now();
  }
  return n / ((t - t0) / 1000);
}

function parserBench(): void {
  process.stderr.write('parser (one core)\n');
  const N = 100_000;
  const valid = Array.from({ length: N }, (_, i) => `Nov 23 13:59:01 node-1 kernel: [  779.047770] ${dropLine(i)}`);
  const other = Array.from(
    { length: N },
    (_, i) =>
      `Nov 23 13:59:01 node-1 kernel: [  779.0477${i % 100}] eth${i % 4}: renamed from veth${i.toString(16)} link becomes ready`,
  );
  const bad = Array.from(
    { length: N },
    (_, i) => `calico-packet: IN=eth0 SRC=10.0.${i % 256}.999 DST=junk PROTO=TCP DPT=${i}`,
  );
  for (const set of [valid, other, bad]) parseRate(set, 300); // warm up
  record('parser_valid_lines_per_s', 'parser: matching raw lines', parseRate(valid), 'lines/s');
  record('parser_nonmatching_lines_per_s', 'parser: non-matching lines', parseRate(other), 'lines/s');
  record('parser_malformed_lines_per_s', 'parser: malformed drop lines', parseRate(bad), 'lines/s');
  const json = valid.slice(0, 50_000).map((l, i) =>
    JSON.stringify({
      _BOOT_ID: 'a012625a2e3b400ba5e791bc5a6e0a49',
      __REALTIME_TIMESTAMP: String(1795442355193845 + i),
      _TRANSPORT: 'kernel',
      __CURSOR: `s=12bcc4216ded4be5abf8378d78be38ac;i=${i};b=a012625a2e3b400ba5e791bc5a6e0a49;m=33e4f981;t=660f1ffcbc7f5;x=15333a495a89170a`,
      PRIORITY: '4',
      MESSAGE: l.slice(l.indexOf('calico')),
      SYSLOG_IDENTIFIER: 'kernel',
      SYSLOG_FACILITY: '0',
      _HOSTNAME: 'node-1',
    }),
  );
  record(
    'journal_json_to_drop_per_s',
    'journal JSON line -> drop record',
    rate(json, (l) => {
      const e = parseJournalJson(l);
      if (!('reject' in e)) parseDropMessage(e.message, DEFAULT_DROP_PREFIXES);
    }),
    'lines/s',
  );
}

async function agentMetric(port: number, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  return Number(new RegExp(`^${name} (\\d+(?:\\.\\d+)?)`, 'm').exec(text)?.[1] ?? 0);
}

/** The agent runs with the DaemonSet's NODE_OPTIONS (deploy/agent.yaml), as it does in production. */
function agentNodeOptions(): string {
  const m = /name: NODE_OPTIONS\s*\n(?:\s*#.*\n)*\s*value: (.+)/.exec(
    readFileSync(new URL('../deploy/agent.yaml', import.meta.url), 'utf8'),
  );
  return m ? m[1].replace(/\s+#.*$/, '').trim() : '';
}

async function pipelineBench(): Promise<void> {
  const journal = createTestJournal();
  let stack: Stack | undefined;
  try {
    await journal.append(['bench start']);
    const mPort = await freePort();
    // The agent as deployed: default probes and container-log watch on.
    stack = await startStack({
      node: 'bench-node',
      journalDir: journal.dir,
      agentArgs: ['--metrics-listen', `127.0.0.1:${mPort}`],
      agentEnv: { NODE_OPTIONS: agentNodeOptions() },
    });
    const { api, agent } = stack;
    await sleep(3000);
    record('agent_idle_rss_mib', 'agent idle RSS', procStats(agent.child.pid!).rssMiB, 'MiB', 1);

    // Latency at a sustained rate: batches every 100 ms, each batch its own flow (distinct port).
    process.stderr.write(`latency at ${RATE} drops/s for ${SECONDS} s\n`);
    const perBatch = Math.max(1, Math.round(RATE / 10));
    const sent = new Map<number, number>();
    const lat: number[] = [];
    const seen = new Set<number>();
    let stop = false;
    let stopAt = 0;
    const poller = (async () => {
      while (!stop || seen.size < sent.size) {
        const r = await getJson<{ items: { dst: { port?: number } }[] }>(`${api}/api/v1/drops?since=5s&limit=10000`);
        const now = Date.now();
        for (const f of r.items) {
          const p = f.dst.port;
          if (p !== undefined && sent.has(p) && !seen.has(p)) {
            seen.add(p);
            lat.push(now - sent.get(p)!);
          }
        }
        if (stop && Date.now() - stopAt > 10_000) break;
        await sleep(10);
      }
    })();
    const c1 = procStats(agent.child.pid!).cpuS,
      t1 = performance.now();
    let rssMax = 0;
    for (let b = 0; b < SECONDS * 10; b++) {
      const port = 20000 + b;
      const tick = t1 + b * 100;
      const lines = Array.from({ length: perBatch }, (_, i) => dropLine(i).replace(/DPT=\d+/, `DPT=${port}`));
      sent.set(port, Date.now());
      await journal.append(lines);
      if (b % 10 === 0) rssMax = Math.max(rssMax, procStats(agent.child.pid!).rssMiB);
      const wait = tick + 100 - performance.now();
      if (wait > 0) await sleep(wait);
    }
    const loadSecs = (performance.now() - t1) / 1000;
    stop = true;
    stopAt = Date.now();
    await poller;
    lat.sort((a, b) => a - b);
    const pct = (p: number) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))] ?? NaN;
    record('latency_samples', 'latency samples (flows)', lat.length, '');
    record('latency_p50_ms', 'journal line -> API: p50', pct(0.5), 'ms');
    record('latency_p99_ms', 'journal line -> API: p99', pct(0.99), 'ms');
    record(
      'agent_load_cpu_cores',
      `agent CPU at ${RATE} drops/s`,
      (procStats(agent.child.pid!).cpuS - c1) / loadSecs,
      'cores',
      3,
    );
    record('agent_load_rss_mib', `agent RSS at ${RATE} drops/s (max)`, rssMax, 'MiB', 1);
    // Throughput: a backlog of 200k lines written while the agent is stopped; the restarted agent
    // resumes at its cursor and reads it as fast as it can (timed from the restart, start-up included).
    process.stderr.write(`agent pipeline throughput (agent NODE_OPTIONS: ${agentNodeOptions()})\n`);
    const BURST = 200_000;
    await stack.agent.stop();
    await journal.append(Array.from({ length: BURST }, (_, i) => dropLine(i)));
    const t0 = performance.now();
    const restarted = stack.startAgent();
    let peakRss = 0;
    await waitFor(
      'agent read the backlog',
      async () => {
        peakRss = Math.max(peakRss, procStats(restarted.child.pid!).rssMiB);
        return (await agentMetric(mPort, 'nodewarden_agent_drop_lines_total')) >= BURST;
      },
      300_000,
      50,
    ).catch((err: Error) => {
      throw new Error(`${err.message}\n--- agent output:\n${restarted.output().slice(-2000)}`);
    });
    const secs = (performance.now() - t0) / 1000;
    record(
      'agent_pipeline_lines_per_s',
      'agent: journal -> outbox (200k backlog, incl. start-up)',
      BURST / secs,
      'lines/s',
    );
    record(
      'agent_pipeline_cpu_cores',
      'agent: CPU while reading the backlog',
      procStats(restarted.child.pid!).cpuS / secs,
      'cores',
      2,
    );
    record('agent_burst_peak_rss_mib', 'agent: peak RSS while reading the backlog', peakRss, 'MiB', 1);
    await waitFor(
      'backlog visible in the API',
      async () => (await getJson<{ total: number }>(`${api}/api/v1/drops?limit=1`)).total > 0,
      120_000,
      200,
    );
  } finally {
    await stack?.stop();
    journal.remove();
  }
}

/**
 * A collector process replaying a pre-filled stream: msgs messages of 10 flow records each (sample:
 * the kernel line, padded to sampleBytes when given). Returns the replay time and the RSS once
 * caught up; the collector runs with env (e.g. the Deployment's NODE_OPTIONS).
 */
async function replay(o: {
  msgs: number;
  sampleBytes?: number;
  env?: NodeJS.ProcessEnv;
  collectorArgs?: string[];
}): Promise<{ secs: number; rssMiB: number; flows: number; ready: number }> {
  const nats = await startNats();
  const procs: Proc[] = [];
  try {
    // The collector creates the stream; then it is stopped, filled, and a new collector replays it.
    const port = await freePort();
    const args = ['collector', '--nats', nats.url, '--listen', `127.0.0.1:${port}`, ...(o.collectorArgs ?? [])];
    let c = startCli(args, o.env);
    await c.waitForLog(/collector: consuming/);
    await c.stop();
    const nc = await connect({ servers: nats.url });
    const js = jetstream(nc);
    const sample = (i: number) => (o.sampleBytes ? dropLine(i).padEnd(o.sampleBytes, 'x') : dropLine(i));
    const drops = (i: number) =>
      Array.from({ length: 10 }, (_, k) => ({
        prefix: 'calico-packet:',
        family: 4,
        proto: 'TCP',
        src: `10.1.${k}.${i & 255}`,
        dst: `10.2.${(i >> 8) & 255}.${k}`,
        dstPort: 443 + (i >> 16),
        count: 3,
        firstSeenMs: Date.now(),
        lastSeenMs: Date.now(),
        inIface: 'eth0',
        outIface: 'cali1',
        sample: sample(i),
      }));
    for (let i = 0; i < o.msgs; i += 500) {
      await Promise.all(
        Array.from({ length: Math.min(500, o.msgs - i) }, (_, k) => {
          const seq = i + k + 1;
          return js.publish(
            subjectFor('bench-node', 'drops'),
            encodeEnvelope({
              node: 'bench-node',
              agentId: 'bench',
              seq,
              sentMs: Date.now(),
              drops: { drops: drops(seq) },
            }),
            { msgID: messageId('bench-node', 'bench', seq) },
          );
        }),
      );
    }
    await nc.close();
    const t0 = performance.now();
    c = startCli(args, o.env);
    procs.push(c);
    await c.waitForLog(/caught up with the stream/, 600_000);
    const secs = (performance.now() - t0) / 1000;
    const rssMiB = procStats(c.child.pid!).rssMiB;
    const api = `http://127.0.0.1:${port}`;
    const flows = (await getJson<{ total: number }>(`${api}/api/v1/drops?limit=1`)).total;
    const ready = (await fetch(`${api}/readyz`)).status;
    return { secs, rssMiB, flows, ready };
  } finally {
    for (const p of procs) await p.stop();
    await nats.stop();
  }
}

async function ingestBench(): Promise<void> {
  process.stderr.write('collector ingest (replay of a pre-filled stream)\n');
  const MSGS = 50_000;
  const r = await replay({ msgs: MSGS });
  record(
    'collector_ingest_msgs_per_s',
    'collector: ingest (10 flows per message, incl. start-up)',
    MSGS / r.secs,
    'messages/s',
  );
  record('collector_rss_mib', 'collector RSS after 500k flow records', r.rssMiB, 'MiB', 1);
}

/** The deployed heap cap (deploy/collector.yaml NODE_OPTIONS): the collector must fit in it. */
const DEPLOYED_HEAP = '--max-old-space-size=320';

/**
 * 1,000,000 messages through decode -> de-dup -> stores in one process under the deployed heap
 * (bench/ingest-1m.ts): the rate of each 200k block must not fall (the last ≥ 0.8× the first) and
 * the heap stays bounded with 2 KiB samples. Then a smaller real-NATS part: a collector process
 * under the deployed NODE_OPTIONS replays 250k flow records with 2 KiB samples (the old store OOMed
 * at ≈ 111k).
 */
async function ingest1mBench(): Promise<void> {
  process.stderr.write(`collector ingest, 1M messages in process (${DEPLOYED_HEAP})\n`);
  const script = new URL('../bench/ingest-1m.ts', import.meta.url).pathname;
  const r = spawnSync(process.execPath, [DEPLOYED_HEAP, '--expose-gc', '--import', 'tsx', script, '1000000', '2048'], {
    encoding: 'utf8',
    timeout: 1_200_000,
    cwd: new URL('..', import.meta.url).pathname,
  });
  process.stderr.write(r.stderr);
  const line = r.stdout.trim().split('\n').pop() ?? '';
  if (r.status !== 0 || !line.startsWith('{')) {
    process.stderr.write(`  (failed: exit ${r.status ?? r.signal}) ${r.stdout.slice(-500)}\n`);
    return;
  }
  const j = JSON.parse(line) as {
    blocks: { block: number; msgsPerS: number }[];
    lastOverFirst: number;
    lastOverFirstCpu: number;
    at500k: {
      flowsHeld: number;
      heapMiB: number;
      rssMiB: number;
      storeEstimateMiB: number;
      heapBytesPerFlowHeld: number;
    };
  };
  for (const b of j.blocks)
    record(
      `ingest_1m_block${b.block}_msgs_per_s`,
      `ingest 1M: messages ${(b.block - 1) * 200}k-${b.block * 200}k (decode + apply)`,
      b.msgsPerS,
      'messages/s',
    );
  record('ingest_1m_last_over_first', 'ingest 1M: last block / first block (≥ 0.8 required)', j.lastOverFirst, '×', 2);
  record(
    'ingest_1m_last_over_first_cpu',
    'ingest 1M: the same per CPU-second (a busy neighbour does not count)',
    j.lastOverFirstCpu,
    '×',
    2,
  );
  record(
    'ingest_1m_heap_mib_at_500k',
    'ingest 1M: heap after 500k flows, 2 KiB samples (after GC)',
    j.at500k.heapMiB,
    'MiB',
    1,
  );
  record('ingest_1m_rss_mib_at_500k', 'ingest 1M: RSS after 500k flows', j.at500k.rssMiB, 'MiB', 1);
  record('ingest_1m_flows_held', 'ingest 1M: flows held by the byte bound', j.at500k.flowsHeld, 'flows');
  process.stderr.write(
    `collector replay through real NATS, 250k flow records with 2 KiB samples, NODE_OPTIONS=${DEPLOYED_HEAP}\n`,
  );
  const MSGS = 25_000;
  const n = await replay({
    msgs: MSGS,
    sampleBytes: 2048,
    env: { NODE_OPTIONS: DEPLOYED_HEAP },
    collectorArgs: ['--stream-max-bytes', '2Gi'],
  });
  record(
    'replay_2k_msgs_per_s',
    'replay 250k 2 KiB flow records: messages/s (10 flows each, incl. start-up)',
    MSGS / n.secs,
    'messages/s',
  );
  record('replay_2k_rss_mib', 'replay 250k 2 KiB flow records: collector RSS when caught up', n.rssMiB, 'MiB', 1);
  record(
    'replay_2k_flows_held',
    'replay 250k 2 KiB flow records: flows held, /readyz',
    n.flows,
    `flows, /readyz ${n.ready}`,
  );
}

async function logTailBench(): Promise<void> {
  process.stderr.write('container logs: tail + match, 100 files (in process, one core)\n');
  const FILES = 100,
    PER_FILE = 5000;
  const run = async (extra: Record<string, unknown>): Promise<number> => {
    const { dir, cleanup } = tempDir('bench-logs');
    try {
      const logs = await Promise.all(
        Array.from({ length: FILES }, (_, i) => podLog(dir, { namespace: 'bench', pod: `app-${i}`, container: 'app' })),
      );
      const registry = newRegistry();
      const w = await startLogWatch(watchFlags(dir, extra), new RecordingSink(), {
        log: testLog,
        stateDir: join(dir, 'state'),
        registry,
      });
      await waitFor(
        'all files followed',
        async () => (await metric(registry, 'nodewarden_agent_container_log_files')) === FILES || undefined,
        30_000,
      );
      // Component-log shaped lines; one in a thousand carries a built-in signature.
      const body = (i: number) =>
        Array.from(
          { length: PER_FILE },
          (_, k) =>
            `2026-11-23T15:00:00.${String(k).padStart(9, '0')}Z stderr F ${k % 1000 === 0 ? 'W1123 15:00:00.000000 1 dispatcher.go:205] Failed calling webhook, failing closed: failed calling webhook "validate.example.com": context deadline exceeded' : `I1123 15:00:00.000000 1 controller.go:${k % 900}] "Reconciled object" object="ns-${i}/obj-${k}" duration="1.2ms"`}\n`,
        ).join('');
      const texts = logs.map((_, i) => body(i));
      const c0 = process.cpuUsage(),
        t0 = performance.now();
      await Promise.all(logs.map((l, i) => appendFile(l.file, texts[i])));
      await waitFor(
        'every line read',
        async () =>
          (await metric(registry, 'nodewarden_agent_container_log_lines_total')) >= FILES * PER_FILE || undefined,
        300_000,
        20,
      );
      const secs = (performance.now() - t0) / 1000;
      const cpu = process.cpuUsage(c0);
      await w.stop();
      return (FILES * PER_FILE) / Math.max(secs, (cpu.user + cpu.system) / 1e6);
    } finally {
      cleanup();
    }
  };
  const base = await run({});
  record('log_tail_lines_per_s', 'container logs: built-in rules, 100 files', base, 'lines/s');
  const rulesDir = tempDir('bench-rules');
  try {
    const rules = Array.from({ length: 100 }, (_, i) => ({
      name: `user-${i}`,
      kind: `UserSignature${i}`,
      severity: 'warning',
      pattern: `upstream backend-${i} (?:refused|reset) after (\\d+)ms`,
      message: 'backend {1}',
    }));
    const file = join(rulesDir.dir, 'rules.json');
    writeFileSync(file, JSON.stringify({ rules }));
    const withUser = await run({ 'rules-file': file });
    record('log_tail_lines_per_s_100_user_rules', 'container logs: + 100 user rules', withUser, 'lines/s');
    record('log_tail_user_rules_cost_ratio', 'container logs: cost ratio with 100 user rules', base / withUser, 'x', 2);
  } finally {
    rulesDir.cleanup();
  }
}

async function probeCostBench(): Promise<void> {
  const secs = Number(process.env.BENCH_IDLE_SECONDS ?? 60);
  process.stderr.write(`probe cost: idle agents with and without probes for ${secs} s\n`);
  const journal = createTestJournal();
  const stacks: Stack[] = [];
  try {
    await journal.append(['bench start']);
    for (const probes of [['--probes', 'none'], []])
      stacks.push(
        await startStack({
          node: 'bench-node',
          journalDir: journal.dir,
          agentArgs: [...probes, '--container-log-dir', ''],
          agentEnv: { NODE_OPTIONS: agentNodeOptions() },
        }),
      );
    await sleep(5000);
    const pids = stacks.map((s) => s.agent.child.pid!);
    const before = pids.map(procStats);
    await sleep(secs * 500);
    const mid = pids.map(procStats);
    await sleep(secs * 500);
    const after = pids.map(procStats);
    const cpu = (i: number) => (after[i].cpuS - before[i].cpuS) / secs;
    record(
      'probes_cpu_percent_of_core',
      'probes at default intervals: CPU (with - without)',
      (cpu(1) - cpu(0)) * 100,
      '% of a core',
      2,
    );
    record('agent_idle_cpu_percent_of_core', 'agent idle with all probes: CPU', cpu(1) * 100, '% of a core', 2);
    record(
      'agent_idle_rss_growth_mib',
      `agent idle with all probes: RSS growth over ${secs} s`,
      after[1].rssMiB - before[1].rssMiB,
      'MiB',
      1,
    );
    // Warm-up (JIT code, heap sizing) happens early; a leak keeps growing in the second half too.
    record(
      'agent_idle_rss_growth_second_half_mib',
      `agent idle with all probes: RSS growth over the last ${secs / 2} s`,
      after[1].rssMiB - mid[1].rssMiB,
      'MiB',
      1,
    );
  } finally {
    for (const s of stacks) await s.stop();
    journal.remove();
  }
}

/** CRI poll cost on a node with 110 real pods under a real containerd (bench/runtime-poll.ts; root). */
async function runtimePollBench(): Promise<void> {
  process.stderr.write('runtime view: CRI poll cost with 110 real pods under containerd\n');
  const script = new URL('../bench/runtime-poll.ts', import.meta.url).pathname;
  const r = spawnSync(process.execPath, ['--import', 'tsx', script, '110', '50'], {
    encoding: 'utf8',
    timeout: 600_000,
    cwd: new URL('..', import.meta.url).pathname,
  });
  process.stderr.write(r.stdout + r.stderr);
  const mean = /agent cpu mean ([\d.]+) ms/.exec(r.stdout);
  const first = /first poll: .* cpu ([\d.]+) ms/.exec(r.stdout);
  if (!mean || !first) {
    process.stderr.write('  (skipped: containerd lab not available)\n');
    return;
  }
  record('runtime_first_poll_cpu_ms', 'runtime view: first poll, 110 pods (agent CPU)', Number(first[1]), 'ms', 1);
  record('runtime_steady_poll_cpu_ms', 'runtime view: steady poll, 110 pods (agent CPU)', Number(mean[1]), 'ms', 2);
  record(
    'runtime_poll_percent_of_core',
    'runtime view: at the default 10 s poll',
    (Number(mean[1]) / 10_000) * 100,
    '% of a core',
    3,
  );
}

/** bench/scale.ts in its own process (see bench/scale-main.ts); its rows are recorded as they come. */
async function scaleBench(): Promise<void> {
  const script = new URL('../bench/scale-main.ts', import.meta.url).pathname;
  const child = spawn(process.execPath, ['--import', 'tsx', script, DEPLOYED_HEAP], {
    stdio: ['ignore', 'pipe', 'inherit'],
    cwd: new URL('..', import.meta.url).pathname,
  });
  let buf = '';
  child.stdout.on('data', (c: Buffer) => {
    buf += c.toString();
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      if (!line.startsWith('{')) {
        process.stderr.write(line + '\n');
        continue;
      }
      const r = JSON.parse(line) as { key: string; label: string; value: number; unit: string; digits: number };
      record(r.key, r.label, r.value, r.unit, r.digits);
    }
  });
  const code = await new Promise<number | null>((r) => child.on('exit', r));
  if (code !== 0) process.stderr.write(`  (scale: exit ${code})\n`);
}

// `npm run bench -- logs pipeline` runs only the named sections.
/** NetworkPolicy explanations, 1,000 policies × 10,000 pods, in process (bench/explain.ts). */
async function explainBench(): Promise<void> {
  process.stderr.write('explain (one core)\n');
  const r = await benchExplain();
  record(
    'explain_computed_per_cpu_s',
    'explain: 1,000 policies x 10,000 pods, computed',
    r.computedPerSec,
    'explanations per CPU-s',
  );
  record('explain_cached_per_cpu_s', 'explain: served from the cache', r.cachedPerSec, 'explanations per CPU-s');
  record('explain_heap_mib', 'explain: heap of pod + policy caches', r.heapMiB, 'MiB', 1);
}

const sections: Record<string, () => void | Promise<void>> = {
  explain: explainBench,
  parser: parserBench,
  logs: logTailBench,
  pipeline: pipelineBench,
  ingest: ingestBench,
  'ingest-1m': ingest1mBench,
  probes: probeCostBench,
  runtime: runtimePollBench,
  scale: scaleBench,
};
const only = process.argv.slice(2);
for (const [name, run] of Object.entries(sections)) if (only.length === 0 || only.includes(name)) await run();
const machine = `${cpus().length} x ${cpus()[0]?.model ?? '?'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}`;
writeFileSync(
  new URL('../bench/results.json', import.meta.url),
  JSON.stringify({ date: new Date().toISOString(), machine, seconds: SECONDS, rate: RATE, results }, null, 2) + '\n',
);
const w = Math.max(...rows.map((r) => r[0].length));
process.stdout.write(`\nnodewarden bench — ${new Date().toISOString()} — ${machine}\n\n`);
for (const [k, v] of rows) process.stdout.write(`  ${k.padEnd(w)}  ${v}\n`);
process.stdout.write('\nwritten: bench/results.json\n');
process.exit(0);
