// Bounded in-memory flow store behind GET /api/v1/drops. Rebuilt from the stream on restart.
import type { PacketDrop } from '../../proto/codec.js';
import { flowKey } from '../../common/flow.js';
import type { Owner, Resolver } from '../resolve/resolver.js';
import type { Explanation } from '../explain/index.js';
import { BoundedMap, stringBytes, type BoundEvents, type Bounds } from './budget.js';
import { topK } from './top.js';

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
  /** Added by the API at query time (collector/explain/flows.ts), never stored. */
  explanation?: Explanation;
}

/**
 * One flow, flat: the decoded protobuf message is not kept (its Long count, boxed doubles and
 * per-message copies of every string cost more than the flow itself).
 */
export interface FlowEntry {
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
  bytes: number;
  stamp: number;
}

/**
 * Heap bytes of one flow beyond its strings: the 18-field object, its Map slot, its write-order
 * slot and the key's header (Node 20, no pointer compression). Measured by bench/ingest-1m.ts
 * (bench/RESULTS.md): ≈ 760 B a flow with 200 B samples, ≈ 2,580 B with 2 KiB ones.
 */
const FLOW_OVERHEAD = 420;
const flowBytes = (key: string, e: FlowEntry) =>
  FLOW_OVERHEAD +
  key.length +
  stringBytes(e.src) +
  stringBytes(e.dst) +
  stringBytes(e.inIface) +
  stringBytes(e.outIface) +
  stringBytes(e.sample);

/** Defaults sized for the deployed collector (deploy/collector.yaml: --max-old-space-size=320). */
export const DEFAULT_FLOW_BOUNDS: Bounds = { maxEntries: 200_000, maxBytes: 128 * 2 ** 20 };

/**
 * A time from the wire that is not a valid date (NaN, ±Infinity, beyond year 275760) must not make a flow immortal or
 * unprintable.
 */
const finiteOr = (v: number | null | undefined, fallback: number): number =>
  typeof v === 'number' && Math.abs(v) <= 8.64e15 ? v : fallback;

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
  if (o?.kind === 'pod')
    e.pod = o.uid ? { namespace: o.namespace, name: o.name, uid: o.uid } : { namespace: o.namespace, name: o.name };
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
  private readonly flows: BoundedMap<FlowEntry>;
  private readonly names = new Interner();

  /** Flows go oldest-written first once either bound is reached (a flow seen again is written again). */
  constructor(
    private readonly resolver: Resolver,
    bounds: Partial<Bounds> = {},
    events: BoundEvents = {},
  ) {
    this.flows = new BoundedMap<FlowEntry>({ ...DEFAULT_FLOW_BOUNDS, ...bounds }, events);
  }

  get size(): number {
    return this.flows.size;
  }
  /** Estimated heap bytes held by the flows. */
  get bytes(): number {
    return this.flows.bytes;
  }

  /** Adds one coalesced record (atMs stands in for times that are not numbers); returns the flow's running total. */
  add(node: string, d: PacketDrop, atMs = Date.now()): FlowEntry {
    const key = flowKey(d, d.inIface, d.outIface, node);
    const count = Number(d.count);
    const last = finiteOr(d.lastSeenMs, atMs);
    const first = finiteOr(d.firstSeenMs, last);
    let e = this.flows.get(key);
    if (e) {
      if (Number.isFinite(count)) e.count += count;
      e.first = Math.min(e.first, first);
      e.last = Math.max(e.last, last);
      // The latest record speaks for the flow (the key leaves out the ICMP code and the sample).
      e.icmpCode = opt(d.icmpCode);
      if (d.sample) e.sample = d.sample;
    } else {
      e = {
        node: this.names.get(node),
        prefix: this.names.get(d.prefix ?? ''),
        proto: this.names.get(d.proto ?? ''),
        src: d.src ?? '',
        dst: d.dst ?? '',
        dstPort: opt(d.dstPort),
        icmpType: opt(d.icmpType),
        icmpCode: opt(d.icmpCode),
        inIface: d.inIface ?? '',
        outIface: d.outIface ?? '',
        sample: d.sample ?? '',
        count: Number.isFinite(count) ? count : 0,
        first,
        last,
        bytes: 0,
        stamp: 0,
      };
    }
    this.flows.set(key, e, flowBytes(key, e));
    // Resolve at arrival: the owner at drop time matters once IPs are reused.
    e.srcOwner = this.resolver.resolve(e.src, e.last) ?? e.srcOwner;
    e.dstOwner = this.resolver.resolve(e.dst, e.last) ?? e.dstOwner;
    return e;
  }

  /** Drops flows last seen before cutoffMs (retention); "not at or after" so no time escapes it. */
  expire(cutoffMs: number): number {
    return this.flows.deleteWhere((e) => !(e.last >= cutoffMs));
  }

  query(q: DropQuery): { items: Flow[]; total: number; truncated: boolean } {
    const { items, total } = topK(this.matching(q), q.limit, (a, b) => b.last - a.last);
    return { items: items.map((e) => this.toFlow(e)), total, truncated: total > items.length };
  }

  private *matching(q: Omit<DropQuery, 'limit'>): Generator<FlowEntry> {
    for (const e of this.flows.values()) if (this.matches(e, q)) yield e;
  }

  /** Whether a flow passes the query's filters (the list and the watch use the same rules). */
  matches(e: FlowEntry, q: Omit<DropQuery, 'limit'>): boolean {
    if (q.node !== undefined && e.node !== q.node) return false;
    if (q.sinceMs !== undefined && e.last < q.sinceMs) return false;
    if (q.namespace === undefined && q.pod === undefined) return true;
    // A flow stored before the pod cache knew the pod is resolved again now.
    e.srcOwner ??= this.resolver.resolve(e.src, e.last);
    e.dstOwner ??= this.resolver.resolve(e.dst, e.last);
    return podMatches(e.srcOwner, q.namespace, q.pod) || podMatches(e.dstOwner, q.namespace, q.pod);
  }

  toFlow(e: FlowEntry): Flow {
    e.srcOwner ??= this.resolver.resolve(e.src, e.last);
    e.dstOwner ??= this.resolver.resolve(e.dst, e.last);
    const f: Flow = {
      node: e.node,
      prefix: e.prefix,
      proto: e.proto,
      src: endpoint(e.src, undefined, e.srcOwner),
      dst: endpoint(e.dst, e.dstPort, e.dstOwner),
      count: e.count,
      firstSeen: new Date(e.first).toISOString(),
      lastSeen: new Date(e.last).toISOString(),
    };
    if (e.inIface) f.in = e.inIface;
    if (e.outIface) f.out = e.outIface;
    if (e.icmpType !== undefined) f.icmpType = e.icmpType;
    if (e.icmpCode !== undefined) f.icmpCode = e.icmpCode;
    if (e.sample) f.sample = e.sample;
    return f;
  }
}
