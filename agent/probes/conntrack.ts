// conntrack probe: nf_conntrack_count vs nf_conntrack_max, and the kernel's "table full" lines.
import { join } from 'node:path';
import type { FindingReport } from '../findings.js';
import type { LogEntry } from '../parse/log-line.js';
import type { JournalConsumer } from '../sources/journal-consumer.js';
import type { Probe } from './framework.js';
import { ProbeUnavailable, readHostFile } from './host.js';

const TABLE_FULL_LITERAL = 'nf_conntrack: table full, dropping packet';

export interface TableFullLines {
  /** Kernel "table full" lines since the previous poll (the kernel rate-limits them). */
  count: number;
  last?: string;
}

/** Pure: full above thresholdPercent, or when the kernel said it dropped packets since the last poll. */
export function conntrackFinding(
  count: number,
  max: number,
  thresholdPercent: number,
  lines: TableFullLines,
): FindingReport {
  const used = max > 0 ? (count / max) * 100 : 0;
  const active = used >= thresholdPercent || lines.count > 0;
  const evidence: Record<string, string> = {
    'net.netfilter.nf_conntrack_count': String(count),
    'net.netfilter.nf_conntrack_max': String(max),
    used: `${used.toFixed(1)}%`,
    threshold: `${thresholdPercent}%`,
  };
  if (lines.count > 0) evidence.kernel = `${lines.last} (${lines.count} lines since last poll)`;
  return {
    kind: 'ConntrackFull',
    severity: 'critical',
    active,
    message: active
      ? `conntrack table ${used.toFixed(1)}% full (${count}/${max})${lines.count ? ': the kernel is dropping new connections' : ''}`
      : `conntrack table ${used.toFixed(1)}% full (${count}/${max})`,
    evidence,
  };
}

export interface ConntrackProbeOptions {
  intervalMs: number;
  procRoot: string;
  thresholdPercent: number;
}

export function conntrackProbe(opts: ConntrackProbeOptions): { probe: Probe; consumer: JournalConsumer } {
  let lines: TableFullLines = { count: 0 };
  const consumer: JournalConsumer = {
    name: 'conntrack',
    literals: [TABLE_FULL_LITERAL],
    onEntry(entry: LogEntry) {
      lines = { count: lines.count + 1, last: entry.message.trim() };
    },
  };
  const probe: Probe = {
    name: 'conntrack',
    intervalMs: opts.intervalMs,
    async tick() {
      const files = ['nf_conntrack_count', 'nf_conntrack_max'].map((f) => join(opts.procRoot, 'sys/net/netfilter', f));
      const [count, max] = (await Promise.all(files.map(readHostFile))).map((t) => Number(t.trim()));
      if (!Number.isFinite(count) || !Number.isFinite(max))
        throw new ProbeUnavailable(`${files.join(', ')}: unexpected content`);
      const seen = lines;
      lines = { count: 0 };
      return [conntrackFinding(count, max, opts.thresholdPercent, seen)];
    },
  };
  return { probe, consumer };
}
