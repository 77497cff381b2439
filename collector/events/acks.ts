// When a consumed message may be acked: once every Event it adds to has been written (so a replica
// that dies first leaves it to be delivered again, and applied.ts keeps that from counting twice),
// or after holdMs at the latest, before JetStream's ack wait would redeliver it anyway (a throttled
// or refused Event then keeps its count in memory only, as before: lost if the replica dies).
/** Messages held unacked at most (the consumer's max_ack_pending): a storm's update interval at 1,000 nodes, with room. */
export const MAX_HELD_MESSAGES = 20_000;

export class AckTracker {
  /** Insertion order is arrival order, so expiry stops at the first young entry. */
  private held = new Map<number, { keys: Set<string>; ack: () => void; at: number }>();

  constructor(
    private readonly holdMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  get size(): number {
    return this.held.size;
  }

  /** Message `seq` added to the Events under `keys` (entry keys of the writer); none: acked now. */
  hold(seq: number, keys: Set<string>, ack: () => void): void {
    const prev = this.held.get(seq);
    if (prev) {
      // delivered again while held (slow consumer): the newer delivery's ack is the one that counts
      for (const k of keys) prev.keys.add(k);
      prev.ack = ack;
      return;
    }
    if (keys.size === 0) ack();
    else this.held.set(seq, { keys, ack, at: this.now() });
  }

  /** The writer is done with entry `key` for messages `seqs`. */
  settle(key: string, seqs: Iterable<number>): void {
    for (const seq of seqs) {
      const h = this.held.get(seq);
      if (!h || !h.keys.delete(key) || h.keys.size > 0) continue;
      this.held.delete(seq);
      h.ack();
    }
  }

  /** Acks what was held longer than holdMs; returns how many. */
  expire(): number {
    const cutoff = this.now() - this.holdMs;
    let n = 0;
    for (const [seq, h] of this.held) {
      if (h.at > cutoff) break;
      this.held.delete(seq);
      h.ack();
      n++;
    }
    return n;
  }
}
