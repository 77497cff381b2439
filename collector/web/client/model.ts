// What the page knows, built from /api/v1/watch events. Pure: the stream shell feeds it, the views read it.
import type { Flow } from '../../store/drops.js';
import type { FindingView } from '../../store/findings.js';
import type { NodeView } from '../../store/nodes.js';
import type { SseEvent } from '../../../common/sse.js';
import { flowKey } from './format.js';

export interface Snapshot {
  flows: Map<string, Flow>;
  findings: Map<string, FindingView>;
  nodes: Map<string, NodeView>;
}

export const emptySnapshot = (): Snapshot => ({ flows: new Map(), findings: new Map(), nodes: new Map() });

/** A finding's identity, as the collector's store has it: node, kind and key. */
export const findingKey = (f: FindingView): string => [f.node, f.kind, f.key ?? ''].join('|');

/** Applies one data event; false for events that are not data (or data this page cannot read). */
export function applyEvent(s: Snapshot, ev: SseEvent): boolean {
  let item: unknown;
  try {
    item = JSON.parse(ev.data);
  } catch {
    return false;
  }
  if (typeof item !== 'object' || item === null) return false;
  switch (ev.type) {
    case 'drop': {
      const f = item as Flow;
      if (!f.src?.ip || !f.dst?.ip) return false;
      s.flows.set(flowKey(f), f);
      return true;
    }
    case 'finding': {
      const f = item as FindingView;
      if (!f.kind) return false;
      s.findings.set(findingKey(f), f);
      return true;
    }
    case 'node': {
      const n = item as NodeView;
      if (!n.node) return false;
      s.nodes.set(n.node, n);
      return true;
    }
    default:
      return false;
  }
}

/** Every namespace on either side of a flow, in natural order (the map's filter choices). */
export function namespacesOf(flows: Iterable<Flow>): string[] {
  const out = new Set<string>();
  for (const f of flows) for (const e of [f.src, f.dst]) if (e.pod) out.add(e.pod.namespace);
  return [...out].sort(new Intl.Collator('en', { numeric: true }).compare);
}

/** The flows with a pod of this namespace on either side (all of them for ''). */
export function* flowsIn(flows: Iterable<Flow>, namespace: string): Generator<Flow> {
  for (const f of flows)
    if (!namespace || f.src.pod?.namespace === namespace || f.dst.pod?.namespace === namespace) yield f;
}
