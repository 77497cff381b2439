// NetworkPolicy explanations for dropped flows: an extension the collector wires in like
// collector/runtime/index.ts. Entry points:
//
//   const policyWatch = new PolicyWatch(client, log, { registry });   // collector/kube/policy-watch.ts
// policyWatch.start();                                              // NetworkPolicy + Namespace list+watch, discovery
//   const ex = explainExtension(podWatch, policyWatch, { podCidrs, serviceCidrs });
//   createApi({ ..., routes: { ...runtime.routes, ...ex.routes } }); // GET /api/v1/explain?from=&to=&port=&proto=
//   ex.explain(srcIp, dstIp, 'TCP', 5432, drop.lastSeenMs)           // for a drop (the flow's API object)
//   PacketDrop Events append the summary of a denied explanation (collector/explain/flows.ts)
// ex.explainTo('kube-system/coredns-x', endpoint, 'TCP', 6443)     // uncached, caller-classified peer
// (apiserver-egress.ts)
//   await policyWatch.stop();
//
// - The resolver must carry PodOwner.meta (labels, hostNetwork, named ports): PodWatch and the
//   pods-file IpIndex do. A pod without meta (e.g. a runtime hint) is treated as an unknown IP.
// - `from`/`to` are an IP (resolved at atMs, as drops are) or "namespace/pod" (a pod named without
//   its IP cannot be compared with ipBlocks: those rules come out undecidable).
// - Only TCP/UDP/SCTP: NetworkPolicy defines no other protocol (an ICMP drop is a BadRequest; skip it).
// - Explanations are cached by (from, to, proto, port) and recomputed only when the policy
// generation moves (a policy or namespace label change), the not-evaluated kinds change, or an endpoint resolves to a
// different pod
//   object (the pod cache keeps the object while its labels/ports are unchanged).
// - ex.ready() is false until the policy and namespace caches are synced; explanations before that
//   would be confidently wrong, so explain() throws NotReady (a NotFound: createApi maps it to 404 with that message).
import { canonicalIp } from '../../common/ip.js';
import { cidrContains, parseCidr, type Cidr } from './cidr.js';
import type { RouteHandler } from '../api/server.js';
import { BadRequest, NotFound, readQuery } from '../api/query.js';
import type { PodOwner, Resolver } from '../resolve/resolver.js';
import type { PolicySource } from '../kube/policy-watch.js';
import { evaluateFlow, type Endpoint, type FlowVerdict, type Protocol, type SideResult } from './evaluator.js';
import { summarize } from './summary.js';

export { PolicyWatch, cacheSource, type PolicySource } from '../kube/policy-watch.js';

/** One side of an explanation: exactly what the evaluator decided for that direction. */
export type ExplanationSide = SideResult;
export interface Explanation {
  verdict: FlowVerdict;
  summary: string;
  fix?: string;
  policyState: { at: string; resourceVersion: string };
  notEvaluated?: string[];
  sides: ExplanationSide[];
}

export interface ExplainOptions {
  /**
   * Pod network CIDRs: an unresolved IP outside them is external (decisive), inside them an unknown pod. Unset: every
   * unresolved IP is unknown.
   */
  podCidrs?: string[];
  /** Service CIDRs: such a destination was logged before DNAT, so its backend cannot be named. */
  serviceCidrs?: string[];
  /** Cached explanations kept (oldest dropped first). Default 20,000. */
  maxCached?: number;
}

export interface ExplainExtension {
  /** Throws BadRequest (bad input), NotFound (unknown pod name) or NotReady. */
  explain(from: string, to: string, proto: string, port: number, atMs?: number): Explanation;
  /**
   * The same explanation towards an endpoint the caller classified itself (e.g. an address it knows
   * to be a Service IP without --service-cidr). Not cached: for checks that run on policy changes.
   */
  explainTo(from: string, to: Endpoint, proto: Protocol, port: number, atMs?: number): Explanation;
  /** How explain() sees an IP at a time: a pod, a node, or a bare IP with its scope. */
  endpointOf(ip: string, atMs?: number): Endpoint;
  routes: Record<string, RouteHandler>;
  ready(): boolean;
  readonly stats: { computed: number; cached: number };
}

export class NotReady extends NotFound {}

const PROTOCOLS = new Set<Protocol>(['TCP', 'UDP', 'SCTP']);

function cidrList(cidrs: string[] | undefined, flag: string): Cidr[] | undefined {
  if (!cidrs?.length) return undefined;
  return cidrs.map((c) => {
    const x = parseCidr(c);
    if (!x) throw new BadRequest(`${flag}: "${c}" is not a CIDR`);
    return x;
  });
}
const inAny = (list: Cidr[] | undefined, ip: string) => !!list?.some((c) => cidrContains(c, ip));

interface Cached {
  gen: number;
  kinds: string[];
  src: unknown;
  dst: unknown;
  value: Explanation;
}

