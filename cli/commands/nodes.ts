import type { CommandSpec, FlagValues } from '../../common/flags.js';
import type { NodeView } from '../../collector/store/nodes.js';
import { collectorClientFlags, getJson, listFooter, emptyList, noArgs, type ListAnswer } from '../shared-flags.js';
import { outputFlags, formatOf, serialize, table, ageOf } from '../output.js';

export const spec: CommandSpec = {
  name: 'nodes',
  summary: 'Show the nodes whose agent reports to a collector: last contact, health, active findings.',
  usage: 'nodewarden nodes [--limit N] [-o wide|json|yaml] [--no-headers]',
  details: `Nodes belong to no namespace: -n and -A do not apply. LAST SEEN is the age of the agent's last
message; -o wide adds AGENT UP (the age of the agent process). "nodewarden findings -A --node NODE"
says what makes a node unhealthy.

Examples:
  # Which agents report, and which nodes are unhealthy
  nodewarden nodes

  # Node names of unhealthy nodes, for a script
  nodewarden nodes --no-headers | awk '$2 == "NO" {print $1}'

  # As YAML
  nodewarden nodes -o yaml`,
  flags: {
    ...collectorClientFlags,
    ...outputFlags,
    limit: { type: 'string', arg: 'N', default: '1000', help: 'At most N nodes (by name).', noEnv: true },
  },
};

export function renderNodes(r: ListAnswer<NodeView>, o: { wide?: boolean; noHeaders?: boolean; nowMs?: number } = {}): string {
  if (r.items.length === 0) return emptyList(r, 'No agents have reported yet.');
  const now = o.nowMs ?? Date.now();
  // HEALTHY keeps its place and yes/NO (scripts read it); STATE says why a node is not healthy.
  const rows = r.items.map((n) => [
    n.node, n.healthy ? 'yes' : 'NO', String(n.activeFindings), ageOf(n.lastSeen, now), n.agentVersion,
    n.state ?? (n.healthy ? 'healthy' : 'unhealthy'), n.nats ? (n.nats.ok ? 'ok' : `FAILING: ${n.nats.detail}`) : '-',
    ...(o.wide ? [ageOf(n.agentStarted, now)] : []),
    (n.probes ?? []).filter((p) => !p.ok).map((p) => p.name).join(',') || '-',
  ]);
  const header = ['NODE', 'HEALTHY', 'ACTIVE FINDINGS', 'LAST SEEN', 'AGENT', 'STATE', 'AGENT NATS', ...(o.wide ? ['AGENT UP'] : []), 'PROBES THAT CANNOT RUN'];
  return table(header, rows, o.noHeaders) + listFooter(r, 'nodes');
}

export async function run(v: FlagValues, positionals: string[] = []): Promise<number> {
  noArgs(spec.name, positionals);
  const format = formatOf(v);
  const body = (await getJson(v, '/api/v1/nodes', { limit: v.limit as string })) as ListAnswer<NodeView>;
  process.stdout.write(format === 'json' || format === 'yaml' ? serialize(body, format) : renderNodes(body, { wide: format === 'wide', noHeaders: v['no-headers'] === true }));
  return 0;
}
