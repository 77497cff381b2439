// Last contact and agent facts per node, behind GET /api/v1/nodes. Bounded; a node silent for the
// retention is forgotten (autoscaled nodes come and go).
import type { Heartbeat } from '../../proto/codec.js';
import { BoundedMap, stringBytes, type BoundEvents, type Bounds } from './budget.js';
import type { NodeFindingCounts } from './findings.js';
import { topK } from './top.js';

export type NodeState = 'healthy' | 'unhealthy' | 'stale';

export interface ProbeView {
  name: string;
  ok: boolean;
  detail: string;
}

export interface NodeView {
  node: string;
  agentVersion: string;
  lastSeen: string;
  /** Contract: heard from within --node-stale and no active critical finding. */
  healthy: boolean;
  /** Silent longer than --node-stale. */
  stale: boolean;
  /** stale wins over unhealthy: a silent agent's findings are not current. */
  state: NodeState;
  activeFindings: number;
  agentStarted?: string;
  probes?: ProbeView[];
  /** The agent's own NATS probe, when its heartbeat carries one. */
  nats?: { ok: boolean; detail: string };
}

interface Entry {
  agentVersion: string;
  lastSeen: number;
  agentStarted?: number;
  probes?: ProbeView[];
  bytes: number;
  stamp: number;
}

const NODE_OVERHEAD = 200;
function nodeBytes(node: string, e: Entry): number {
  let n = NODE_OVERHEAD + node.length + stringBytes(e.agentVersion);
  for (const p of e.probes ?? []) n += 80 + stringBytes(p.name) + stringBytes(p.detail);
  return n;
}

export const DEFAULT_NODE_BOUNDS: Bounds = { maxEntries: 50_000, maxBytes: 16 * 2 ** 20 };

export class NodeStore {
  private readonly nodes: BoundedMap<Entry>;

  constructor(
    private readonly staleMs: number,
    bounds: Partial<Bounds> = {},
    events: BoundEvents = {},
  ) {
    this.nodes = new BoundedMap<Entry>({ ...DEFAULT_NODE_BOUNDS, ...bounds }, events);
  }

  get size(): number {
    return this.nodes.size;
  }

  /** Any message counts as contact; a heartbeat also brings agent facts. */
  touch(node: string, agentVersion: string, atMs: number, hb?: Heartbeat): void {
    const e = this.nodes.get(node) ?? { agentVersion, lastSeen: 0, bytes: 0, stamp: 0 };
    e.agentVersion = agentVersion || e.agentVersion;
    e.lastSeen = Math.max(e.lastSeen, atMs);
    if (hb) {
      const started = hb.startedMs as number;
      if (Number.isFinite(started) && Math.abs(started) <= 8.64e15 && started) e.agentStarted = started;
      e.probes = (hb.probes ?? []).map((p) => ({
        name: String(p.name ?? ''),
        ok: !!p.ok,
        detail: String(p.detail ?? ''),
      }));
    }
    this.nodes.set(node, e, nodeBytes(node, e));
  }

  /** Forgets nodes silent since before cutoffMs. */
  expire(cutoffMs: number): number {
    return this.nodes.deleteWhere((e) => !(e.lastSeen >= cutoffMs));
  }

  get(node: string, now: number, counts: (node: string) => NodeFindingCounts): NodeView | undefined {
    const e = this.nodes.get(node);
    return e && this.view(node, e, now, counts(node));
  }

  /** Nodes by name, at most limit of them. */
  list(
    now: number,
    counts: (node: string) => NodeFindingCounts,
    limit = Number.MAX_SAFE_INTEGER,
  ): { items: NodeView[]; total: number; truncated: boolean } {
    const { items, total } = topK(this.nodes.entries(), limit, ([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return {
      items: items.map(([node, e]) => this.view(node, e, now, counts(node))),
      total,
      truncated: total > items.length,
    };
  }

  private view(node: string, e: Entry, now: number, c: NodeFindingCounts): NodeView {
    const stale = now - e.lastSeen > this.staleMs;
    const v: NodeView = {
      node,
      agentVersion: e.agentVersion,
      lastSeen: new Date(e.lastSeen).toISOString(),
      healthy: !stale && c.activeCritical === 0,
      stale,
      state: stale ? 'stale' : c.activeCritical > 0 ? 'unhealthy' : 'healthy',
      activeFindings: c.active,
    };
    if (e.agentStarted) v.agentStarted = new Date(e.agentStarted).toISOString();
    if (e.probes?.length) v.probes = e.probes;
    const nats = e.probes?.find((p) => p.name === 'nats');
    if (nats) v.nats = { ok: nats.ok, detail: nats.detail };
    return v;
  }
}
