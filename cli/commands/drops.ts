import type { CommandSpec, FlagValues } from '../../common/flags.js';
import type { Flow, Endpoint } from '../../collector/store/drops.js';
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
import { scopeFlags, scopeOf, inScope, type Scope } from '../scope.js';
import { timeFlags, timeFilterOf, seenSince, type TimeFilter } from '../time-filter.js';
import { follow } from '../follow.js';

export const spec: CommandSpec = {
  name: 'drops',
  summary: 'Show dropped packet flows from a collector, newest first.',
  usage: 'nodewarden drops [-n NAMESPACE | -A] [--pod [NS/]NAME] [--node NODE] [--since 15m] [-w] [-o wide|json|yaml]',
  details: `A flow is in a namespace when the pod on either side is. Like kubectl, the namespace is -n,
else the namespace of the kubeconfig's current context ($KUBECONFIG or ~/.kube/config), else
"default"; -A shows every namespace. LAST SEEN is an age (5m, 2d3h); json and yaml carry the times.
-o wide adds WHY: the one-line NetworkPolicy explanation of each flow (collectors with
a cluster; "-" for ICMP and flows without one). "nodewarden explain" shows the whole explanation.
-w prints the table, then one row each time a flow is seen again or a new one appears (GET
/api/v1/watch), reconnecting when the stream ends, until Ctrl-C.

Examples:
  # Flows dropped in the current namespace, then in every namespace
  nodewarden drops
  nodewarden drops -A

  # One pod's flows in the last 15 minutes, with the policy explanation
  nodewarden drops --pod shop/web-0 --since 15m -o wide

  # Follow new drops on one node as they happen
  nodewarden drops -A --node worker-2 -w

  # As JSON for jq, without a table
  nodewarden drops -A -o json | jq '.items[] | {src: .src.pod, dst: .dst.pod, count}'`,
  flags: {
    ...collectorClientFlags,
    ...outputFlags,
    ...scopeFlags,
    node: { type: 'string', arg: 'NODE', help: 'Only drops seen on this node.', noEnv: true },
    ...timeFlags,
    limit: {
      type: 'string',
      arg: 'N',
      default: '100',
      help: 'At most N flows (with -w: in the first table).',
      noEnv: true,
    },
    watch: {
      type: 'boolean',
      short: 'w',
      help: 'After the table, print a row for every new or repeated drop until Ctrl-C.',
      noEnv: true,
    },
  },
};

export function side(e: Endpoint): string {
  const who = e.pod ? `${e.pod.namespace}/${e.pod.name}` : e.node ? `node/${e.node}` : '';
  return who ? `${who} (${e.ip})` : e.ip;
}

const HEADER = ['LAST SEEN', 'COUNT', 'NODE', 'PROTO', 'SOURCE', 'DESTINATION', 'PORT'];
const WIDE = ['WHY'];

function cells(f: Flow, wide: boolean, nowMs: number): string[] {
  return [
    ageOf(f.lastSeen, nowMs),
    String(f.count),
    f.node,
    f.proto,
    side(f.src),
    side(f.dst),
    f.dst.port !== undefined ? String(f.dst.port) : f.icmpType !== undefined ? `type ${f.icmpType}` : '-',
    ...(wide ? [f.explanation?.summary ?? '-'] : []),
  ];
}

export interface RenderOptions {
  wide?: boolean;
  noHeaders?: boolean;
  nowMs?: number;
  scope?: Scope;
}

export function renderDrops(r: ListAnswer<Flow>, o: RenderOptions = {}): string {
  if (r.items.length === 0) return emptyList(r, `No drops found${o.scope ? inScope(o.scope) : ''}.`);
  const now = o.nowMs ?? Date.now();
  return (
    table(
      [...HEADER, ...(o.wide ? WIDE : [])],
      r.items.map((f) => cells(f, !!o.wide, now)),
      o.noHeaders,
    ) + listFooter(r, 'flows')
  );
}

/** The API's namespace/pod filter, again client-side for -w: a pod on either side matches. */
const onSide = (e: Endpoint, s: Scope) =>
  !!e.pod &&
  (s.namespace === undefined || e.pod.namespace === s.namespace) &&
  (s.pod === undefined || e.pod.name === s.pod);
export const flowMatches = (f: Flow, s: Scope, node: string | undefined, t: TimeFilter): boolean =>
  ((s.namespace === undefined && s.pod === undefined) || onSide(f.src, s) || onSide(f.dst, s)) &&
  (node === undefined || f.node === node) &&
  seenSince(f.lastSeen, t);

export async function run(v: FlagValues, positionals: string[] = []): Promise<number> {
  noArgs(spec.name, positionals);
  const format = formatOf(v);
  const client = clientOf(v);
  const scope = scopeOf(v);
  const time = timeFilterOf(v, Date.now());
  const node = v.node as string | undefined;
  const wide = format === 'wide';
  const filters = { namespace: scope.namespace, pod: scope.pod, node };
  if (v.watch) {
    return follow<Flow>(
      client,
      {
        types: 'drops',
        event: 'drop',
        params: { ...filters, limit: v.limit as string },
        matches: (f) => flowMatches(f, scope, node, time),
        key: (f) =>
          [
            f.node,
            f.prefix,
            f.src.ip,
            f.dst.ip,
            f.proto,
            f.dst.port ?? '',
            f.icmpType ?? '',
            f.in ?? '',
            f.out ?? '',
          ].join('|'),
        header: [...HEADER, ...(wide ? WIDE : [])],
        cells: (f, now) => cells(f, wide, now),
        newerFirst: (a, b) => Date.parse(b.lastSeen) - Date.parse(a.lastSeen),
      },
      format,
      v['no-headers'] === true,
    );
  }
  const body = (await getJson(v, '/api/v1/drops', {
    ...filters,
    since: time.since,
    limit: v.limit as string,
  })) as ListAnswer<Flow>;
  process.stdout.write(
    format === 'json' || format === 'yaml'
      ? serialize(body, format)
      : renderDrops(body, { wide, noHeaders: v['no-headers'] === true, scope }),
  );
  return 0;
}
