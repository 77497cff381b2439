// Collector ingest at scale, in process, through the real path (protobuf decode -> de-dup -> stores):
// the rate of every 200k-message block (linear ingest means the last block is as fast as the first)
// and heap/RSS once 500k flows with 2 KiB samples went through a store bounded for the deployed heap.
// Run it under the deployed heap cap, as the "ingest-1m" section of npm run bench does:
//   node --max-old-space-size=320 --expose-gc --import tsx bench/ingest-1m.ts [messages=1000000] [sampleBytes=2048]
// Prints one JSON line last. Uses only constructors and applyEnvelope(env, stores, seen, now), so it
// runs unchanged against older trees for a before/after ratio.
import { applyEnvelope, SeenSet, type Stores } from '../collector/ingest/apply.js';
import { IpIndex } from '../collector/resolve/resolver.js';
import { DropStore } from '../collector/store/drops.js';
import { FindingStore } from '../collector/store/findings.js';
import { NodeStore } from '../collector/store/nodes.js';
import { decodeEnvelope, encodeEnvelope } from '../proto/codec.js';

const N = Number(process.argv[2] ?? 1_000_000);
const SAMPLE = Number(process.argv[3] ?? 2048);
const BLOCK = 200_000;
const NODES = 100;
const gc = (globalThis as { gc?: () => void }).gc;
const mib = (b: number) => Math.round((b / 2 ** 20) * 10) / 10;
const rssMiB = () => mib(process.memoryUsage().rss);
const heapMiB = () => {
  gc?.();
  return mib(process.memoryUsage().heapUsed);
};

const resolver = new IpIndex([]);
const stores: Stores = {
  drops: new DropStore(resolver),
  findings: new FindingStore(resolver),
  nodes: new NodeStore(60_000),
};
const seen = new SeenSet();
const filler = 'x'.repeat(Math.max(0, SAMPLE - 120));
const baseHeap = heapMiB();
const t0 = Date.now();

/** Message i: one new flow (so the store keeps filling and evicting), from one of 100 nodes, its own seq. */
function message(i: number): Uint8Array {
  const node = `node-${i % NODES}`;
  const seq = Math.floor(i / NODES) + 1;
  const at = t0 + i;
  return encodeEnvelope({
    node,
    agentId: `agent-${i % NODES}`,
    seq,
    sentMs: at,
    drops: {
      drops: [
        {
          prefix: 'calico-packet:',
          family: 4,
          proto: 'TCP',
          src: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
          dst: `10.250.${i % 200}.1`,
          dstPort: 443 + (i % 7),
          count: 1,
          firstSeenMs: at,
          lastSeenMs: at,
          inIface: 'cali1a2b3c4d5e6',
          outIface: 'eth0',
          sample: `calico-packet: IN=cali1a2b3c4d5e6 OUT=eth0 SRC=10.0.0.1 ${i} ${filler}`.slice(0, SAMPLE),
        },
      ],
    },
  });
}

// Wall time of decode + apply, and the process' CPU time per block (encoding included): on a shared
// VM the CPU rate tells linearity apart from a neighbour's load.
const blocks: { block: number; msgsPerS: number; msgsPerCpuS: number; maxApplyMs: number }[] = [];
let cpu0 = process.cpuUsage();
let at500k: Record<string, number> | undefined;
let blockNs = 0n;
let maxNs = 0n;
for (let i = 0; i < N; i++) {
  const bytes = message(i);
  // Only decode + apply is timed (encoding stands in for the network).
  const t = process.hrtime.bigint();
  applyEnvelope(decodeEnvelope(bytes), stores, seen, t0 + i);
  const dt = process.hrtime.bigint() - t;
  blockNs += dt;
  if (dt > maxNs) maxNs = dt;
  if ((i + 1) % BLOCK === 0) {
    const cpu = process.cpuUsage(cpu0);
    blocks.push({
      block: blocks.length + 1,
      msgsPerS: Math.round(BLOCK / (Number(blockNs) / 1e9)),
      msgsPerCpuS: Math.round(BLOCK / ((cpu.user + cpu.system) / 1e6)),
      maxApplyMs: Math.round(Number(maxNs) / 1e4) / 100,
    });
    process.stderr.write(
      `  block ${blocks.length}: ${blocks[blocks.length - 1].msgsPerS} msgs/s, ${blocks[blocks.length - 1].msgsPerCpuS} msgs per CPU-second (slowest message ${blocks[blocks.length - 1].maxApplyMs} ms), flows ${stores.drops.size}, heap ${heapMiB()} MiB, rss ${rssMiB()} MiB\n`,
    );
    blockNs = 0n;
    maxNs = 0n;
    cpu0 = process.cpuUsage();
  }
  if (i + 1 === 500_000) {
    const estimated = (stores.drops as unknown as { bytes?: number }).bytes;
    const heap = heapMiB();
    at500k = {
      flowsApplied: 500_000,
      flowsHeld: stores.drops.size,
      heapMiB: heap,
      rssMiB: rssMiB(),
      storeEstimateMiB: estimated === undefined ? NaN : mib(estimated),
      heapBytesPerFlowHeld: Math.round(((heap - baseHeap) * 2 ** 20) / stores.drops.size),
    };
  }
}
const ratioOf = (k: 'msgsPerS' | 'msgsPerCpuS') =>
  blocks.length >= 2 ? Math.round((blocks[blocks.length - 1][k] / blocks[0][k]) * 100) / 100 : NaN;
const ratio = ratioOf('msgsPerS');
console.log(
  JSON.stringify({
    messages: N,
    sampleBytes: SAMPLE,
    blocks,
    lastOverFirst: ratio,
    lastOverFirstCpu: ratioOf('msgsPerCpuS'),
    at500k,
    end: {
      flowsHeld: stores.drops.size,
      heapMiB: heapMiB(),
      rssMiB: rssMiB(),
      seenKeys: (seen as unknown as { size?: number }).size ?? NaN,
    },
  }),
);
