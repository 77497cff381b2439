// Pure: packet rates of the rules and policies that drop or log, and the IptablesDropsRising decision.
import type { FindingReport } from '../findings.js';
import type { IptablesSnapshot } from './iptables-save.js';

export type CounterTarget = 'DROP' | 'REJECT' | 'LOG' | 'policy DROP';

/** One rule (or built-in chain policy) that drops or logs, with its counters and delta. */
export interface CounterDelta {
  id: string;
  table: string;
  chain: string;
  target: CounterTarget;
  /** The rule text for evidence; "policy DROP" for a chain policy. */
  spec: string;
  packets: number;
  bytes: number;
  /** Packets and bytes since the previous poll; 0 for a rule seen for the first time. */
  dPackets: number;
  dBytes: number;
}

const COUNTED: ReadonlySet<string> = new Set(['DROP', 'REJECT', 'LOG']);

/** Who owns a chain, for evidence a user can act on. */
function chainOwner(chain: string): 'Calico' | 'kube-proxy' | undefined {
  if (/^cali-/.test(chain)) return 'Calico';
  if (/^KUBE-/.test(chain)) return 'kube-proxy';
  return undefined;
}

export function describeChain(table: string, chain: string): string {
  const owner = chainOwner(chain);
  return `${table}/${chain}${owner ? ` (${owner} chain)` : ''}`;
}

/** Rules and policies that drop or log, keyed stably across polls (identical rules get #n). */
function countedEntries(s: IptablesSnapshot): Omit<CounterDelta, 'dPackets' | 'dBytes'>[] {
  const out: Omit<CounterDelta, 'dPackets' | 'dBytes'>[] = [];
  for (const c of s.chains) {
    if (c.policy === 'DROP')
      out.push({
        id: `${c.table}\t${c.chain}\tpolicy`,
        table: c.table,
        chain: c.chain,
        target: 'policy DROP',
        spec: 'policy DROP',
        packets: c.packets,
        bytes: c.bytes,
      });
  }
  const seen = new Map<string, number>();
  for (const r of s.rules) {
    if (!r.target || !COUNTED.has(r.target)) continue;
    const base = `${r.table}\t${r.chain}\t${r.spec}`;
    const n = (seen.get(base) ?? 0) + 1;
    seen.set(base, n);
    out.push({
      id: `${base}\t#${n}`,
      table: r.table,
      chain: r.chain,
      target: r.target as CounterTarget,
      spec: r.spec,
      packets: r.packets,
      bytes: r.bytes,
    });
  }
  return out;
}

/**
 * Deltas against the previous poll. A counter that went down was zeroed or its rule re-created:
 * everything it counts now is new.
 */
export function counterDeltas(
  prev: ReadonlyMap<string, { packets: number; bytes: number }> | undefined,
  cur: IptablesSnapshot,
): CounterDelta[] {
  return countedEntries(cur).map((e) => {
    const p = prev?.get(e.id);
    if (!p) return { ...e, dPackets: 0, dBytes: 0 };
    const reset = e.packets < p.packets || e.bytes < p.bytes;
    return { ...e, dPackets: reset ? e.packets : e.packets - p.packets, dBytes: reset ? e.bytes : e.bytes - p.bytes };
  });
}

export interface DropDecision {
  /** Dropped packets per second (DROP, REJECT and policy DROP; LOG only reports). */
  rate: number;
  finding: FindingReport;
}

const TOP_RULES = 3;

export function dropsDecision(
  deltas: readonly CounterDelta[],
  elapsedMs: number,
  thresholdPerSec: number,
): DropDecision {
  const secs = elapsedMs / 1000;
  const drops = deltas.filter((d) => d.target !== 'LOG' && d.dPackets > 0).sort((a, b) => b.dPackets - a.dPackets);
  const total = drops.reduce((n, d) => n + d.dPackets, 0);
  const rate = secs > 0 ? total / secs : 0;
  const active = rate >= thresholdPerSec;
  const evidence: Record<string, string> = {
    dropRate: `${rate.toFixed(1)} packets/s (${total} packets in ${secs.toFixed(1)} s)`,
    threshold: `${thresholdPerSec} packets/s`,
  };
  drops.slice(0, TOP_RULES).forEach((d, i) => {
    const spec = d.spec.length > 200 ? `${d.spec.slice(0, 200)}…` : d.spec;
    evidence[`top${i + 1}`] = `${(d.dPackets / secs).toFixed(1)} packets/s ${describeChain(d.table, d.chain)}: ${spec}`;
  });
  const chains = [...new Set(drops.slice(0, TOP_RULES).map((d) => describeChain(d.table, d.chain)))];
  const message = active
    ? `iptables drops ${rate.toFixed(1)} packets/s (threshold ${thresholdPerSec}/s), mostly in ${chains.join(', ')}`
    : `iptables drops ${rate.toFixed(1)} packets/s, below ${thresholdPerSec}/s`;
  return { rate, finding: { kind: 'IptablesDropsRising', severity: 'warning', active, message, evidence } };
}