export function explainExtension(
  resolver: Resolver,
  policies: PolicySource,
  opts: ExplainOptions = {},
): ExplainExtension {
  const pods = cidrList(opts.podCidrs, 'podCidrs'),
    services = cidrList(opts.serviceCidrs, 'serviceCidrs');
  const max = opts.maxCached ?? 20_000;
  const cache = new Map<string, Cached>();
  const stats = { computed: 0, cached: 0 };
  let isoMs = NaN,
    isoText = '';
  const iso = (ms: number) => (ms === isoMs ? isoText : ((isoMs = ms), (isoText = new Date(ms).toISOString())));

  /** The endpoint, plus the object whose identity says "same pod, same labels" for the cache. */
  const endpoint = (text: string, atMs: number | undefined, what: string): { e: Endpoint; ref: unknown } => {
    const slash = text.indexOf('/');
    if (slash > 0 && !text.includes(':')) {
      const ns = text.slice(0, slash),
        name = text.slice(slash + 1);
      if (!resolver.podByName) throw new BadRequest(`${what}: this pod source cannot look pods up by name; give an IP`);
      const p = resolver.podByName(ns, name);
      if (!p) throw new NotFound(`${what}: no pod ${text}`);
      return podEndpoint(p, []);
    }
    const ip = canonicalIp(text);
    if (!ip) throw new BadRequest(`${what}: "${text}" is neither an IP nor namespace/pod`);
    const o = resolver.resolve(ip, atMs);
    if (o?.kind === 'pod') return podEndpoint(o, [ip]);
    if (o?.kind === 'node') return { e: { kind: 'node', name: o.name, ip }, ref: o.name };
    const scope = inAny(services, ip) ? 'service' : pods && !inAny(pods, ip) ? 'external' : 'unknown';
    return { e: { kind: 'ip', ip, scope }, ref: scope };
  };

  const podEndpoint = (p: PodOwner, ips: string[]): { e: Endpoint; ref: unknown } => {
    const ip = ips[0];
    if (!p.meta) return { e: { kind: 'ip', ip: ip ?? `${p.namespace}/${p.name}`, scope: 'unknown' }, ref: p };
    return {
      e: {
        kind: 'pod',
        namespace: p.namespace,
        name: p.name,
        labels: p.meta.labels,
        namespaceLabels: policies.namespaceLabels(p.namespace),
        hostNetwork: p.meta.hostNetwork,
        containerPorts: p.meta.ports,
        ips,
        node: p.node,
      },
      ref: p,
    };
  };

  const checked = (proto: string, port: number): Protocol => {
    if (!policies.ready()) throw new NotReady('NetworkPolicy and Namespace caches are not synced yet');
    const protocol = proto.toUpperCase() as Protocol;
    if (!PROTOCOLS.has(protocol))
      throw new BadRequest(`proto must be TCP, UDP or SCTP (NetworkPolicy defines no others), not "${proto}"`);
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new BadRequest(`port must be 1..65535, not ${port}`);
    return protocol;
  };

  const compute = (src: Endpoint, dst: Endpoint, protocol: Protocol, port: number): Explanation => {
    const st = policies.state();
    const notEvaluated = policies.notEvaluated();
    const a = src.kind === 'pod' ? src.namespace : undefined,
      b = dst.kind === 'pod' ? dst.namespace : undefined;
    const inScope =
      a === b || b === undefined
        ? a
          ? policies.policiesIn(a)
          : []
        : a === undefined
          ? policies.policiesIn(b)
          : [...policies.policiesIn(a), ...policies.policiesIn(b)];
    const r = evaluateFlow({ src, dst, protocol, port, policies: inScope });
    const w = summarize(src, dst, protocol, port, r, notEvaluated);
    stats.computed++;
    return {
      verdict: r.verdict,
      summary: w.summary,
      ...(w.fix ? { fix: w.fix } : {}),
      policyState: { at: iso(st.changedAtMs), resourceVersion: st.resourceVersion },
      ...(notEvaluated.length ? { notEvaluated } : {}),
      sides: r.sides,
    };
  };

  const explain = (from: string, to: string, proto: string, port: number, atMs?: number): Explanation => {
    const protocol = checked(proto, port);
    const src = endpoint(from, atMs, 'from'),
      dst = endpoint(to, atMs, 'to');
    const key = `${from}|${to}|${protocol}|${port}`;
    const gen = policies.state().generation;
    const notEvaluated = policies.notEvaluated();
    const hit = cache.get(key);
    if (hit && hit.gen === gen && hit.kinds === notEvaluated && hit.src === src.ref && hit.dst === dst.ref) {
      stats.cached++;
      return hit.value;
    }
    const value = compute(src.e, dst.e, protocol, port);
    if (max > 0) {
      cache.delete(key); // re-insert: Map order is the eviction order
      cache.set(key, { gen, kinds: notEvaluated, src: src.ref, dst: dst.ref, value });
      if (cache.size > max) cache.delete(cache.keys().next().value!);
    }
    return value;
  };

  const explainTo = (from: string, to: Endpoint, proto: Protocol, port: number, atMs?: number): Explanation =>
    compute(endpoint(from, atMs, 'from').e, to, checked(proto, port), port);

  const endpointOf = (ip: string, atMs?: number): Endpoint => endpoint(ip, atMs, 'to').e;

  const routes: Record<string, RouteHandler> = {
    '/api/v1/explain': (query) => {
      const q = readQuery(query, { from: 'string', to: 'string', port: 'int', proto: 'string' });
      if (!q.from || !q.to || q.port === undefined)
        throw new BadRequest('from, to and port are required (from/to: an IP or namespace/pod)');
      return explain(q.from as string, q.to as string, (q.proto as string | undefined) ?? 'TCP', q.port as number);
    },
  };

  return { explain, explainTo, endpointOf, routes, ready: () => policies.ready(), stats };
}
