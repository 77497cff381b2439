// Pure: which collector replicas share the Event budget, from the announcements each one makes
// (presence.ts sends and receives them). A replica counts itself and every other one heard within
// `windowMs`; one that says goodbye stops counting at once. The budget is divided among the replicas
// with Event work: JetStream may hand a storm's messages to one replica, which then writes with the
// whole budget instead of half of it while the other idles.
export class ReplicaCount {
  private peers = new Map<string, { at: number; busy: boolean }>();

  constructor(
    readonly self: string,
    private readonly windowMs: number,
  ) {}

  /** True for a replica not known before (it has not heard of this one yet either: answer it). */
  heard(id: string, now: number, busy = false): boolean {
    if (id === this.self) return false;
    const known = this.peers.has(id);
    this.peers.set(id, { at: now, busy });
    return !known;
  }

  gone(id: string): void {
    this.peers.delete(id);
  }

  /** Replicas present, this one included. */
  count(now: number): number {
    this.expire(now);
    return 1 + this.peers.size;
  }

  /** What this replica divides the budget by: itself and every replica present that has Event work. */
  divisor(now: number): number {
    this.expire(now);
    let busy = 0;
    for (const p of this.peers.values()) if (p.busy) busy++;
    return 1 + busy;
  }

  private expire(now: number): void {
    for (const [id, p] of this.peers) if (now - p.at > this.windowMs) this.peers.delete(id);
  }
}

/** This replica's part of a budget shared by `replicas`: rate and burst divided, never below one write. */
export function shareOf(qps: number, burst: number, replicas: number): { qps: number; burst: number } {
  const n = Math.max(1, replicas);
  return { qps: qps / n, burst: Math.max(1, Math.floor(burst / n)) };
}
