// Pure-ish: a decoded envelope -> the stores. Shared by live ingest and replay.
import type { ValidEnvelope } from '../../proto/codec.js';
import type { DropStore } from '../store/drops.js';
import type { FindingStore } from '../store/findings.js';
import type { NodeStore } from '../store/nodes.js';

export interface Stores {
  drops: DropStore;
  findings: FindingStore;
  nodes: NodeStore;
}

/** Remembers recently seen (agent, seq) pairs: a republish after NATS' duplicate window is still applied once. */
export class SeenSet {
  private seen = new Set<string>();
  private order: string[] = [];

  constructor(private readonly max = 200_000) {}

  firstTime(agentId: string, seq: number): boolean {
    const k = [agentId, seq].join('/'); // flat: a template would keep a cons-string tree per entry
    if (this.seen.has(k)) return false;
    this.seen.add(k);
    this.order.push(k);
    if (this.order.length > this.max) {
      for (const old of this.order.splice(0, this.order.length - this.max)) this.seen.delete(old);
    }
    return true;
  }
}

export type Applied = { kind: 'drops'; records: number } | { kind: 'finding'; changed: boolean } | { kind: 'heartbeat' } | { kind: 'runtime' } | { kind: 'duplicate' };

export function applyEnvelope(env: ValidEnvelope, stores: Stores, seen: SeenSet, receivedMs: number): Applied {
  if (!seen.firstTime(env.agentId, env.seq)) return { kind: 'duplicate' };
  const m = env.msg;
  stores.nodes.touch(env.node, env.agentVersion, receivedMs, env.body === 'heartbeat' ? m.heartbeat ?? undefined : undefined);
  switch (env.body) {
    case 'drops': {
      const list = m.drops?.drops ?? [];
      for (const d of list) stores.drops.add(env.node, d);
      return { kind: 'drops', records: list.length };
    }
    case 'finding':
      return { kind: 'finding', changed: stores.findings.apply(env.node, m.finding!, receivedMs) };
    case 'heartbeat':
      return { kind: 'heartbeat' };
    case 'runtime':
      return { kind: 'runtime' };
  }
}
