// NetworkPolicy explanation cost at cluster scale: N policies over M pods (default 1,000 × 10,000:
// 200 namespaces × 50 pods of 10 workloads, 5 policies per namespace of the common shapes: default
// deny, allow-same-app, allow-from-labelled-namespace on a named port, port range, ipBlock egress).
// Pods and policies go through the real caches (PodCache.upsert from Pod JSON, PolicyCache sinks), so
// the heap figure is what the collector would hold for them. Measures explanations/s computed
// (cache off: every call evaluates both sides and words the result) and served (cache on, steady
// state), and the heap of pods + policies + namespaces. Goals: >= 50,000/s computed, <= 40 MiB.
//   node --expose-gc --import tsx bench/explain.ts [policies=1000] [pods=10000]
// or import { benchExplain } (bench/run.ts may call it; it is not wired there).
import { PodCache, type PodJson } from '../collector/kube/pod-cache.js';
import { PolicyCache } from '../collector/kube/policy-cache.js';
import { cacheSource } from '../collector/kube/policy-watch.js';
import { explainExtension } from '../collector/explain/index.js';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

export interface ExplainBenchResult {
  policies: number;
  pods: number;
  /** Explanations computed per CPU second (no cache). */
  computedPerSec: number;
  /** Explanations served per CPU second with the cache warm (unchanged policies). */
  cachedPerSec: number;
  /** Heap held by the pod cache (with labels/ports) + policy cache, MiB ... */
  heapMiB: number;
  /** ... of which the pod cache. */
  podCacheMiB: number;
  verdicts: Record<string, number>;
}

const WORKLOADS_PER_NS = 10;

function podJson(i: number, podsPerNs: number): PodJson {
  const ns = Math.floor(i / podsPerNs),
    w = i % WORKLOADS_PER_NS;
  const ip = `10.${128 + ((i >> 16) & 63)}.${(i >> 8) & 255}.${i & 255}`;
  return {
    metadata: {
      namespace: `team-${ns}`,
      name: `svc-${w}-7d9c8b6f5-${(i * 7919).toString(36).padStart(5, 'x')}`,
      uid: `0f6c1b2a-3d4e-4f50-8a9b-${i.toString(16).padStart(12, '0')}`,
      creationTimestamp: '2026-01-01T00:00:00Z',
      labels: {
        app: `svc-${w}`,
        'pod-template-hash': '7d9c8b6f5',
        'app.kubernetes.io/part-of': `team-${ns}`,
        tier: w < 3 ? 'frontend' : 'backend',
      },
    },
    spec: {
      nodeName: `node-${i % 100}`,
      containers: [
        {
          ports: [
            { name: 'http', containerPort: 8080 },
            { name: 'metrics', containerPort: 9090 },
          ],
        },
      ],
    },
    status: { phase: 'Running', podIP: ip, podIPs: [{ ip }], hostIP: `192.0.2.${i % 100}` },
  };
}

function policies(ns: number): unknown[] {
  const m = (name: string, spec: unknown) => ({
    metadata: { namespace: `team-${ns}`, name, resourceVersion: String(1000 + ns) },
    spec,
  });
  return [
    m('default-deny', { podSelector: {}, policyTypes: ['Ingress', 'Egress'] }),
    m('allow-same-app', {
      podSelector: { matchLabels: { tier: 'backend' } },
      policyTypes: ['Ingress'],
      ingress: [{ from: [{ podSelector: { matchLabels: { tier: 'frontend' } } }], ports: [{ port: 8080 }] }],
    }),
    m('allow-monitoring', {
      podSelector: {},
      policyTypes: ['Ingress'],
      ingress: [
        {
          from: [
            {
              namespaceSelector: { matchLabels: { monitoring: 'true' } },
              podSelector: { matchExpressions: [{ key: 'app', operator: 'In', values: ['svc-9'] }] },
            },
          ],
          ports: [{ port: 'metrics' }],
        },
      ],
    }),
    m('allow-egress-cluster', {
      podSelector: { matchExpressions: [{ key: 'tier', operator: 'Exists' }] },
      policyTypes: ['Egress'],
      egress: [
        {
          to: [{ namespaceSelector: {} }],
          ports: [
            { port: 8000, endPort: 8100 },
            { port: 53, protocol: 'UDP' },
          ],
        },
      ],
    }),
    m('allow-egress-external', {
      podSelector: { matchLabels: { tier: 'frontend' } },
      policyTypes: ['Egress'],
      egress: [{ to: [{ ipBlock: { cidr: '0.0.0.0/0', except: ['10.0.0.0/8'] } }], ports: [{ port: 443 }] }],
    }),
  ];
}

