// Poll cost of the agent's runtime view on a node with N real pods (default 110, the kubelet's
// max-pods) under a real containerd: agent CPU per poll (first poll with PodSandboxStatus for every
// sandbox, then steady-state polls), wall time, snapshot size. A bench, not a test:
//   node --import tsx bench/runtime-poll.ts [pods=110] [polls=50]   (also the "runtime" section of npm run bench)
import { RuntimePoller } from '../agent/cri/poller.js';
import { SnapshotGate, snapshotDigest } from '../agent/cri/snapshot.js';
import { encodeEnvelope } from '../proto/codec.js';
import { labUnavailable, startCriLab } from '../test/runtime/containerd-lab.js';

const PODS = Number(process.argv[2] ?? 110);
const POLLS = Number(process.argv[3] ?? 50);
const why = labUnavailable();
if (why) {
  console.error(`bench-poll: ${why}`);
  process.exit(2);
}

const lab = await startCriLab(`nwrtb${process.pid}`);
try {
  const t0 = Date.now();
  const queue = Array.from({ length: PODS }, (_, i) => i);
  const worker = async () => {
    for (let i = queue.shift(); i !== undefined; i = queue.shift()) {
      const uid = `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`;
      const spec = lab.sandbox(`app-${i}-7d9c8b6f5-x${i}`, `ns-${i % 7}`, uid, {
        labels: { app: `app-${i}`, 'pod-template-hash': '7d9c8b6f5', 'app.kubernetes.io/part-of': 'shop' },
        annotations: {
          'kubernetes.io/config.source': 'api',
          'kubernetes.io/config.seen': '2026-11-23T10:00:00.000000000Z',
          'kubectl.kubernetes.io/restartedAt': '2026-11-20T09:00:00Z',
        },
      });
      const pod = await lab.runPod(spec);
      await lab.startContainer(pod, 'main', 0, ['/bin/sleep', '3600']);
      if (i % 5 === 0) await lab.startContainer(pod, 'sidecar', 0, ['/bin/sleep', '3600']);
    }
  };
  await Promise.all(Array.from({ length: 4 }, worker));
  console.log(`${PODS} pods up in ${((Date.now() - t0) / 1000).toFixed(1)} s`);

  const poller = new RuntimePoller({ endpoint: lab.endpoint, timeoutMs: 5000 });
  const gate = new SnapshotGate(300_000);
  const one = async () => {
    const c0 = process.cpuUsage(),
      w0 = performance.now();
    const r = await poller.poll();
    const d = snapshotDigest(r.snapshot);
    const why2 = gate.decide(d, Date.now());
    if (why2) gate.sent(d, Date.now());
    const c = process.cpuUsage(c0);
    return { cpuMs: (c.user + c.system) / 1000, wallMs: performance.now() - w0, r, sent: why2 };
  };
  const first = await one();
  const bytes = encodeEnvelope({
    node: 'node-a',
    agentId: 'x',
    seq: 1,
    sentMs: Date.now(),
    agentVersion: 'bench',
    runtime: { ...first.r.snapshot, full: true },
  }).length;
  console.log(
    `first poll: ${first.r.pods} pods, ${first.r.containers} containers, ${first.r.inspected} PodSandboxStatus calls: cpu ${first.cpuMs.toFixed(1)} ms, wall ${first.wallMs.toFixed(1)} ms; snapshot ${bytes} bytes (sent: ${first.sent})`,
  );
  for (let i = 0; i < 5; i++) await one(); // warm-up (JIT)
  const cpu: number[] = [],
    wall: number[] = [];
  let sent = 0;
  for (let i = 0; i < POLLS; i++) {
    const x = await one();
    cpu.push(x.cpuMs);
    wall.push(x.wallMs);
    if (x.sent) sent++;
    await new Promise((r) => setTimeout(r, 20));
  }
  const sorted = (a: number[]) => [...a].sort((x, y) => x - y);
  const pct = (a: number[], p: number) => sorted(a)[Math.min(a.length - 1, Math.floor(p * a.length))];
  const mean = cpu.reduce((a, b) => a + b, 0) / cpu.length;
  console.log(
    `steady polls (${POLLS}): agent cpu mean ${mean.toFixed(2)} ms, p50 ${pct(cpu, 0.5).toFixed(2)}, p95 ${pct(cpu, 0.95).toFixed(2)}; wall p50 ${pct(wall, 0.5).toFixed(1)} ms, p95 ${pct(wall, 0.95).toFixed(1)} ms; snapshots sent: ${sent}`,
  );
  console.log(`=> at --runtime-poll 10s: ${((mean / 10_000) * 100).toFixed(3)} % of one core (budget 0.5 %)`);
  poller.close();
} finally {
  const t1 = Date.now();
  await lab.down();
  const left = lab.leftovers();
  console.log(
    `teardown ${((Date.now() - t1) / 1000).toFixed(1)} s${left.length ? `; LEFT: ${left.join(' ')}` : ', nothing left'}`,
  );
}
