// Pure: counting repeats and deciding which Event write goes next (no I/O; the clock is passed in).
//
// Every (object, type, reason, message) is one entry. Observations only add to the entry's pending
// count; the writer asks next() for the next write it may do. next() hands out at most one write per
// entry at a time, new Events before updates of existing ones (first appearance matters most),
// oldest first, and only when
//   - the entry's last write is at least updateIntervalMs old (repeats PATCH at most that often), and
//   - the involved object's token bucket (objectBurst, one token per objectRefillMs) has a token,
// so one noisy pod cannot use the whole budget. The global QPS bucket is the caller's (every API
// write, retries included, takes from it). Whatever is held back stays in `pending` and is added to
// the count of the next write: suppressed repeats are never lost, only delayed.
import { objectKey, observationKey, type EventObject, type Observation } from './messages.js';
import { MAX_HELD_MESSAGES } from './acks.js';
import { shareOf } from './replicas.js';
import { TokenBucket } from './token-bucket.js';

/**
 * Stream sequences remembered per entry: as many as messages may be held unacked. Only unacked
 * messages can come back (acks.ts acks within 20 s), so an entry held back for long (API server
 * down) forgets its oldest sequences instead of growing with every message; their occurrences stay
 * in the count.
 */
export const MAX_PARTS = MAX_HELD_MESSAGES;

function addPart(parts: Map<number, number>, seq: number, n: number): void {
  parts.set(seq, (parts.get(seq) ?? 0) + n);
  if (parts.size > MAX_PARTS) parts.delete(parts.keys().next().value as number);
}

/** What the API server holds for an Event, as far as this process knows. */
export interface KnownEvent {
  name: string;
  count: number;
  resourceVersion: string;
  lastMs: number;
  /** The stream sequences it already counts (applied.ts annotation value), as the server last said. */
  applied?: string;
}

interface Entry {
  key: string;
  objKey: string;
  object: EventObject;
  type: Observation['type'];
  reason: string;
  message: string;
  host: string;
  pending: number;
  pendingFirst: number;
  pendingLast: number;
  /** Stream sequence -> occurrences of the pending count (observations that came with a sequence). */
  parts: Map<number, number>;
  known?: KnownEvent;
  inflight: boolean;
  notBefore: number;
  touched: number;
  /** Consecutive failed writes (for the writer's backoff); 0 after a success. */
  failures: number;
}

export interface WriteTask {
  key: string;
  object: EventObject;
  type: Observation['type'];
  reason: string;
  message: string;
  host: string;
  /** Occurrences to add to the Event's count. */
  delta: number;
  /** Where delta came from, by stream sequence: a sequence the Event already counts is skipped. */
  parts?: ReadonlyMap<number, number>;
  firstMs: number;
  lastMs: number;
  /** Server state from our last write; absent -> create (or find it after a 409). */
  known?: KnownEvent;
  /** Consecutive failed writes of this Event before this one. */
  failures: number;
}

export type WriteOutcome =
  | { ok: true; known: KnownEvent }
  /**
   * Failure (429/5xx/transport, or 403 — RBAC can be missing for a moment after an apiserver restart,
   * or until an operator fixes it): the delta goes back to pending, retried not before retryAt.
   */
  | { ok: false; retryAt: number; forget?: boolean }
  /** Permanent failure (the API server rejects the Event as invalid): the delta is discarded. */
  | { ok: false; drop: true; retryAt: number };

export interface CorrelatorOptions {
  objectBurst: number;
  objectRefillMs: number;
  updateIntervalMs: number;
  /** Bound on entries (distinct Events remembered). */
  maxEntries?: number;
  /**
   * Entries with nothing pending are forgotten after this long (Events expire at the API server after --event-ttl, 1
   * h).
   */
  idleMs?: number;
}

export interface CorrelatorStats {
  observed: number;
  /** Occurrences that did not cause a write of their own (folded into a later count). */
  suppressed: number;
  /** Occurrences lost because the entry table was full of pending entries. */
  overflow: number;
  /** Occurrences discarded after a permanent failure (Event rejected as invalid). */
  discarded: number;
  /** Counted into a successful write. */
  written: number;
}

export class Correlator {
  private entries = new Map<string, Entry>();
  private fresh = new Map<string, Entry>();
  private updates = new Map<string, Entry>();
  private buckets = new Map<string, TokenBucket>();
  private readonly maxEntries: number;
  private readonly idleMs: number;
  /** Collector replicas writing Events: each object's budget is shared between them like the global one. */
  private replicas = 1;
  readonly stats: CorrelatorStats = { observed: 0, suppressed: 0, overflow: 0, discarded: 0, written: 0 };

  constructor(private readonly o: CorrelatorOptions) {
    this.maxEntries = o.maxEntries ?? 50_000;
    this.idleMs = o.idleMs ?? 3_600_000;
  }

  get size(): number {
    return this.entries.size;
  }
  get queued(): number {
    return this.fresh.size + this.updates.size;
  }

  /** Occurrences observed but not yet written (pending + in flight counts are not included for in-flight). */
  pendingTotal(): number {
    let n = 0;
    for (const e of this.entries.values()) n += e.pending;
    return n;
  }

