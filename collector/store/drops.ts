// Bounded in-memory flow store behind GET /api/v1/drops. Rebuilt from the stream on restart.
import type { PacketDrop } from '../../proto/codec.js';
import type { Owner, Resolver } from '../resolve/resolver.js';

export interface Endpoint {
  ip: string;
  port?: number;
  pod?: { namespace: string; name: string; uid?: string };
  /** Set when the IP is a node's own address. */
  node?: string;
}

export interface Flow {
  node: string;
  prefix: string;
  proto: string;
  src: Endpoint;
  dst: Endpoint;
  count: number;
  firstSeen: string;
  lastSeen: string;
  in?: string;
  out?: string;
  icmpType?: number;
  icmpCode?: number;
  sample?: string;
}

/**
 * One flow, flat: the decoded protobuf message is not kept (its Long count, boxed doubles and
 * per-message copies of every string cost more than the flow itself).
 */
interface Entry {
  node: string;
  prefix: string;
  proto: string;
  src: string;
  dst: string;
  dstPort?: number;
  icmpType?: number;
  icmpCode?: number;
  inIface: string;
  outIface: string;
  sample: string;
  count: number;
  first: number;
  last: number;
  srcOwner?: Owner;
  dstOwner?: Owner;
}

const opt = (v: number | null | undefined): number | undefined => (v === null || v === undefined ? undefined : v);

export interface DropQuery {
  namespace?: string;
  pod?: string;
  node?: string;
  sinceMs?: number;
  limit: number;
}

function endpoint(ip: string, port: number | null | undefined, o: Owner | undefined): Endpoint {
  const e: Endpoint = { ip };
  if (port !== null && port !== undefined) e.port = port;
  if (o?.kind === 'pod') e.pod = o.uid ? { namespace: o.namespace, name: o.name, uid: o.uid } : { namespace: o.namespace, name: o.name };
  else if (o?.kind === 'node') e.node = o.name;
  return e;
}

const podMatches = (o: Owner | undefined, ns?: string, pod?: string) =>
  o?.kind === 'pod' && (ns === undefined || o.namespace === ns) && (pod === undefined || o.name === pod);

/** Few distinct values (node names, prefixes, protocols): shared instead of one copy per flow. */
class Interner {
  private readonly pool = new Map<string, string>();

  get(v: string): string {
    const hit = this.pool.get(v);
    if (hit !== undefined) return hit;
    if (this.pool.size >= 10_000) this.pool.clear(); // churn (autoscaled nodes) must not grow it forever
    this.pool.set(v, v);
    return v;
  }
}

export class DropStore {
  private flows = new Map<string, Entry>();
  private readonly names = new Interner();

  constructor(private readonly resolver: Resolver, private readonly maxFlows = 200_000) {}

  get size(): number { return this.flows.size; }

  /** Adds one coalesced record; returns the flow's running total. */
  add(node: string, d: PacketDrop): Entry {
    // join, not a template: a template key stays a tree of cons strings in the Map (≈ 480 extra bytes per flow).
    const key = [node, d.prefix, d.src, d.dst, d.proto, d.dstPort ?? '', d.icmpType ?? '', d.inIface, d.outIface].join('|');
    const count = Number(d.count);
    let e = this.flows.get(key);
    if (e) {
      e.count += count;
      e.first = Math.min(e.first, d.firstSeenMs as number);
      e.last = Math.max(e.last, d.lastSeenMs as number);
      // The latest record speaks for the flow (the key leaves out the ICMP code and the sample).
      e.icmpCode = opt(d.icmpCode);
      if (d.sample) e.sample = d.sample;
    } else {
      e = {
        node: this.names.get(node), prefix: this.names.get(d.prefix ?? ''), proto: this.names.get(d.proto ?? ''), src: d.src ?? '', dst: d.dst ?? '',
        dstPort: opt(d.dstPort), icmpType: opt(d.icmpType), icmpCode: opt(d.icmpCode), inIface: d.inIface ?? '', outIface: d.outIface ?? '',
        sample: d.sample ?? '', count, first: d.firstSeenMs as number, last: d.lastSeenMs as number,
      };
      this.flows.set(key, e);
      if (this.flows.size > this.maxFlows) this.evictOldest();
    }
    // Resolve at arrival: the owner at drop time matters once IPs are reused.
    e.srcOwner = this.resolver.resolve(e.src, e.last) ?? e.srcOwner;
    e.dstOwner = this.resolver.resolve(e.dst, e.last) ?? e.dstOwner;
    return e;
  }

  /** Drops flows last seen before cutoffMs (retention). */
  expire(cutoffMs: number): void {
    for (const [k, e] of this.flows) if (e.last < cutoffMs) this.flows.delete(k);
  }

  query(q: DropQuery): { items: Flow[]; total: number; truncated: boolean } {
    const hits: Entry[] = [];
    const bySide = q.namespace !== undefined || q.pod !== undefined;
    for (const e of this.flows.values()) {
      if (q.node !== undefined && e.node !== q.node) continue;
      if (q.sinceMs !== undefined && e.last < q.sinceMs) continue;
      if (bySide) {
        // A flow stored before the pod cache knew the pod is resolved again now.
        e.srcOwner ??= this.resolver.resolve(e.src, e.last);
        e.dstOwner ??= this.resolver.resolve(e.dst, e.last);
        if (!podMatches(e.srcOwner, q.namespace, q.pod) && !podMatches(e.dstOwner, q.namespace, q.pod)) continue;
      }
      hits.push(e);
    }
    hits.sort((a, b) => b.last - a.last);
    const items = hits.slice(0, q.limit).map((e) => this.toFlow(e));
    return { items, total: hits.length, truncated: hits.length > items.length };
  }

  toFlow(e: Entry): Flow {
    e.srcOwner ??= this.resolver.resolve(e.src, e.last);
    e.dstOwner ??= this.resolver.resolve(e.dst, e.last);
    const f: Flow = {
      node: e.node, prefix: e.prefix, proto: e.proto,
      src: endpoint(e.src, undefined, e.srcOwner), dst: endpoint(e.dst, e.dstPort, e.dstOwner),
      count: e.count, firstSeen: new Date(e.first).toISOString(), lastSeen: new Date(e.last).toISOString(),
    };
    if (e.inIface) f.in = e.inIface;
    if (e.outIface) f.out = e.outIface;
    if (e.icmpType !== undefined) f.icmpType = e.icmpType;
    if (e.icmpCode !== undefined) f.icmpCode = e.icmpCode;
    if (e.sample) f.sample = e.sample;
    return f;
  }

  private evictOldest(): void {
    const drop = Math.max(1, Math.floor(this.maxFlows / 10));
    const oldest = [...this.flows.entries()].sort((a, b) => a[1].last - b[1].last).slice(0, drop);
    for (const [k] of oldest) this.flows.delete(k);
  }
}
