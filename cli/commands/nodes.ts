import type { CommandSpec, FlagValues } from '../../common/flags.js';
import type { NodeView } from '../../collector/store/nodes.js';
import { collectorClientFlags, getJson, table, checkOutput, listFooter, emptyList, type ListAnswer } from '../shared-flags.js';

export const spec: CommandSpec = {
  name: 'nodes',
  summary: 'Show the nodes whose agent reports to a collector: last contact, health, active findings.',
  usage: 'nodewarden nodes [--limit N] [-o json]',
  flags: {
    ...collectorClientFlags,
    limit: { type: 'string', arg: 'N', default: '1000', help: 'At most N nodes (by name).', noEnv: true },
  },
};

export function renderNodes(r: ListAnswer<NodeView>): string {
  if (r.items.length === 0) return emptyList(r, 'No agents have reported yet.');
  // HEALTHY keeps its place and yes/NO (scripts read it); STATE says why a node is not healthy.
  const rows = r.items.map((n) => [
    n.node, n.healthy ? 'yes' : 'NO', String(n.activeFindings), n.lastSeen.replace(/\.\d+Z$/, 'Z'), n.agentVersion,
    n.state ?? (n.healthy ? 'healthy' : 'unhealthy'), n.nats ? (n.nats.ok ? 'ok' : `FAILING: ${n.nats.detail}`) : '-',
    (n.probes ?? []).filter((p) => !p.ok).map((p) => p.name).join(',') || '-',
  ]);
  return table(['NODE', 'HEALTHY', 'ACTIVE FINDINGS', 'LAST SEEN', 'AGENT', 'STATE', 'AGENT NATS', 'PROBES THAT CANNOT RUN'], rows) + listFooter(r, 'nodes');
}

export async function run(v: FlagValues): Promise<number> {
  const output = checkOutput(v);
  const body = (await getJson(v, '/api/v1/nodes', { limit: v.limit as string })) as ListAnswer<NodeView>;
  process.stdout.write(output === 'json' ? JSON.stringify(body, null, 2) + '\n' : renderNodes(body));
  return 0;
}
