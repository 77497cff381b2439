// Pure: sustained growth of systemd-journald's anonymous memory -> JournaldMemoryGrowth.
import type { FindingReport } from '../findings.js';

export interface RssSample {
  /** Monotonic ms. */
  at: number;
  /** RssAnon in bytes (VmRSS on kernels without it): what a leak grows. Mapped journal files
   *  (RssFile) come and go with rotation and are not a leak. */
  anon: number;
  rss?: number;
  file?: number;
}

export interface GrowthOptions {
  windowMs: number;
  minGrowthBytes: number;
}

/** Share of sample-to-sample steps that must not go down for growth to count as sustained. */
const SUSTAINED = 0.7;
const MIN_SAMPLES = 3;

const mib = (b: number) => `${(b / 1048576).toFixed(1)} MiB`;

/** The samples still inside the window ending at `now`. */
export function inWindow(samples: readonly RssSample[], now: number, windowMs: number): RssSample[] {
  return samples.filter((s) => now - s.at <= windowMs);
}

export function journaldGrowthFinding(pid: number, samples: readonly RssSample[], opts: GrowthOptions): FindingReport {
  const first = samples[0];
  const last = samples[samples.length - 1];
  const growth = last.anon - first.anon;
  let up = 0;
  for (let i = 1; i < samples.length; i++) if (samples[i].anon >= samples[i - 1].anon) up++;
  const sustained = samples.length >= MIN_SAMPLES && up / (samples.length - 1) >= SUSTAINED;
  const active = sustained && growth >= opts.minGrowthBytes;
  const span = ((last.at - first.at) / 1000).toFixed(0);
  const evidence: Record<string, string> = {
    pid: String(pid),
    RssAnon: `${mib(first.anon)} -> ${mib(last.anon)} in ${span} s (${samples.length} samples, ${up} of ${samples.length - 1} steps up)`,
    threshold: `+${mib(opts.minGrowthBytes)} within ${(opts.windowMs / 1000).toFixed(0)} s`,
  };
  if (last.rss !== undefined) evidence.VmRSS = mib(last.rss);
  if (last.file !== undefined) evidence.RssFile = mib(last.file);
  return {
    kind: 'JournaldMemoryGrowth',
    severity: 'warning',
    active,
    key: `pid ${pid}`,
    message: active
      ? `systemd-journald (pid ${pid}) anonymous memory grew ${mib(growth)} in ${span} s and keeps growing: likely a leak, the node will run out of memory`
      : `systemd-journald (pid ${pid}) memory is not growing steadily (${mib(growth)} in ${span} s)`,
    evidence,
  };
}
