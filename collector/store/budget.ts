// One bound for every query store: an entry count and an estimated heap byte total, evicting the
// entry written longest ago first. A Map iterates in insertion order, so re-inserting on every write
// keeps the front the eviction candidate: O(1) per write, no sort (a full sort per insert stalled the
// event loop for seconds at 200k flows).

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

  constructor(readonly bounds: Bounds, private readonly events: BoundEvents = {}, private readonly onRemove?: (key: string, v: V) => void) {}

  get size(): number { return this.map.size; }
  /** Estimated bytes held. */
  get bytes(): number { return this.total; }

  get(key: string): V | undefined { return this.map.get(key); }
  values(): IterableIterator<V> { return this.map.values(); }
  entries(): IterableIterator<[string, V]> { return this.map.entries(); }

  /** Stores (or re-stores, after a change) v as the newest entry, counted at `bytes`; evicts past a bound. */
  set(key: string, v: V, bytes: number): void {
    const old = this.map.get(key);
    if (old !== undefined) {
      this.total -= old.bytes;
      this.map.delete(key);
    }
    v.bytes = bytes;
    this.total += bytes;
    this.map.set(key, v);
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
    for (const [k, v] of this.map) if (pred(v, k)) { this.remove(k, v); n++; }
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
      const [k, v] = this.map.entries().next().value as [string, V];
      this.remove(k, v);
      this.events.evicted?.(reason);
      if (!this.inEpisode) {
        this.inEpisode = true;
        this.events.episode?.(reason, this.map.size, this.total);
      }
    }
    this.endEpisodeIfRoomy();
  }

  private endEpisodeIfRoomy(): void {
    if (this.inEpisode && this.map.size <= 0.9 * this.bounds.maxEntries && this.total <= 0.9 * this.bounds.maxBytes) this.inEpisode = false;
  }
}
