// Which (node, agent, seq) triples were applied already: a republish after NATS' duplicate window (an
// agent's spool replayed after a long outage) must still count once.

/**
 * A fixed ring of keys next to a Set: the oldest key is forgotten in O(1) when a new one arrives (an
 * array shift would move every entry on every message). The node is part of the key so that one
 * node reusing another's agent id cannot suppress the other's messages.
 */
export class SeenSet {
  private readonly seen = new Set<string>();
  private readonly ring: (string | undefined)[];
  private next = 0;

  constructor(readonly max = 200_000) {
    if (!(max >= 1)) throw new RangeError('SeenSet needs room for at least one key');
    this.ring = new Array<string | undefined>(max).fill(undefined);
  }

  get size(): number {
    return this.seen.size;
  }

  /** True the first time this triple is seen (and remembers it); false for a repeat. */
  firstTime(node: string, agentId: string, seq: number): boolean {
    // The node's length makes the key unambiguous whatever the names contain (seq has no '/'); join,
    // not a template: a template key stays a tree of cons strings in the Set.
    const k = [node.length, node, agentId, seq].join('/');
    if (this.seen.has(k)) return false;
    const old = this.ring[this.next];
    if (old !== undefined) this.seen.delete(old);
    this.ring[this.next] = k;
    this.next = (this.next + 1) % this.max;
    this.seen.add(k);
    return true;
  }
}