  /** Adds to the entry's pending count; its key, or undefined when the table was full (lost, counted). */
  observe(ob: Observation, now: number): string | undefined {
    this.stats.observed += ob.count;
    const key = observationKey(ob);
    let e = this.entries.get(key);
    if (!e) {
      if (this.entries.size >= this.maxEntries && !this.evictOne()) {
        this.stats.overflow += ob.count;
        return undefined;
      }
      e = {
        key,
        objKey: objectKey(ob.object),
        object: ob.object,
        type: ob.type,
        reason: ob.reason,
        message: ob.message,
        host: ob.host,
        pending: 0,
        pendingFirst: Infinity,
        pendingLast: 0,
        parts: new Map(),
        inflight: false,
        notBefore: 0,
        touched: now,
        failures: 0,
      };
      this.entries.set(key, e);
    } else {
      // keep LRU order for eviction
      this.entries.delete(key);
      this.entries.set(key, e);
    }
    if (e.pending > 0 || e.inflight || e.notBefore > now) this.stats.suppressed += ob.count;
    e.pending += ob.count;
    e.pendingFirst = Math.min(e.pendingFirst, ob.firstMs);
    e.pendingLast = Math.max(e.pendingLast, ob.lastMs);
    if (ob.seq !== undefined) addPart(e.parts, ob.seq, ob.count);
    e.touched = now;
    this.enqueue(e);
    return key;
  }

  private enqueue(e: Entry): void {
    if (e.inflight || e.pending <= 0) return;
    if (e.known) {
      if (!this.updates.has(e.key)) this.updates.set(e.key, e);
    } else if (!this.fresh.has(e.key)) this.fresh.set(e.key, e);
  }

  private objectShare(): { qps: number; burst: number } {
    return shareOf(1000 / this.o.objectRefillMs, this.o.objectBurst, this.replicas);
  }

  private bucket(objKey: string, now: number): TokenBucket {
    let b = this.buckets.get(objKey);
    if (!b) {
      const s = this.objectShare();
      b = new TokenBucket(s.qps, s.burst, now);
      this.buckets.set(objKey, b);
    }
    return b;
  }

  /** `replicas` write Events now: every object's budget (and every new one) is this replica's share. */
  share(replicas: number, now: number): void {
    this.replicas = replicas;
    const s = this.objectShare();
    for (const b of this.buckets.values()) b.reshape(s.qps, s.burst, now);
  }

  /**
   * The next write allowed now, or how long until one may be (undefined: nothing queued). Scans at most
   * `scan` queued entries per call so a huge backlog costs bounded CPU per write. `drain` (shutdown)
   * ignores the per-object limit and the update interval so pending counts get out.
   */
  next(now: number, scan = 5000, drain = false): WriteTask | { waitMs: number } | undefined {
    if (this.queued === 0) return undefined;
    let wait = Infinity;
    let looked = 0;
    for (const q of [this.fresh, this.updates]) {
      for (const e of q.values()) {
        if (++looked > scan) break;
        // draining (shutdown): only a failure backoff still holds an entry back
        if (e.notBefore > now && (!drain || e.failures > 0)) {
          wait = Math.min(wait, e.notBefore - now);
          continue;
        }
        const b = this.bucket(e.objKey, now);
        if (!drain && !b.available(now)) {
          wait = Math.min(wait, b.waitMs(now));
          continue;
        }
        b.take(now);
        q.delete(e.key);
        e.inflight = true;
        const t: WriteTask = {
          key: e.key,
          object: e.object,
          type: e.type,
          reason: e.reason,
          message: e.message,
          host: e.host,
          delta: e.pending,
          parts: e.parts,
          firstMs: e.pendingFirst,
          lastMs: e.pendingLast,
          known: e.known,
          failures: e.failures,
        };
        e.pending = 0;
        e.pendingFirst = Infinity;
        e.pendingLast = 0;
        e.parts = new Map();
        return t;
      }
    }
    return { waitMs: wait === Infinity ? 1000 : Math.max(1, wait) };
  }

  complete(t: WriteTask, out: WriteOutcome, now: number): void {
    const e = this.entries.get(t.key);
    if (out.ok) this.stats.written += t.delta;
    else if ('drop' in out) this.stats.discarded += t.delta;
    if (!e) return;
    e.inflight = false;
    e.touched = now;
    if (out.ok) {
      e.known = out.known;
      e.failures = 0;
      e.notBefore = now + this.o.updateIntervalMs;
    } else {
      e.failures++;
      if (!('drop' in out)) {
        e.pending += t.delta;
        e.pendingFirst = Math.min(e.pendingFirst, t.firstMs);
        e.pendingLast = Math.max(e.pendingLast, t.lastMs);
        for (const [seq, n] of t.parts ?? []) addPart(e.parts, seq, n);
        if (out.forget) e.known = undefined;
      }
      e.notBefore = out.retryAt;
    }
    this.enqueue(e);
  }

  /** Forgets idle entries and full buckets. */
  sweep(now: number): void {
    for (const [k, e] of this.entries) {
      if (e.pending === 0 && !e.inflight && now - e.touched > this.idleMs) this.entries.delete(k);
    }
    for (const [k, b] of this.buckets) if (b.full(now)) this.buckets.delete(k);
  }

  private evictOne(): boolean {
    for (const [k, e] of this.entries) {
      if (e.pending === 0 && !e.inflight) {
        this.entries.delete(k);
        return true;
      }
    }
    return false;
  }
}
