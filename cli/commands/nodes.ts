import type { CommandSpec, FlagValues } from '../../common/flags.js';
import type { NodeView } from '../../collector/store/nodes.js';
import { collectorClientFlags, getJson, table, checkOutput } from '../shared-flags.js';

export const spec: CommandSpec = {
  name: 'nodes',
  summary: 'Show the nodes whose agent reports to a collector: last contact, health, active findings.',
  usage: 'nodewarden nodes [-o json]',
  flags: { ...collectorClientFlags },
};

export function renderNodes(items: NodeView[]): string {
  if (items.length === 0) return 'No agents have reported yet.\n';
  const rows = items.map((n) => [
    n.node, n.healthy ? 'yes' : 'NO', String(n.activeFindings), n.lastSeen.replace(/\.\d+Z$/, 'Z'), n.agentVersion,
    (n.probes ?? []).filter((p) => !p.ok).map((p) => p.name).join(',') || '-',
  ]);
  return table(['NODE', 'HEALTHY', 'ACTIVE FINDINGS', 'LAST SEEN', 'AGENT', 'PROBES THAT CANNOT RUN'], rows);
}

export async function run(v: FlagValues): Promise<number> {
  const output = checkOutput(v);
  const body = (await getJson(v, '/api/v1/nodes', {})) as { items: NodeView[] };
  process.stdout.write(output === 'json' ? JSON.stringify(body, null, 2) + '\n' : renderNodes(body.items));
  return 0;
}
