// Active and recently cleared findings, per (node, kind, key).
import type { Finding as FindingMsg } from '../../proto/codec.js';
import type { Resolver } from '../resolve/resolver.js';
import { BoundedMap, stringBytes, type BoundEvents, type Bounds } from './budget.js';
import { topK } from './top.js';

export interface FindingView {
  node: string;
  kind: string;
  severity: string;
  message: string;
  active: boolean;
  firstSeen: string;
  lastSeen: string;
  /** Tells findings of one kind on one node apart (e.g. a pod uid, an interface); absent when there is one. */
  key?: string;
  pod?: { namespace?: string; name?: string; uid?: string; container?: string };
  evidence?: Record<string, string>;
}

interface Entry {
  node: string;
  f: FindingMsg;
  active: boolean;
  first: number;
  last: number;
  clearedAt?: number;
  bytes: number;
  stamp: number;
}

/** The entry, the decoded message object and its map slots, beyond the strings (Node 20, see budget.ts). */
const FINDING_OVERHEAD = 480;
function findingBytes(key: string, e: Entry): number {
  const f = e.f;
  let n =
    FINDING_OVERHEAD +
    key.length +
    stringBytes(f.kind) +
    stringBytes(f.key) +
    stringBytes(f.severity) +
    stringBytes(f.message);
  for (const [k, v] of Object.entries(f.evidence ?? {})) n += 48 + stringBytes(k) + stringBytes(v);
  if (f.pod)
    n +=
      64 +
      stringBytes(f.pod.namespace) +
      stringBytes(f.pod.name) +
      stringBytes(f.pod.uid) +
      stringBytes(f.pod.container);
  return n;
}

export const DEFAULT_FINDING_BOUNDS: Bounds = { maxEntries: 50_000, maxBytes: 32 * 2 ** 20 };

/** What GET /api/v1/nodes shows per node, kept up to date on every change (never a scan per node). */
export interface NodeFindingCounts {
  active: number;
  activeCritical: number;
}

export interface FindingQuery {
  node?: string;
  kind?: string;
  active?: boolean;
  severity?: string;
  /** Pod findings of this namespace, and node findings (no pod: they concern every pod on the node). */
  namespace?: string;
  /** Findings of pods with this name (never node findings). */
  pod?: string;
  sinceMs?: number;
}

/** A wire time usable as a date, else 0 (the callers fall back to the arrival time). */
const validTime = (v: number | null | undefined): number => (typeof v === 'number' && Math.abs(v) <= 8.64e15 ? v : 0);

export class FindingStore {
  private readonly entries: BoundedMap<Entry>;
  private readonly perNode = new Map<string, NodeFindingCounts>();

  constructor(
    private readonly resolver: Resolver,
    bounds: Partial<Bounds> = {},
    events: BoundEvents = {},
  ) {
    this.entries = new BoundedMap<Entry>({ ...DEFAULT_FINDING_BOUNDS, ...bounds }, events, (_k, e) =>
      this.count(e, -1),
    );
  }

  get size(): number {
    return this.entries.size;
  }

  /** Applies a raise or clear; returns true when it changed the active state. */
  apply(node: string, f: FindingMsg, atMs: number): boolean {
    const key = FindingStore.keyOf(node, f);
    const e = this.entries.get(key);
    const t = validTime(f.lastSeenMs) || atMs;
    if (!e) {
      const n: Entry = {
        node,
        f,
        active: !!f.active,
        first: validTime(f.firstSeenMs) || t,
        last: t,
        clearedAt: f.active ? undefined : t,
        bytes: 0,
        stamp: 0,
      };
      this.count(n, 1);
      this.entries.set(key, n, findingBytes(key, n));
      return true;
    }
    this.count(e, -1);
    const changed = e.active !== !!f.active;
    if (f.active && !e.active) e.first = t;
    e.active = !!f.active;
    e.last = Math.max(e.last, t);
    e.clearedAt = f.active ? undefined : t;
    // A clear keeps the evidence of the raise unless it brings its own.
    e.f =
      f.active || Object.keys(f.evidence ?? {}).length ? f : { ...f, evidence: e.f.evidence, pod: f.pod ?? e.f.pod };
    this.count(e, 1);
    this.entries.set(key, e, findingBytes(key, e));
    return changed;
  }

