import { ConfigError, type CommandSpec, type FlagValues } from '../../common/flags.js';
import type { FindingView } from '../../collector/store/findings.js';
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

const SEVERITIES = ['critical', 'warning', 'info'];

export const spec: CommandSpec = {
  name: 'findings',
  summary: 'Show node and pod findings (IPForwardingDisabled, PIDPressure, EtcdNoSpace, ...) from a collector.',
  usage:
    'nodewarden findings [-n NAMESPACE | -A] [--pod [NS/]NAME] [--node NODE] [--kind KIND] [--severity S] [--active] [--since 1h] [-w] [-o wide|json|yaml]',
  details: `Pod findings follow the namespace scope of kubectl: -n, else the namespace of the kubeconfig's
current context, else "default"; -A shows every namespace. Node findings (no pod) belong to no
namespace and concern every pod on their node, so they show in every namespace (not with --pod).
LAST SEEN is an age; -o wide adds FIRST SEEN, the container and the evidence.
-w prints the table, then one row each time a finding is raised, seen again or cleared, until Ctrl-C.

Examples:
  # What is wrong right now, everywhere
  nodewarden findings -A --active

  # Critical findings of the last hour on one node
  nodewarden findings -A --node worker-2 --severity critical --since 1h

  # One pod's findings, with evidence
  nodewarden findings --pod kube-system/etcd-cp-0 -o wide

  # Follow findings as they are raised and cleared
  nodewarden findings -A -w`,
  flags: {
    ...collectorClientFlags,
    ...outputFlags,
    ...scopeFlags,
    node: { type: 'string', arg: 'NODE', help: 'Only this node.', noEnv: true },
    kind: { type: 'string', arg: 'KIND', help: 'Only this kind.', noEnv: true },
    severity: {
      type: 'string',
      arg: 'critical|warning|info',
      help: 'Only this severity: critical, warning or info.',
      noEnv: true,
    },
    active: { type: 'boolean', help: 'Only findings that are still active.', noEnv: true },
    ...timeFlags,
    limit: {
      type: 'string',
      arg: 'N',
      default: '1000',
      help: 'At most N findings (with -w: in the first table).',
      noEnv: true,
    },
    watch: {
      type: 'boolean',
      short: 'w',
      help: 'After the table, print a row for every raised, repeated or cleared finding until Ctrl-C.',
      noEnv: true,
    },
  },
};

const podText = (f: FindingView) => (f.pod ? `${f.pod.namespace ?? '?'}/${f.pod.name ?? f.pod.uid ?? '?'}` : '-');
const evidenceText = (f: FindingView) =>
  Object.entries(f.evidence ?? {})
    .map(([k, v]) => `${k}=${v}`)
    .join(',') || '-';

const HEADER = ['STATE', 'SEVERITY', 'NODE', 'KIND', 'POD', 'LAST SEEN', 'MESSAGE'];
const WIDE = [
  'STATE',
  'SEVERITY',
  'NODE',
  'KIND',
  'POD',
  'CONTAINER',
  'FIRST SEEN',
  'LAST SEEN',
  'EVIDENCE',
  'MESSAGE',
];

function cells(f: FindingView, wide: boolean, nowMs: number): string[] {
  const state = f.active ? 'ACTIVE' : 'cleared';
  if (!wide) return [state, f.severity, f.node, f.kind, podText(f), ageOf(f.lastSeen, nowMs), f.message];
  return [
    state,
    f.severity,
    f.node,
    f.kind,
    podText(f),
    f.pod?.container ?? '-',
    ageOf(f.firstSeen, nowMs),
    ageOf(f.lastSeen, nowMs),
    evidenceText(f),
    f.message,
  ];
}

export function renderFindings(
  r: ListAnswer<FindingView>,
  o: { wide?: boolean; noHeaders?: boolean; nowMs?: number; scope?: Scope } = {},
): string {
  if (r.items.length === 0) return emptyList(r, `No findings${o.scope ? inScope(o.scope) : ''}.`);
  const now = o.nowMs ?? Date.now();
  return (
    table(
      o.wide ? WIDE : HEADER,
      r.items.map((f) => cells(f, !!o.wide, now)),
      o.noHeaders,
    ) + listFooter(r, 'findings')
  );
}

export interface FindingFilter {
  scope: Scope;
  node?: string;
  kind?: string;
  severity?: string;
  active?: boolean;
  time: TimeFilter;
}

/** The API's filters (collector/store/findings.ts), again client-side for -w. */
export function findingMatches(f: FindingView, q: FindingFilter): boolean {
  if (q.node !== undefined && f.node !== q.node) return false;
  if (q.kind !== undefined && f.kind !== q.kind) return false;
  if (q.severity !== undefined && f.severity !== q.severity) return false;
  if (q.active !== undefined && f.active !== q.active) return false;
  if (q.scope.pod !== undefined && f.pod?.name !== q.scope.pod) return false;
  if (q.scope.namespace !== undefined && f.pod && f.pod.namespace !== q.scope.namespace) return false;
  return seenSince(f.lastSeen, q.time);
}

export async function run(v: FlagValues, positionals: string[] = []): Promise<number> {
  noArgs(spec.name, positionals);
  const format = formatOf(v);
  const client = clientOf(v);
  const severity = v.severity as string | undefined;
  if (severity !== undefined && !SEVERITIES.includes(severity))
    throw new ConfigError(`--severity must be ${SEVERITIES.join(', ')}, not "${severity}"`);
  const q: FindingFilter = {
    scope: scopeOf(v),
    node: v.node as string | undefined,
    kind: v.kind as string | undefined,
    severity,
    active: v.active ? true : undefined,
    time: timeFilterOf(v, Date.now()),
  };
  const wide = format === 'wide';
  if (v.watch) {
    // Only node and kind go to the server: its namespace and pod filters are for drops.
    return follow<FindingView>(
      client,
      {
        types: 'findings',
        event: 'finding',
        params: { node: q.node, kind: q.kind, limit: v.limit as string },
        matches: (f) => findingMatches(f, q),
        key: (f) =>
          `${f.node}|${f.kind}|${f.pod?.uid ?? ''}|${f.pod?.namespace ?? ''}|${f.pod?.name ?? ''}|${f.pod?.container ?? ''}`,
        header: wide ? WIDE : HEADER,
        cells: (f, now) => cells(f, wide, now),
        newerFirst: (a, b) => Date.parse(b.lastSeen) - Date.parse(a.lastSeen),
      },
      format,
      v['no-headers'] === true,
    );
  }
  const body = (await getJson(v, '/api/v1/findings', {
    node: q.node,
    kind: q.kind,
    severity,
    active: q.active ? 'true' : undefined,
    namespace: q.scope.namespace,
    pod: q.scope.pod,
    since: q.time.since,
    limit: v.limit as string,
  })) as ListAnswer<FindingView>;
  process.stdout.write(
    format === 'json' || format === 'yaml'
      ? serialize(body, format)
      : renderFindings(body, { wide, noHeaders: v['no-headers'] === true, scope: q.scope }),
  );
  return 0;
}
