import { parseDuration, type CommandSpec, type FlagValues } from '../../common/flags.js';
import type { Flow, Endpoint } from '../../collector/store/drops.js';
import { collectorClientFlags, getJson, table, checkOutput, listFooter, emptyList, type ListAnswer } from '../shared-flags.js';

export const spec: CommandSpec = {
  name: 'drops',
  summary: 'Show dropped packet flows from a collector, newest first.',
  usage: 'nodewarden drops [-n NAMESPACE] [--pod NAME] [--node NODE] [--since 15m] [-o wide|json]',
  details: `-o wide adds WHY: the one-line NetworkPolicy explanation of each flow (collectors with a
cluster; "-" for ICMP and flows without one). "nodewarden explain" shows the whole explanation.`,
  flags: {
    ...collectorClientFlags,
    output: { type: 'string', short: 'o', arg: 'FORMAT', default: 'table', help: 'table, wide (adds the NetworkPolicy explanation) or json.' },
    namespace: { type: 'string', short: 'n', arg: 'NAMESPACE', help: 'Only flows with a pod of this namespace on either side.', noEnv: true },
    pod: { type: 'string', arg: 'NAME', help: 'Only flows with this pod on either side.', noEnv: true },
    node: { type: 'string', arg: 'NODE', help: 'Only drops seen on this node.', noEnv: true },
    since: { type: 'string', arg: 'DURATION', help: 'Only flows last seen within this duration (e.g. 15m).', noEnv: true },
    limit: { type: 'string', arg: 'N', default: '100', help: 'At most N flows.', noEnv: true },
  },
};

export function side(e: Endpoint): string {
  const who = e.pod ? `${e.pod.namespace}/${e.pod.name}` : e.node ? `node/${e.node}` : '';
  return who ? `${who} (${e.ip})` : e.ip;
}

export function renderDrops(r: ListAnswer<Flow>, wide = false): string {
  if (r.items.length === 0) return emptyList(r, 'No drops found.');
  const rows = r.items.map((f) => [
    f.lastSeen.replace(/\.\d+Z$/, 'Z'), String(f.count), f.node, f.proto,
    side(f.src), side(f.dst), f.dst.port !== undefined ? String(f.dst.port) : f.icmpType !== undefined ? `type ${f.icmpType}` : '-',
    ...(wide ? [f.explanation?.summary ?? '-'] : []),
  ]);
  return table(['LAST SEEN', 'COUNT', 'NODE', 'PROTO', 'SOURCE', 'DESTINATION', 'PORT', ...(wide ? ['WHY'] : [])], rows) + listFooter(r, 'flows');
}

export async function run(v: FlagValues): Promise<number> {
  const output = checkOutput(v, true);
  if (v.since) parseDuration(v.since as string, '--since');
  const body = (await getJson(v, '/api/v1/drops', { namespace: v.namespace as string, pod: v.pod as string, node: v.node as string, since: v.since as string, limit: v.limit as string })) as ListAnswer<Flow>;
  process.stdout.write(output === 'json' ? JSON.stringify(body, null, 2) + '\n' : renderDrops(body, output === 'wide'));
  return 0;
}
