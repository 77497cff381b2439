// One sentence (and a fix sentence) for an evaluated flow. A NetworkPolicy only ever allows, so the
// wording is "X is isolated by P; no rule allows F" — never "P denies": the cure for a drop is an
// allow rule (or removing the isolating policy), and "P denies" sends people hunting for a deny rule
// that does not exist. Policy names come first (they are what people grep for); the text stays under
// ~300 characters so it fits an Event message with room for the Event's own prefix.
import { describe, type Endpoint, type FlowResult, type Protocol, type SideResult } from './evaluator.js';

const MAX = 300;

function names(list: string[]): string {
  return list.length <= 3 ? list.join(', ') : `${list.slice(0, 3).join(', ')} and ${list.length - 3} more`;
}

const isDns = (dst: Endpoint, port: number) =>
  port === 53 && dst.kind === 'pod' && (dst.labels['k8s-app'] === 'kube-dns' || dst.namespace === 'kube-system');

function subjectOf(s: SideResult, src: Endpoint, dst: Endpoint): string {
  return s.pod ? `${s.pod.namespace}/${s.pod.name}` : describe(s.direction === 'egress' ? src : dst);
}

function deniedClause(s: SideResult, src: Endpoint, dst: Endpoint, proto: Protocol, port: number): string {
  const flow =
    s.direction === 'egress' ? `${proto}/${port} to ${describe(dst)}` : `${proto}/${port} from ${describe(src)}`;
  const dir = s.direction === 'egress' ? 'Egress' : 'Ingress';
  return `${dir} of ${subjectOf(s, src, dst)} is isolated by ${names(s.isolatedBy)}; no rule allows ${flow}${isDns(dst, port) && s.direction === 'egress' ? ' (DNS)' : ''}`;
}

function cap(text: string): string {
  return text.length <= MAX ? text : `${text.slice(0, MAX - 1)}…`;
}

const upper = (t: string) => t.charAt(0).toUpperCase() + t.slice(1);

export interface Wording {
  summary: string;
  fix?: string;
}

export function summarize(
  src: Endpoint,
  dst: Endpoint,
  proto: Protocol,
  port: number,
  r: FlowResult,
  notEvaluated: string[] = [],
): Wording {
  const flow = `${proto}/${port} from ${describe(src)} to ${describe(dst)}`;
  const caveat = notEvaluated.length ? ` (${names(notEvaluated)} not evaluated)` : '';
  if (r.verdict === 'denied') {
    const denying = r.sides.filter((s) => s.verdict === 'denies');
    const summary = cap(`${denying.map((s) => deniedClause(s, src, dst, proto, port)).join('; and ')}.`);
    const miss = denying.find((s) => s.nearestMiss)?.nearestMiss;
    if (miss) return { summary, fix: cap(`${upper(miss.why)}.`) };
    const dnsEgress = denying.find((s) => s.direction === 'egress') && isDns(dst, port);
    const first = denying[0];
    const fix = dnsEgress
      ? `Allow egress to namespace kube-system pods k8s-app=kube-dns on UDP and TCP ${port} (the container port), or remove ${names(first.isolatedBy)}.`
      : `Add an ${first.direction} rule allowing ${proto}/${port} ${first.direction === 'egress' ? `to ${describe(dst)}` : `from ${describe(src)}`} to one of ${names(first.isolatedBy)}, or remove the isolation.`;
    return { summary, fix: cap(fix) };
  }
  if (r.verdict === 'allowed') {
    const how = r.sides
      .map(
        (s) =>
          `${s.direction} ${s.verdict === 'not-isolated' ? 'not isolated' : s.allowedBy ? `allowed by ${s.allowedBy.policy} rule ${s.allowedBy.rule}` : 'allowed'}`,
      )
      .join(', ');
    // Served policy kinds we do not evaluate are the likeliest other cause: name them first.
    const cause = notEvaluated.length
      ? `${names(notEvaluated)} (not evaluated here), a non-policy cause, or a policy change since`
      : 'another cause, or policies changed since';
    return { summary: cap(`Current NetworkPolicies allow ${flow} (${how}); the drop has ${cause}.`) };
  }
  const why = r.sides
    .filter((s) => s.verdict === 'undecidable')
    .map((s) => `${s.direction}: ${s.reason}`)
    .join('; ');
  return { summary: cap(`Cannot tell whether NetworkPolicy allows ${flow}: ${why}${caveat}.`) };
}

/** The Event one denying side deserves: on the pod isolated in that direction (both pods when both deny). */
