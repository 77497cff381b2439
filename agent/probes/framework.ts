// Runs one probe: jittered interval, a time box per tick, no overlapping ticks, findings via the tracker.
import { performance } from 'node:perf_hooks';
import type { Logger } from '../../common/log.js';
import type { FindingReport, FindingSink } from '../findings.js';
import { ProbeUnavailable } from './host.js';
import { FindingTracker } from './tracker.js';
import { pollLoop } from '../../common/poll.js';

export interface TickContext {
  /** Aborted when the tick overruns its time box or the probes stop; commands are killed then. */
  signal: AbortSignal;
  /** Monotonic milliseconds, for rates (wall clocks jump on VMs). */
  now: number;
}

export interface Probe {
  name: string;
  intervalMs: number;
  /** Consecutive inactive observations before a finding clears (default 1). */
  clearAfter?: number;
  /**
   * The state of every condition the probe watches, active or not, each with its evidence.
   * Throws ProbeUnavailable when it cannot run on this host.
   */
  tick(ctx: TickContext): Promise<FindingReport[]>;
}

export interface ProbeRunOptions {
  timeoutMs: number;
  refreshMs: number;
  log: Logger;
}

export interface RunningProbe {
  stop(): Promise<void>;
}

class TickTimeout extends Error {}

function abortPromise(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => {
    if (signal.aborted) reject(signal.reason);
    else signal.addEventListener('abort', () => reject(signal.reason), { once: true });
  });
}

export function startProbe(probe: Probe, sink: FindingSink, opts: ProbeRunOptions): RunningProbe {
  const log = opts.log.child({ probe: probe.name });
  const tracker = new FindingTracker(sink, { clearAfter: probe.clearAfter ?? 1, refreshMs: opts.refreshMs });
  const stopping = new AbortController();
  let inflight: Promise<unknown> | undefined;
  let healthy: boolean | undefined;
  let warnedStuck = false;

  // Status is reported on transitions only: "cannot run here" once, and once more when it recovers.
  const setHealth = (ok: boolean, detail: string) => {
    if (ok === healthy) return;
    healthy = ok;
    sink.status(probe.name, ok, detail);
  };

  async function run(): Promise<void> {
    if (inflight) {
      // A tick that ignored its abort is still running: never stack another one on top of it.
      if (!warnedStuck) log.warn('previous tick has not finished; skipping polls until it does');
      warnedStuck = true;
      return;
    }
    warnedStuck = false;
    const box = new AbortController();
    const onStop = () => box.abort(stopping.signal.reason);
    stopping.signal.addEventListener('abort', onStop, { once: true });
    const timeout = setTimeout(
      () => box.abort(new TickTimeout(`timed out after ${opts.timeoutMs} ms`)),
      opts.timeoutMs,
    );
    // async wrapper: a tick that throws synchronously becomes a rejection like any other failure
    const tick = (async () => probe.tick({ signal: box.signal, now: performance.now() }))();
    inflight = tick
      .catch(() => undefined)
      .finally(() => {
        inflight = undefined;
      });
    try {
      const observed = await Promise.race([tick, abortPromise(box.signal)]);
      setHealth(true, `running every ${probe.intervalMs} ms`);
      tracker.update(observed, Date.now());
    } catch (err) {
      if (stopping.signal.aborted) return;
      const detail = err instanceof Error ? err.message : String(err);
      if (healthy !== false) {
        if (err instanceof ProbeUnavailable || err instanceof TickTimeout) log.info({ detail }, 'probe cannot run');
        else log.warn({ err }, 'probe failed');
      }
      setHealth(false, detail);
    } finally {
      clearTimeout(timeout);
      stopping.signal.removeEventListener('abort', onStop);
    }
  }

  // The first tick comes soon but at a random point, so a fleet restart does not fire in step.
  const loop = pollLoop(run, { intervalMs: probe.intervalMs, firstDelayMs: Math.random() * probe.intervalMs * 0.5 });

  return {
    async stop() {
      stopping.abort(new Error('probes stopping'));
      await loop.stop();
      const pending = inflight;
      if (pending) {
        let t: NodeJS.Timeout | undefined;
        await Promise.race([pending, new Promise((r) => (t = setTimeout(r, opts.timeoutMs)))]);
        clearTimeout(t);
      }
    },
  };
}
