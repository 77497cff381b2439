// One bound for every query store: an entry count and an estimated heap byte total, evicting the
// entry written longest ago first, O(1) amortised per write (a full sort per insert stalled the event
// loop for seconds at 200k flows).
//
// Write order lives in a queue of (key, stamp) next to the Map, not in the Map's own order: taking
// the front with a fresh map.keys() steps over every deleted slot left at the front of V8's table
// (400k evictions from a 55k-entry map: 11.5 s), and a long-lived iterator that is not advanced pins
// every table V8 rehashes to meanwhile (a leak of ≈ 60 B per write in the node store).

export interface Bounds {
  maxEntries: number;
  /** Estimated bytes: what the entries' `bytes` add up to (see each store's estimate). */
  maxBytes: number;
}

export type EvictReason = 'entries' | 'bytes';

export interface BoundEvents {
  /** One entry evicted (for a counter). */
  evicted?(reason: EvictReason): void;
  /** The first eviction of an episode; the episode ends once the store is back under 90 % of both bounds. */
  episode?(reason: EvictReason, entries: number, bytes: number): void;
}

export interface Sized {
  /** The estimate last counted for this entry; owned by BoundedMap. */
  bytes: number;
  /** Which write of this entry is its latest (older queue slots for it are skipped); owned by BoundedMap. */
  stamp: number;
}

/** String payload on the V8 heap: a header plus one byte per Latin-1 character, two otherwise. */
export function stringBytes(s: string | undefined | null): number {
  if (!s) return 0;
  // eslint-disable-next-line no-control-regex
  return 16 + (/[^\u0000-\u00ff]/.test(s) ? 2 * s.length : s.length);
}

export class BoundedMap<V extends Sized> {
  private readonly map = new Map<string, V>();
  private total = 0;
  private inEpisode = false;
  /** Write order: slot i is the write of keys[i] with stamps[i]; the live ones from head on, oldest first. */
  private keys: string[] = [];
  private stamps: number[] = [];
  private head = 0;
  private writes = 0;

  constructor(
    readonly bounds: Bounds,
    private readonly events: BoundEvents = {},
    private readonly onRemove?: (key: string, v: V) => void,
  ) {}

  get size(): number {
    return this.map.size;
  }
  /** Estimated bytes held. */
  get bytes(): number {
    return this.total;
  }

  get(key: string): V | undefined {
    return this.map.get(key);
  }
  values(): IterableIterator<V> {
    return this.map.values();
  }
  entries(): IterableIterator<[string, V]> {
    return this.map.entries();
  }

  /** Stores (or re-stores, after a change) v as the newest entry, counted at `bytes`; evicts past a bound. */
  set(key: string, v: V, bytes: number): void {
    const old = this.map.get(key);
    if (old !== undefined) this.total -= old.bytes;
    v.bytes = bytes;
    v.stamp = ++this.writes;
    this.total += bytes;
    this.map.set(key, v);
    this.keys.push(key);
    this.stamps.push(v.stamp);
    // Rewrites leave stale slots behind; once they outnumber the live ones, drop them (O(queue),
    // at most once per `size` writes).
    if (this.keys.length - this.head > 2 * this.map.size + 1024) this.compact();
    this.evict();
  }

  delete(key: string): boolean {
    const v = this.map.get(key);
    if (v === undefined) return false;
    this.remove(key, v);
    return true;
  }

  /** Removes every entry matching pred (retention); returns how many. */
  deleteWhere(pred: (v: V, key: string) => boolean): number {
    let n = 0;
    for (const [k, v] of this.map)
      if (pred(v, k)) {
        this.remove(k, v);
        n++;
      }
    this.endEpisodeIfRoomy();
    return n;
  }

  private remove(key: string, v: V): void {
    this.map.delete(key);
    this.total -= v.bytes;
    this.onRemove?.(key, v);
  }

  private evict(): void {
    // The newest entry stays even if it alone is over the byte bound: the store never answers empty
    // because one record was large.
    while (this.map.size > 1 && (this.map.size > this.bounds.maxEntries || this.total > this.bounds.maxBytes)) {
      const reason: EvictReason = this.map.size > this.bounds.maxEntries ? 'entries' : 'bytes';
      const [k, v] = this.oldest();
      this.remove(k, v);
      this.events.evicted?.(reason);
      if (!this.inEpisode) {
        this.inEpisode = true;
        this.events.episode?.(reason, this.map.size, this.total);
      }
    }
    this.endEpisodeIfRoomy();
  }

  private oldest(): [string, V] {
    for (;;) {
      const k = this.keys[this.head],
        st = this.stamps[this.head];
      this.head++;
      const v = this.map.get(k);
      if (v !== undefined && v.stamp === st) {
        if (this.head > 1024 && 2 * this.head > this.keys.length) this.compact();
        return [k, v];
      }
    }
  }

  private compact(): void {
    const keys: string[] = [],
      stamps: number[] = [];
    for (let i = this.head; i < this.keys.length; i++) {
      if (this.map.get(this.keys[i])?.stamp === this.stamps[i]) {
        keys.push(this.keys[i]);
        stamps.push(this.stamps[i]);
      }
    }
    this.keys = keys;
    this.stamps = stamps;
    this.head = 0;
  }

  private endEpisodeIfRoomy(): void {
    if (this.inEpisode && this.map.size <= 0.9 * this.bounds.maxEntries && this.total <= 0.9 * this.bounds.maxBytes)
      this.inEpisode = false;
  }
}
