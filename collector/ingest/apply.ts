// Pure-ish: a decoded envelope -> the stores. Shared by live ingest and replay.
import type { ValidEnvelope } from '../../proto/codec.js';
import type { DropStore, FlowEntry } from '../store/drops.js';
import { FindingStore } from '../store/findings.js';
import type { NodeStore } from '../store/nodes.js';
import { SeenSet } from './dedup.js';

export { SeenSet } from './dedup.js';

export interface Stores {
  drops: DropStore;
  findings: FindingStore;
  nodes: NodeStore;
}

/** What a message changed, so live views (the watch) can follow without scanning the stores. */
export type Applied =
  | { kind: 'drops'; records: number; flows: FlowEntry[] }
  | { kind: 'finding'; changed: boolean; key: string }
  | { kind: 'heartbeat' }
  | { kind: 'runtime' }
  | { kind: 'duplicate' };

export function applyEnvelope(env: ValidEnvelope, stores: Stores, seen: SeenSet, receivedMs: number): Applied {
  if (!seen.firstTime(env.node, env.agentId, env.seq)) return { kind: 'duplicate' };
  const m = env.msg;
  stores.nodes.touch(
    env.node,
    env.agentVersion,
    receivedMs,
    env.body === 'heartbeat' ? (m.heartbeat ?? undefined) : undefined,
  );
  switch (env.body) {
    case 'drops': {
      const list = m.drops?.drops ?? [];
      return { kind: 'drops', records: list.length, flows: list.map((d) => stores.drops.add(env.node, d, receivedMs)) };
    }
    case 'finding':
      return {
        kind: 'finding',
        changed: stores.findings.apply(env.node, m.finding!, receivedMs),
        key: FindingStore.keyOf(env.node, m.finding!),
      };
    case 'heartbeat':
      return { kind: 'heartbeat' };
    case 'runtime':
      return { kind: 'runtime' };
  }
}
