import type { CommandSpec, FlagValues } from '../../common/flags.js';
import type { FindingView } from '../../collector/store/findings.js';
import { collectorClientFlags, getJson, table, checkOutput, listFooter, emptyList, type ListAnswer } from '../shared-flags.js';

export const spec: CommandSpec = {
  name: 'findings',
  summary: 'Show node and pod findings (IPForwardingDisabled, PIDPressure, EtcdNoSpace, ...) from a collector.',
  usage: 'nodewarden findings [--node NODE] [--kind KIND] [--active] [-o json]',
  flags: {
    ...collectorClientFlags,
    node: { type: 'string', arg: 'NODE', help: 'Only this node.', noEnv: true },
    kind: { type: 'string', arg: 'KIND', help: 'Only this kind.', noEnv: true },
    active: { type: 'boolean', help: 'Only findings that are still active.', noEnv: true },
    limit: { type: 'string', arg: 'N', default: '1000', help: 'At most N findings.', noEnv: true },
  },
};

export function renderFindings(r: ListAnswer<FindingView>): string {
  if (r.items.length === 0) return emptyList(r, 'No findings.');
  const rows = r.items.map((f) => [
    f.active ? 'ACTIVE' : 'cleared', f.severity, f.node, f.kind,
    f.pod ? `${f.pod.namespace ?? '?'}/${f.pod.name ?? f.pod.uid ?? '?'}` : '-', f.lastSeen.replace(/\.\d+Z$/, 'Z'), f.message,
  ]);
  return table(['STATE', 'SEVERITY', 'NODE', 'KIND', 'POD', 'LAST SEEN', 'MESSAGE'], rows) + listFooter(r, 'findings');
}

export async function run(v: FlagValues): Promise<number> {
  const output = checkOutput(v);
  const body = (await getJson(v, '/api/v1/findings', { node: v.node as string, kind: v.kind as string, active: v.active ? 'true' : undefined, limit: v.limit as string })) as ListAnswer<FindingView>;
  process.stdout.write(output === 'json' ? JSON.stringify(body, null, 2) + '\n' : renderFindings(body));
  return 0;
}
