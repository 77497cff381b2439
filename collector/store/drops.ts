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

interface Entry {
  node: string;
  drop: PacketDrop;
  count: number;
  first: number;
  last: number;
  srcOwner?: Owner;
  dstOwner?: Owner;
}

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

export class DropStore {
  private flows = new Map<string, Entry>();

  constructor(private readonly resolver: Resolver, private readonly maxFlows = 200_000) {}

  get size(): number { return this.flows.size; }

  /** Adds one coalesced record; returns the flow's running total. */
  add(node: string, d: PacketDrop): Entry {
    const key = `${node}|${d.prefix}|${d.src}|${d.dst}|${d.proto}|${d.dstPort ?? ''}|${d.icmpType ?? ''}|${d.inIface}|${d.outIface}`;
    const count = Number(d.count);
    let e = this.flows.get(key);
    if (e) {
      e.count += count;
      e.first = Math.min(e.first, d.firstSeenMs as number);
      e.last = Math.max(e.last, d.lastSeenMs as number);
      e.drop = d;
    } else {
      e = { node, drop: d, count, first: d.firstSeenMs as number, last: d.lastSeenMs as number };
      this.flows.set(key, e);
      if (this.flows.size > this.maxFlows) this.evictOldest();
    }
    // Resolve at arrival: the owner at drop time matters once IPs are reused.
    e.srcOwner = this.resolver.resolve(d.src as string, e.last) ?? e.srcOwner;
    e.dstOwner = this.resolver.resolve(d.dst as string, e.last) ?? e.dstOwner;
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
        e.srcOwner ??= this.resolver.resolve(e.drop.src as string, e.last);
        e.dstOwner ??= this.resolver.resolve(e.drop.dst as string, e.last);
        if (!podMatches(e.srcOwner, q.namespace, q.pod) && !podMatches(e.dstOwner, q.namespace, q.pod)) continue;
      }
      hits.push(e);
    }
    hits.sort((a, b) => b.last - a.last);
    const items = hits.slice(0, q.limit).map((e) => this.toFlow(e));
    return { items, total: hits.length, truncated: hits.length > items.length };
  }

  toFlow(e: Entry): Flow {
    const d = e.drop;
    e.srcOwner ??= this.resolver.resolve(d.src as string, e.last);
    e.dstOwner ??= this.resolver.resolve(d.dst as string, e.last);
    const f: Flow = {
      node: e.node, prefix: d.prefix as string, proto: d.proto as string,
      src: endpoint(d.src as string, undefined, e.srcOwner), dst: endpoint(d.dst as string, d.dstPort, e.dstOwner),
      count: e.count, firstSeen: new Date(e.first).toISOString(), lastSeen: new Date(e.last).toISOString(),
    };
    if (d.inIface) f.in = d.inIface;
    if (d.outIface) f.out = d.outIface;
    if (d.icmpType !== null && d.icmpType !== undefined) f.icmpType = d.icmpType;
    if (d.icmpCode !== null && d.icmpCode !== undefined) f.icmpCode = d.icmpCode;
    if (d.sample) f.sample = d.sample;
    return f;
  }

  private evictOldest(): void {
    const drop = Math.max(1, Math.floor(this.maxFlows / 10));
    const oldest = [...this.flows.entries()].sort((a, b) => a[1].last - b[1].last).slice(0, drop);
    for (const [k] of oldest) this.flows.delete(k);
  }
}