export async function benchExplain(nPolicies = 1000, nPods = 10_000, seconds = 2): Promise<ExplainBenchResult> {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const namespaces = Math.max(1, Math.round(nPolicies / 5));
  const podsPerNs = Math.max(1, Math.floor(nPods / namespaces));
  gc();
  gc();
  const before = process.memoryUsage().heapUsed;
  const pods = new PodCache(300_000);
  const seen = new Set<string>();
  for (let i = 0; i < namespaces * podsPerNs; i++) {
    const p = podJson(i, podsPerNs);
    seen.add(pods.keyOf(p));
    pods.upsert(p);
  }
  pods.relistFinish(seen);
  seen.clear();
  gc();
  gc();
  const podsHeap = process.memoryUsage().heapUsed - before;
  const pc = new PolicyCache();
  for (let n = 0; n < namespaces; n++) {
    pc.namespaceSink.upsert({
      metadata: {
        name: `team-${n}`,
        labels: { 'kubernetes.io/metadata.name': `team-${n}`, ...(n % 10 === 0 ? { monitoring: 'true' } : {}) },
      },
    });
    for (const p of policies(n)) pc.policySink.upsert(p as never);
  }
  gc();
  gc();
  const heapMiB = (process.memoryUsage().heapUsed - before) / 1024 / 1024;

  const total = namespaces * podsPerNs;
  const ipOf = (i: number) => podJson(i, podsPerNs).status!.podIP!;
  // Flows: mostly within a namespace (where policies bite), some across, a few to the outside.
  let seed = 42;
  const rnd = (n: number) => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  const PORTS = [8080, 9090, 8050, 5432, 443, 53];
  const flows = Array.from({ length: 20_000 }, () => {
    const a = rnd(total);
    const b = rnd(10) < 7 ? Math.floor(a / podsPerNs) * podsPerNs + rnd(podsPerNs) : rnd(total);
    const port = PORTS[rnd(PORTS.length)];
    return {
      from: ipOf(a),
      to: rnd(20) === 0 ? `203.0.113.${rnd(250)}` : ipOf(b),
      port,
      proto: port === 53 ? 'UDP' : 'TCP',
    };
  });
  const source = cacheSource(pc);
  const verdicts: Record<string, number> = {};
  const run = (ex: ReturnType<typeof explainExtension>, count: boolean): number => {
    // Rated per CPU second of this process, not wall time: the bench host is shared, and a wall
    // clock would measure the neighbours.
    const until = performance.now() + seconds * 1000;
    let n = 0;
    const c0 = process.cpuUsage();
    while (performance.now() < until) {
      for (let k = 0; k < 1000; k++) {
        const f = flows[(n + k) % flows.length];
        const e = ex.explain(f.from, f.to, f.proto, f.port);
        if (count) verdicts[e.verdict] = (verdicts[e.verdict] ?? 0) + 1;
      }
      n += 1000;
    }
    const c = process.cpuUsage(c0);
    return n / ((c.user + c.system) / 1e6);
  };
  const uncached = explainExtension(pods, source, { podCidrs: ['10.0.0.0/8'], maxCached: 0 });
  run(uncached, true); // warm-up (JIT) and the verdict mix
  const computedPerSec = run(uncached, false);
  const cached = explainExtension(pods, source, { podCidrs: ['10.0.0.0/8'], maxCached: flows.length });
  run(cached, false);
  const cachedPerSec = run(cached, false);
  return {
    policies: pc.policyCount,
    pods: pods.size,
    computedPerSec: Math.round(computedPerSec),
    cachedPerSec: Math.round(cachedPerSec),
    heapMiB: Math.round(heapMiB * 10) / 10,
    podCacheMiB: Math.round((podsHeap / 1024 / 1024) * 10) / 10,
    verdicts,
  };
}

// Run directly only: inside the bench bundle import.meta.url is dist/bench.mjs, argv[1] too.
if (
  process.argv[1] &&
  /\/explain\.ts$/.test(process.argv[1]) &&
  import.meta.url.endsWith(process.argv[1].replace(/^.*\//, '/'))
) {
  const r = await benchExplain(Number(process.argv[2] ?? 1000), Number(process.argv[3] ?? 10_000));
  console.log(JSON.stringify(r));
}
