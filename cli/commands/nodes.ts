import type { CommandSpec, FlagValues } from '../../common/flags.js';
import type { NodeView } from '../../collector/store/nodes.js';
import {
  collectorClientFlags,
  clientOf,
  getJson,
  listFooter,
  emptyList,
  noArgs,
  type ListAnswer,
} from '../shared-flags.js';
import { outputFlags, formatOf, serialize, table, ageOf } from '../output.js';
import { follow } from '../follow.js';

export const spec: CommandSpec = {
  name: 'nodes',
  summary: 'Show the nodes whose agent reports to a collector: last contact, health, active findings.',
  usage: 'nodewarden nodes [--limit N] [-w] [-o wide|json|yaml] [--no-headers]',
  details: `Nodes belong to no namespace: -n and -A do not apply. LAST SEEN is the age of the agent's last
message; -o wide adds AGENT UP (the age of the agent process). "nodewarden findings -A --node NODE"
says what makes a node unhealthy.

Examples:
  # Which agents report, and which nodes are unhealthy
  nodewarden nodes

  # Node names of unhealthy nodes, for a script
  nodewarden nodes --no-headers | awk '$2 == "NO" {print $1}'

  # Follow health changes as they happen
  nodewarden nodes -w

  # As YAML
  nodewarden nodes -o yaml`,
  flags: {
    ...collectorClientFlags,
    ...outputFlags,
    limit: {
      type: 'string',
      arg: 'N',
      default: '1000',
      help: 'At most N nodes (by name; with -w: in the first table).',
      noEnv: true,
    },
    watch: {
      type: 'boolean',
      short: 'w',
      help: "After the table, print a row each time a node's health, state, findings or probes change, until Ctrl-C.",
      noEnv: true,
    },
  },
};

const HEADER = ['NODE', 'HEALTHY', 'ACTIVE FINDINGS', 'LAST SEEN', 'AGENT', 'STATE', 'AGENT NATS'];
const LAST = 'PROBES THAT CANNOT RUN';
const headerOf = (wide: boolean) => [...HEADER, ...(wide ? ['AGENT UP'] : []), LAST];

// HEALTHY keeps its place and yes/NO (scripts read it); STATE says why a node is not healthy.
const cells = (n: NodeView, wide: boolean, now: number): string[] => [
  n.node,
  n.healthy ? 'yes' : 'NO',
  String(n.activeFindings),
  ageOf(n.lastSeen, now),
  n.agentVersion,
  n.state ?? (n.healthy ? 'healthy' : 'unhealthy'),
  n.nats ? (n.nats.ok ? 'ok' : `FAILING: ${n.nats.detail}`) : '-',
  ...(wide ? [ageOf(n.agentStarted, now)] : []),
  (n.probes ?? [])
    .filter((p) => !p.ok)
    .map((p) => p.name)
    .join(',') || '-',
];

export function renderNodes(
  r: ListAnswer<NodeView>,
  o: { wide?: boolean; noHeaders?: boolean; nowMs?: number } = {},
): string {
  if (r.items.length === 0) return emptyList(r, 'No agents have reported yet.');
  const now = o.nowMs ?? Date.now();
  return (
    table(
      headerOf(!!o.wide),
      r.items.map((n) => cells(n, !!o.wide, now)),
      o.noHeaders,
    ) + listFooter(r, 'nodes')
  );
}

export async function run(v: FlagValues, positionals: string[] = []): Promise<number> {
  noArgs(spec.name, positionals);
  const format = formatOf(v);
  const wide = format === 'wide';
  if (v.watch) {
    // A node is sent again when its agent reports or one of its findings changes; a row when what it shows changed.
    return follow<NodeView>(
      clientOf(v),
      {
        types: 'nodes',
        event: 'node',
        params: { limit: v.limit as string },
        matches: () => true,
        key: (n) => n.node,
        signature: (n) => JSON.stringify(cells(n, wide, Date.parse(n.lastSeen))),
        header: headerOf(wide),
        cells: (n, now) => cells(n, wide, now),
        newerFirst: (a, b) => a.node.localeCompare(b.node),
      },
      format,
      v['no-headers'] === true,
    );
  }
  const body = (await getJson(v, '/api/v1/nodes', { limit: v.limit as string })) as ListAnswer<NodeView>;
  process.stdout.write(
    format === 'json' || format === 'yaml'
      ? serialize(body, format)
      : renderNodes(body, { wide, noHeaders: v['no-headers'] === true }),
  );
  return 0;
}
