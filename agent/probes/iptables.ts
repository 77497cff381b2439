// iptables probe: polls `iptables-save -c`, drop rates per rule/policy -> IptablesDropsRising + metrics.
import type { Registry } from 'prom-client';
import { runCommand } from './exec.js';
import type { Probe } from './framework.js';
import { IptablesMetrics } from './iptables-metrics.js';
import { counterDeltas, dropsDecision } from './iptables-rates.js';
import { parseIptablesSave, type IptablesSnapshot } from './iptables-save.js';

export interface IptablesProbeOptions {
  intervalMs: number;
  /** Each entry is a command line (whitespace-separated) to which `-c` is appended. */
  commands: readonly string[];
  dropRatePerSec: number;
  registry: Registry;
}

/** kube-proxy's iptables-save on a large cluster is tens of MB; beyond this something is wrong. */
const MAX_OUTPUT = 128 * 1024 * 1024;

export function iptablesProbe(opts: IptablesProbeOptions): Probe {
  const metrics = new IptablesMetrics(opts.registry);
  let prev: { at: number; counters: Map<string, { packets: number; bytes: number }> } | undefined;
  return {
    name: 'iptables',
    intervalMs: opts.intervalMs,
    // One quiet poll between two bursts should not clear and re-raise the finding.
    clearAfter: 2,
    async tick({ signal, now }) {
      const snap: IptablesSnapshot = { chains: [], rules: [] };
      for (const cmd of opts.commands) {
        // Tables of several commands (iptables + ip6tables, or both backends) are told apart by name.
        const words = cmd.trim().split(/\s+/);
        const s = parseIptablesSave(await runCommand([...words, '-c'], { signal, maxBytes: MAX_OUTPUT }));
        const tag = opts.commands.length > 1 ? `${words[words.length - 1].split('/').pop()}:` : '';
        for (const c of s.chains) snap.chains.push({ ...c, table: tag + c.table });
        for (const r of s.rules) snap.rules.push({ ...r, table: tag + r.table });
      }
      const deltas = counterDeltas(prev?.counters, snap);
      const elapsed = prev ? now - prev.at : 0;
      prev = { at: now, counters: new Map(deltas.map((d) => [d.id, { packets: d.packets, bytes: d.bytes }])) };
      if (elapsed === 0) {
        metrics.record(deltas);
        return []; // the first poll is the baseline: counters before the agent started are history
      }
      const decision = dropsDecision(deltas, elapsed, opts.dropRatePerSec);
      metrics.record(deltas);
      return [decision.finding];
    },
  };
}
