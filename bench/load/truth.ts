// What the simulated agents published (bench/load/agents.ts FleetCounts) against what users see: the
// collector's /api/v1/drops and the PacketDrop Events in the API server. Shared by the scale bench and
// test/scale-fault.test.ts, so both compare the same way.
import type { ControlPlane } from '../../test/support/kube.js';
import { flowKey, type FleetCounts, type SimPod } from './agents.js';

interface ApiFlow {
  node: string;
  proto: string;
  src: { ip: string };
  dst: { ip: string; port?: number };
  count: number;
}

async function drops(api: string, query: string, token?: string): Promise<{ items: ApiFlow[]; truncated: boolean }> {
  const r = await fetch(`${api}/api/v1/drops?${query}`, {
    headers: token ? { authorization: `Bearer ${token}` } : {},
    signal: AbortSignal.timeout(30_000),
  });
  if (!r.ok) throw new Error(`${api}/api/v1/drops?${query}: ${r.status} ${await r.text()}`);
  return r.json() as Promise<{ items: ApiFlow[]; truncated: boolean }>;
}

/** node -> flow key -> count as the API answers (one query, or one per node when that is truncated). */
export async function apiFlowCounts(api: string, nodes: string[], token?: string): Promise<FleetCounts['flows']> {
  const out: FleetCounts['flows'] = {};
  const add = (items: ApiFlow[]) => {
    for (const f of items) {
      const per = (out[f.node] ??= {});
      const k = flowKey({ src: f.src.ip, dst: f.dst.ip, proto: f.proto, dstPort: f.dst.port });
      per[k] = (per[k] ?? 0) + f.count;
    }
  };
  const all = await drops(api, 'limit=10000', token);
  if (!all.truncated) {
    add(all.items);
    return out;
  }
  for (let i = 0; i < nodes.length; i += 8) {
    const parts = await Promise.all(
      nodes.slice(i, i + 8).map((n) => drops(api, `node=${encodeURIComponent(n)}&limit=10000`, token)),
    );
    for (const p of parts) add(p.items);
  }
  return out;
}

/** Differences "node flow: want N, got M" (empty when equal). */
export function diffCounts(want: FleetCounts['flows'], got: FleetCounts['flows']): string[] {
  const out: string[] = [];
  for (const node of new Set([...Object.keys(want), ...Object.keys(got)])) {
    const w = want[node] ?? {},
      g = got[node] ?? {};
    for (const k of new Set([...Object.keys(w), ...Object.keys(g)]))
      if ((w[k] ?? 0) !== (g[k] ?? 0)) out.push(`${node} ${k}: want ${w[k] ?? 0}, got ${g[k] ?? 0}`);
  }
  return out;
}

const podKey = (p: SimPod) => `${p.namespace}/${p.name}`;

/** Occurrences the PacketDrop Events of each known pod must add up to: every drop with it on either side. */
export function expectedPodEventTotals(c: FleetCounts, known: SimPod[]): Record<string, number> {
  const byIp = new Map(known.map((p) => [p.ip, p]));
  const out: Record<string, number> = Object.fromEntries(known.map((p) => [podKey(p), 0]));
  for (const flows of Object.values(c.flows)) {
    for (const [k, n] of Object.entries(flows)) {
      const [src, dst] = k.split('|');
      for (const ip of new Set([src, dst])) {
        const p = byIp.get(ip);
        if (p) out[podKey(p)] += n;
      }
    }
  }
  return out;
}

/** The sum of `count` over the PacketDrop Events on each known pod, as the API server has them. */
export async function podEventTotals(cp: ControlPlane, known: SimPod[]): Promise<Record<string, number>> {
  const out: Record<string, number> = Object.fromEntries(known.map((p) => [podKey(p), 0]));
  for (const ns of new Set(known.map((p) => p.namespace))) {
    const r = await cp.request(
      'GET',
      `/api/v1/namespaces/${ns}/events?fieldSelector=${encodeURIComponent('reason=PacketDrop')}`,
    );
    if (r.status !== 200) throw new Error(`list events in ${ns}: ${r.status}`);
    for (const e of r.body.items as { involvedObject: { namespace: string; name: string }; count?: number }[]) {
      const k = `${e.involvedObject.namespace}/${e.involvedObject.name}`;
      if (k in out) out[k] += e.count ?? 1;
    }
  }
  return out;
}
