// How many Event API requests may be in flight, and when writes may go (no I/O but waiting):
//   - at most `window` requests at once: halved on every 429, grown back by 0.2/window per success
//     (AIMD: about one per five windows of successes), never above `max`;
//   - a 429 on a write pauses all writes until its Retry-After;
//   - every write attempt, retries included, takes a token from the global bucket (QPS/burst).
import type { TokenBucket } from './token-bucket.js';

export class RequestWindow {
  private window: number;
  private inflight = 0;
  private pausedUntil = 0;

  constructor(
    private readonly max: number,
    readonly global: TokenBucket,
    private readonly now: () => number,
    private readonly sleep: (ms: number) => Promise<void>,
  ) {
    this.window = max;
  }

  /** ms until writes may go again (0: not paused). */
  pausedFor(now: number): number {
    return Math.max(0, this.pausedUntil - now);
  }

  pause(ms: number): void {
    this.pausedUntil = Math.max(this.pausedUntil, this.now() + ms);
  }

  /** Waits for a request slot and, for writes, a global token. release() gives the slot back. */
  async acquire(write: boolean): Promise<void> {
    for (;;) {
      const now = this.now();
      if (now >= this.pausedUntil && this.inflight < Math.floor(this.window) && (!write || this.global.take(now))) {
        this.inflight++;
        return;
      }
      await this.sleep(Math.max(5, this.pausedUntil - now, write ? this.global.waitMs(now) : 0));
    }
  }

  /** The slot back, with the answer's status (undefined: no answer) for the AIMD window. */
  release(status: number | undefined): void {
    this.inflight--;
    if (status === 429) this.window = Math.max(1, this.window / 2);
    else if (status !== undefined && status > 0 && status < 300)
      this.window = Math.min(this.max, this.window + 0.2 / this.window);
  }

  get size(): number {
    return this.window;
  }
}
