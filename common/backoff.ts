// One retry-delay formula for every retry loop: exponential from baseMs, capped at capMs, with jitter
// so a fleet of agents (or replicas) does not retry in step.
//   full:  uniform in [0, d]     (AWS "full jitter": spreads retries most)
//   equal: uniform in [d/2, d]   (never retries sooner than half the nominal delay)
//   none:  d                     (for "not before" times that are already spread by their callers)
// where d = min(capMs, baseMs * 2^attempt). `random` is injectable for tests.
export type Jitter = 'full' | 'equal' | 'none';

export interface BackoffOptions {
  baseMs: number;
  capMs: number;
  jitter?: Jitter;
  random?: () => number;
}

export function backoff(attempt: number, o: BackoffOptions): number {
  const d = Math.min(o.capMs, o.baseMs * 2 ** Math.min(Math.max(0, attempt), 30));
  const r = o.random ?? Math.random;
  switch (o.jitter ?? 'full') {
    case 'full':
      return Math.round(r() * d);
    case 'equal':
      return Math.round(d / 2 + (r() * d) / 2);
    case 'none':
      return d;
  }
}
