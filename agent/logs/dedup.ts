// De-duplication of findings per key (pod + kind) within a window, with bounded memory.

export class Deduper {
  /** key -> end of its window; Map order is insertion order, refreshed on every report. */
  private readonly last = new Map<string, number>();

  constructor(private readonly maxKeys = 20_000) {}

  /** True when `key` was not reported within `windowMs` before `now` (and records this report). */
  admit(key: string, windowMs: number, now: number): boolean {
    if (windowMs <= 0) return true;
    const until = this.last.get(key);
    if (until !== undefined && now < until) return false;
    this.last.delete(key);
    this.last.set(key, now + windowMs);
    if (this.last.size > this.maxKeys) this.prune(now);
    return true;
  }

  private prune(now: number): void {
    for (const [k, until] of this.last) if (until <= now) this.last.delete(k);
    // Still too many live keys: forget the oldest reports (worst case a repeat is reported early).
    for (const k of this.last.keys()) {
      if (this.last.size <= this.maxKeys * 0.9) break;
      this.last.delete(k);
    }
  }

  size(): number {
    return this.last.size;
  }
}
