import { ConfigError, type CommandSpec, type FlagValues } from '../../common/flags.js';
import type { Explanation, ExplanationSide } from '../../collector/explain/index.js';
import { collectorClientFlags, getJson, checkOutput } from '../shared-flags.js';
import { outputFlags, serialize, table } from '../output.js';

export const spec: CommandSpec = {
  name: 'explain',
  summary:
    'Explain a flow by the NetworkPolicies behind it: which policies isolate each side, which rule admits it or nearly does.',
  usage: 'nodewarden explain FROM TO PORT[/PROTO] [--collector URL] [--api-token TOKEN] [-o json|yaml]',
  details: `FROM and TO are namespace/pod or an IP; PROTO is TCP (default), UDP or SCTP; PORT is the
destination port the pod listens on (after DNAT, not a Service port). Reads GET /api/v1/explain from
a collector running against a cluster, so it answers for any pair, before or after a change:

  nodewarden explain shop/web-0 kube-system/coredns-abc 53/UDP

A NetworkPolicy only allows: "denied" means the pod is isolated by the named policies and none of
their rules admits the flow (the nearest miss says which rule almost does). "undecidable" names why
(ipBlock against a pod IP, hostNetwork pods, an IP that is not a known pod, Service IPs before DNAT).

Examples:
  # Why can web-0 not resolve names?
  nodewarden explain shop/web-0 kube-system/coredns-abc 53/UDP

  # From a pod to an address outside the cluster, as YAML
  nodewarden explain shop/web-0 203.0.113.10 443 -o yaml`,
  flags: {
    ...collectorClientFlags,
    output: { ...outputFlags.output, arg: 'table|json|yaml', help: 'table, json or yaml.' },
  },
};

/** "53/UDP", "5432", "5432/tcp" -> [port, PROTO]. */
export function parsePortProto(text: string): { port: number; proto: string } {
  const m = /^(\d{1,5})(?:\/([A-Za-z]+))?$/.exec(text);
  const port = m ? Number(m[1]) : NaN;
  if (!m || port < 1 || port > 65535) throw new ConfigError(`"${text}" is not PORT[/PROTO] (e.g. 53/UDP, 5432)`);
  const proto = (m[2] ?? 'TCP').toUpperCase();
  if (!['TCP', 'UDP', 'SCTP'].includes(proto))
    throw new ConfigError(`protocol must be TCP, UDP or SCTP (NetworkPolicy defines no others), not "${m[2]}"`);
  return { port, proto };
}

const who = (s: ExplanationSide) => (s.pod ? `${s.pod.namespace}/${s.pod.name}` : '-');

/** The rule column: what admits the flow, what nearly does, or why it cannot be told. */
function ruleText(s: ExplanationSide): string {
  if (s.allowedBy) return `allowed by ${s.allowedBy.policy} rule ${s.allowedBy.rule}`;
  if (s.nearestMiss) return `nearest miss: ${s.nearestMiss.policy} rule ${s.nearestMiss.rule}: ${s.nearestMiss.why}`;
  if (s.reason) return s.reason;
  return s.verdict === 'denies' ? 'no rule comes close' : '-';
}

export function renderExplanation(e: Explanation): string {
  const head = `${e.verdict.toUpperCase()}: ${e.summary}\n${e.fix ? `Fix: ${e.fix}\n` : ''}\n`;
  const sides = table(
    ['DIRECTION', 'POD', 'VERDICT', 'ISOLATED BY', 'RULE'],
    e.sides.map((s) => [
      s.direction,
      who(s),
      s.verdict,
      s.isolatedBy.length ? s.isolatedBy.join(', ') : '-',
      ruleText(s),
    ]),
  );
  const state = `\nPolicy state: resourceVersion ${e.policyState.resourceVersion || '-'}, last change ${e.policyState.at}\n`;
  const caveat = e.notEvaluated?.length ? `Not evaluated (served by this cluster): ${e.notEvaluated.join(', ')}\n` : '';
  return head + sides + state + caveat;
}

export async function run(v: FlagValues, positionals: string[] = []): Promise<number> {
  const output = checkOutput(v);
  if (positionals.length !== 3)
    throw new ConfigError(
      'expected FROM TO PORT[/PROTO], e.g. shop/web-0 kube-system/coredns-abc 53/UDP (see nodewarden explain --help)',
    );
  const [from, to, pp] = positionals;
  const { port, proto } = parsePortProto(pp);
  const body = (await getJson(v, '/api/v1/explain', { from, to, port: String(port), proto })) as Explanation;
  process.stdout.write(output !== 'table' ? serialize(body, output) : renderExplanation(body));
  return 0;
}
