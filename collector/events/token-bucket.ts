// A token bucket on a caller-supplied clock (pure: no timers): the global Event write budget
// (QPS/burst) and each involved object's budget (see correlator.ts).
export class TokenBucket {
  private tokens: number;
  private at: number;

  /** ratePerSec tokens per second up to burst; starts full. */
  constructor(
    private ratePerSec: number,
    private burst: number,
    now: number,
  ) {
    this.tokens = burst;
    this.at = now;
  }

  /** A new rate and burst from now on (what was earned so far is kept, up to the new burst). */
  reshape(ratePerSec: number, burst: number, now: number): void {
    this.refill(now);
    this.ratePerSec = ratePerSec;
    this.burst = burst;
    this.tokens = Math.min(this.tokens, burst);
  }

  private refill(now: number): void {
    if (now > this.at) {
      this.tokens = Math.min(this.burst, this.tokens + ((now - this.at) / 1000) * this.ratePerSec);
      this.at = now;
    }
  }

  available(now: number): boolean {
    this.refill(now);
    return this.tokens >= 1;
  }

  take(now: number): boolean {
    this.refill(now);
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  /** ms until one token is available (0 if now). */
  waitMs(now: number): number {
    this.refill(now);
    if (this.tokens >= 1) return 0;
    return this.ratePerSec > 0 ? Math.ceil(((1 - this.tokens) / this.ratePerSec) * 1000) : Infinity;
  }

  full(now: number): boolean {
    this.refill(now);
    return this.tokens >= this.burst;
  }
}
