// Last contact and agent facts per node, behind GET /api/v1/nodes.
import type { Heartbeat } from '../../proto/codec.js';

export interface NodeView {
  node: string;
  agentVersion: string;
  lastSeen: string;
  healthy: boolean;
  activeFindings: number;
  agentStarted?: string;
  probes?: { name: string; ok: boolean; detail: string }[];
}

interface Entry {
  agentVersion: string;
  lastSeen: number;
  agentStarted?: number;
  probes?: NodeView['probes'];
}

export class NodeStore {
  private nodes = new Map<string, Entry>();

  constructor(private readonly staleMs: number) {}

  /** Any message counts as contact; a heartbeat also brings agent facts. */
  touch(node: string, agentVersion: string, atMs: number, hb?: Heartbeat): void {
    const e = this.nodes.get(node) ?? { agentVersion, lastSeen: 0 };
    e.agentVersion = agentVersion || e.agentVersion;
    e.lastSeen = Math.max(e.lastSeen, atMs);
    if (hb) {
      e.agentStarted = (hb.startedMs as number) || e.agentStarted;
      e.probes = (hb.probes ?? []).map((p) => ({ name: p.name as string, ok: !!p.ok, detail: p.detail as string }));
    }
    this.nodes.set(node, e);
  }

  list(now: number, activeCritical: (node: string) => number, active: (node: string) => number): NodeView[] {
    return [...this.nodes.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([node, e]) => {
      const v: NodeView = {
        node, agentVersion: e.agentVersion, lastSeen: new Date(e.lastSeen).toISOString(),
        healthy: now - e.lastSeen <= this.staleMs && activeCritical(node) === 0, activeFindings: active(node),
      };
      if (e.agentStarted) v.agentStarted = new Date(e.agentStarted).toISOString();
      if (e.probes?.length) v.probes = e.probes;
      return v;
    });
  }
}
