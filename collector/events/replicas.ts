// Pure: how many collector replicas share the Event budget, from the announcements each one makes
// (presence.ts sends and receives them). A replica counts itself and every other one heard within
// `windowMs`; one that says goodbye stops counting at once.
export class ReplicaCount {
  private peers = new Map<string, number>();

  constructor(
    readonly self: string,
    private readonly windowMs: number,
  ) {}

  /** True for a replica not known before (it has not heard of this one yet either: answer it). */
  heard(id: string, now: number): boolean {
    if (id === this.self) return false;
    const known = this.peers.has(id);
    this.peers.set(id, now);
    return !known;
  }

  gone(id: string): void {
    this.peers.delete(id);
  }

  count(now: number): number {
    for (const [id, at] of this.peers) if (now - at > this.windowMs) this.peers.delete(id);
    return 1 + this.peers.size;
  }
}

/** This replica's part of a budget shared by `replicas`: rate and burst divided, never below one write. */
export function shareOf(qps: number, burst: number, replicas: number): { qps: number; burst: number } {
  const n = Math.max(1, replicas);
  return { qps: qps / n, burst: Math.max(1, Math.floor(burst / n)) };
}
