// Pure rules of the outbox's one byte budget (--spool-max-bytes), shared by seals on disk and seals
// held in memory while the disk refuses writes, and of how far the saved journal cursor may go.

export interface HeldSeal {
  index: number;
  bytes: number;
  /** Held only in memory: the disk refused it. Lost if the process dies. */
  inMemory: boolean;
  /** The journal cursor before this seal's records (everything before it is accounted for elsewhere). */
  prevCursor: string | undefined;
}

/**
 * Which seals to evict so that memory + disk stay within maxBytes: oldest first, wherever they are
 * held, never the newest one (a single seal over budget is still sent). `held` is oldest first.
 */
export function evictions(held: Iterable<HeldSeal>, totalBytes: number, maxBytes: number): number[] {
  const all = [...held];
  let total = totalBytes;
  const out: number[] = [];
  for (let i = 0; i < all.length - 1 && total > maxBytes; i++) {
    out.push(all[i].index);
    total -= all[i].bytes;
  }
  return out;
}

/**
 * Invariant: the saved journal cursor never moves past a record that is neither on disk nor acked by
 * NATS. A seal held only in memory pins it at the cursor just before that seal's records, so an agent
 * that dies while the disk is full re-reads those records from the journal instead of losing them
 * (seals after it that NATS already acked are then sent twice: a repeat, never a loss).
 * Cursors are opaque, so "oldest" is by seal index: seals are created in journal order.
 */
export function safeCursor(held: Iterable<HeldSeal>, latest: string | undefined): string | undefined {
  let oldest: HeldSeal | undefined;
  for (const h of held) if (h.inMemory && (!oldest || h.index < oldest.index)) oldest = h;
  return oldest ? oldest.prevCursor : latest;
}
