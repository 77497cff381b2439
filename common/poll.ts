// The agent's periodic loops (probes, runtime polls): one tick, then the next one interval ± jitter
// after it ended (never two at once), so a fleet of nodes does not poll in step.

/** Fraction of the interval by which each delay varies. */
export const POLL_JITTER = 0.1;

/** intervalMs varied uniformly by ± fraction. */
export function jittered(intervalMs: number, fraction = POLL_JITTER, random = Math.random): number {
  return intervalMs * (1 + fraction * (2 * random() - 1));
}

export interface PollLoop {
  /** No further ticks; resolves when the tick in flight (if any) has ended. */
  stop(): Promise<void>;
}

/** Runs tick after firstDelayMs (default: now), then again jittered(intervalMs) after each one ended. */
export function pollLoop(tick: () => Promise<void>, o: { intervalMs: number; firstDelayMs?: number }): PollLoop {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let inflight: Promise<void> | undefined;
  const run = (): void => {
    inflight = tick()
      .catch(() => undefined)
      .finally(() => {
        inflight = undefined;
        if (!stopped) timer = setTimeout(run, jittered(o.intervalMs));
      });
  };
  if (o.firstDelayMs === undefined) run();
  else timer = setTimeout(run, o.firstDelayMs);
  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await inflight;
    },
  };
}