  /** The identity of a finding: one entry per (node, kind, key). */
  static keyOf(node: string, f: FindingMsg): string {
    return `${node}|${f.kind}|${f.key ?? ''}`;
  }

  /** The view of one finding by its keyOf(), if still held. */
  viewOf(key: string): FindingView | undefined {
    const e = this.entries.get(key);
    return e && this.view(e);
  }

  /** Whether a held finding passes the query's filters (the list and the watch use the same rules). */
  matchesKey(key: string, q: FindingQuery): boolean {
    const e = this.entries.get(key);
    return e !== undefined && this.matchesQuery(e, q);
  }

  /** Active findings of a node, O(1). */
  counts(node: string): NodeFindingCounts {
    return this.perNode.get(node) ?? { active: 0, activeCritical: 0 };
  }

  activeCritical(node: string): number {
    return this.counts(node).activeCritical;
  }
  activeCount(node: string): number {
    return this.counts(node).active;
  }

  expireCleared(cutoffMs: number): void {
    this.entries.deleteWhere((e) => !e.active && !((e.clearedAt ?? 0) >= cutoffMs));
  }

  /** Every match, newest first (for callers that need them all; the API uses page()). */
  query(q: FindingQuery): FindingView[] {
    return this.page(q, Number.MAX_SAFE_INTEGER).items;
  }

  page(q: FindingQuery, limit: number): { items: FindingView[]; total: number; truncated: boolean } {
    const { items, total } = topK(this.matching(q), limit, (a, b) => b.last - a.last);
    return { items: items.map((e) => this.view(e)), total, truncated: total > items.length };
  }

  private *matching(q: FindingQuery): Generator<Entry> {
    for (const e of this.entries.values()) if (this.matchesQuery(e, q)) yield e;
  }

  private count(e: Entry, sign: 1 | -1): void {
    if (!e.active) return;
    const c = this.perNode.get(e.node) ?? { active: 0, activeCritical: 0 };
    c.active += sign;
    if (e.f.severity === 'critical') c.activeCritical += sign;
    if (c.active === 0) this.perNode.delete(e.node);
    else this.perNode.set(e.node, c);
  }

  private matchesQuery(e: Entry, q: FindingQuery): boolean {
    if (q.node !== undefined && e.node !== q.node) return false;
    if (q.kind !== undefined && e.f.kind !== q.kind) return false;
    if (q.active !== undefined && e.active !== q.active) return false;
    if (q.severity !== undefined && e.f.severity !== q.severity) return false;
    if (q.sinceMs !== undefined && e.last < q.sinceMs) return false;
    if (q.namespace === undefined && q.pod === undefined) return true;
    const p = this.podOf(e);
    if (q.pod !== undefined && p?.name !== q.pod) return false;
    return q.namespace === undefined || !p || p.namespace === q.namespace;
  }

  /** The finding's pod, named from its UID when the agent sent only that; undefined for node findings. */
  private podOf(e: Entry): { namespace?: string; name?: string } | undefined {
    const p = e.f.pod;
    if (!p || !(p.uid || p.name)) return undefined;
    const named = !p.name && p.uid ? this.resolver.podByUid(p.uid) : undefined;
    return { namespace: p.namespace || named?.namespace || undefined, name: p.name || named?.name || undefined };
  }

  private view(e: Entry): FindingView {
    const v: FindingView = {
      node: e.node,
      kind: e.f.kind as string,
      severity: e.f.severity as string,
      message: e.f.message as string,
      active: e.active,
      firstSeen: new Date(e.first).toISOString(),
      lastSeen: new Date(e.last).toISOString(),
    };
    if (e.f.key) v.key = e.f.key;
    const p = e.f.pod;
    const named = this.podOf(e);
    if (p && named) {
      v.pod = { ...named, uid: p.uid || undefined, container: p.container || undefined };
      for (const k of Object.keys(v.pod) as (keyof NonNullable<FindingView['pod']>)[])
        if (v.pod[k] === undefined) delete v.pod[k];
    }
    if (e.f.evidence && Object.keys(e.f.evidence).length) v.evidence = { ...e.f.evidence };
    return v;
  }
}
