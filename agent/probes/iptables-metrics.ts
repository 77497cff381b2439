// Prometheus view of the iptables drop/log counters, with a bounded label set.
import { Counter, type Registry } from 'prom-client';
import type { CounterDelta } from './iptables-rates.js';

/** Distinct chain label values kept; the rest are exported as chain="other". */
const MAX_CHAIN_LABELS = 100;

/**
 * Per-endpoint and per-service chains (cali-fw-cali1a2b3c4d5e6, KUBE-SVC-ABC...) would give one
 * series per pod or Service: fold their generated suffix into "*".
 */
export function chainLabel(chain: string): string {
  const calico = /^(cali-(?:fw|tw|pi|po|pri|pro|sm|fh|th)-)./.exec(chain);
  if (calico) return `${calico[1]}*`;
  const kube = /^(KUBE-(?:SVC|SEP|FW|XLB|EXT|SVL)-)./.exec(chain);
  if (kube) return `${kube[1]}*`;
  return chain;
}

export class IptablesMetrics {
  private readonly packets: Counter<'table' | 'chain' | 'target'>;
  private readonly bytes: Counter<'table' | 'chain' | 'target'>;
  private readonly chains = new Set<string>();

  constructor(registry: Registry) {
    const labelNames = ['table', 'chain', 'target'] as const;
    this.packets = new Counter({
      name: 'nodewarden_agent_iptables_packets_total',
      help: 'Packets counted by iptables DROP/REJECT/LOG rules and DROP policies, by table, chain (generated suffixes folded) and target.',
      labelNames,
      registers: [registry],
    });
    this.bytes = new Counter({
      name: 'nodewarden_agent_iptables_bytes_total',
      help: 'Bytes counted by iptables DROP/REJECT/LOG rules and DROP policies.',
      labelNames,
      registers: [registry],
    });
  }

  private label(chain: string): string {
    const l = chainLabel(chain);
    if (this.chains.has(l)) return l;
    if (this.chains.size >= MAX_CHAIN_LABELS) return 'other';
    this.chains.add(l);
    return l;
  }

  /** No rate gauge: rate(nodewarden_agent_iptables_packets_total[5m]) is the rate, over any window. */
  record(deltas: readonly CounterDelta[]): void {
    for (const d of deltas) {
      const labels = { table: d.table, chain: this.label(d.chain), target: d.target };
      // Every series exists from the first poll, so rate() sees the first increase.
      this.packets.inc(labels, d.dPackets);
      this.bytes.inc(labels, d.dBytes);
    }
  }
}
