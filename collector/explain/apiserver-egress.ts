// APIServerEgressBlocked (pod, critical): a kube-system pod whose egress to the API server is
// isolated by NetworkPolicies with no rule allowing it — the CoreDNS incident (a `deny-all` in
// kube-system: CoreDNS loses its watch on Services/Endpoints and DNS dies for the whole cluster).
// Raised from the evaluator alone, before any drop: such a pod may not even try to connect for a
// while (CoreDNS serves its cache first), and by the time drops are logged the cluster is down.
// Critical although "only a policy" is wrong: it marks the pod's node unhealthy in `nodewarden
// nodes`, which is the honest headline — every node's DNS depends on it.
//
// Where the API server is. The real answer is the endpoints of Service default/kubernetes, but the
// collector may not read endpoints/endpointslices and must not gain that right for this. What it
// knows without new rights:
//  - the address it talks to itself (collector/kube/config.ts): from a kubeconfig usually an
//    apiserver or a load balancer in front of it (judged as explain() judges any IP); in-cluster it
//    is the default/kubernetes Service IP, judged as a Service IP (pre-DNAT: egress rules apply to
//    the backend we cannot name, so that answer is undecidable) — with one exception: when the
//    isolating policies have no egress rule at all (the `deny-all` incident) nothing can admit any
//    backend, so it is blocked, unless a kube-apiserver pod runs on the pod's own node (whether
//    egress to the own node is policed is CNI-specific). On managed control planes this is all we
//    have, and it is exactly the incident;
//  - kube-apiserver pods (label component=kube-apiserver, the kubeadm/kOps static mirror pods) in
//    the pod cache: their host IPs (they are hostNetwork) on the kubeconfig's port, or 6443 (the
//    kube-apiserver default --secure-port) in-cluster, where the Service port (443) is not the
//    apiserver's. Managed control planes have none; then the first source is all we have.
// A hostname in the kubeconfig is not resolved (no I/O here): that address is left out, said once.
//
// When: only when something an answer depends on moved — the policy generation (policies,
// namespace labels), the pod generation (pod cache), the not-evaluated policy kinds — checked every
// `checkMs` (1 s) and otherwise free; never per packet, never a periodic full recompute.
// Verdicts per pod over every known API server address (TCP egress of the pod only: an apiserver
// is not a pod, no NetworkPolicy isolates its ingress):
//  - some address allowed or not isolated -> fine (the pod can reach one apiserver);
//  - every address "denies" -> raised (message: the first address's summary);
//  - otherwise (an undecidable one, e.g. an ipBlock against a host-network apiserver) -> not raised,
//    and logged once per pod and reason; a finding raised before is cleared (we can no longer say).
// hostNetwork pods (kube-proxy, the apiserver itself) are skipped: NetworkPolicy does not apply.
import { isIP } from 'node:net';
import type { Finding } from '../../proto/codec.js';
import type { Stores } from '../ingest/apply.js';
import type { JobGuard } from '../../common/guard.js';
import type { Logger } from '../../common/log.js';
import type { KubeConfig } from '../kube/config.js';
import type { ListedPod } from '../kube/pod-cache.js';
import type { PodOwner } from '../resolve/resolver.js';
import type { PolicySource } from '../kube/policy-watch.js';
import type { Endpoint } from './evaluator.js';
import type { ExplainExtension, Explanation } from './index.js';

export const APISERVER_EGRESS_BLOCKED = 'APIServerEgressBlocked';
const NAMESPACE = 'kube-system';
const DEFAULT_SECURE_PORT = 6443;

/** An address the API server answers on, and how we know it (for the evidence). */
export interface ApiServerAddress {
  ip: string;
  port: number;
  source: 'kubeconfig' | 'in-cluster Service' | 'kube-apiserver pod';
  service?: boolean;
}

/** What the check reads of the pod cache (PodWatch). */
export interface PodLister {
  readonly generation: number;
  podsIn(namespace: string): ListedPod[];
  ready(): boolean;
}

/** The address the collector itself uses, when it is an IP literal. */
export function configAddress(kube: Pick<KubeConfig, 'server' | 'inCluster'>): ApiServerAddress | string {
  const u = new URL(kube.server);
  const host = u.hostname.replace(/^\[|\]$/g, '');
  const port = Number(u.port) || (u.protocol === 'http:' ? 80 : 443);
  if (!isIP(host))
    return `the API server address ${u.host} is a hostname; it is not resolved, so only kube-apiserver pods can be judged`;
  return kube.inCluster
    ? { ip: host, port, source: 'in-cluster Service', service: true }
    : { ip: host, port, source: 'kubeconfig' };
}

/** Every API server address known now: the config's (when an IP) and the kube-apiserver pods' host IPs. */
export function apiServerAddresses(
  config: ApiServerAddress | undefined,
  kubeSystem: readonly ListedPod[],
  inCluster: boolean,
): ApiServerAddress[] {
  const out: ApiServerAddress[] = config ? [config] : [];
  const port = !config || inCluster ? DEFAULT_SECURE_PORT : config.port;
  for (const p of kubeSystem) {
    if (p.owner.meta?.labels.component !== 'kube-apiserver') continue;
    const named = p.owner.meta.ports.find((x) => x.protocol === 'TCP' && /^https/.test(x.name))?.port;
    for (const ip of p.hostIps.length ? p.hostIps : p.podIps)
      if (!out.some((a) => a.ip === ip)) out.push({ ip, port: named ?? port, source: 'kube-apiserver pod' });
  }
  return out;
}

export interface ApiServerEgressOptions {
  /** How often the generations are compared (0: never; call evaluate()). Default 1 s. */
  checkMs?: number;
  now?: () => number;
  onFinding?: (node: string, finding: Finding, notify: boolean) => void;
  guard?: JobGuard;
}

interface Raised {
  node: string;
  pod: PodOwner;
  message: string;
  evidence: Record<string, string>;
  firstMs: number;
}

const podName = (p: PodOwner) => `${p.namespace}/${p.name}`;
const addrText = (a: ApiServerAddress) => `${a.ip.includes(':') ? `[${a.ip}]` : a.ip}:${a.port} (${a.source})`;

type Judgement = { blocked: true; e: Explanation; addr: ApiServerAddress } | { blocked: false; undecided?: string };

export interface ApiServerEgressCheck {
  /** Starts the change check, writing into these stores. */
  attach(stores: Stores): void;
  /** Re-evaluates now if anything relevant changed (or force). */
  evaluate(force?: boolean): void;
  stop(): void;
}

export function apiServerEgressCheck(
  pods: PodLister,
  policies: Pick<PolicySource, 'state' | 'notEvaluated' | 'policiesIn'>,
  ex: ExplainExtension,
  kube: Pick<KubeConfig, 'server' | 'inCluster'>,
  log: Logger,
  opts: ApiServerEgressOptions = {},
): ApiServerEgressCheck {
  const now = opts.now ?? Date.now;
  const config = configAddress(kube);
  if (typeof config === 'string') log.info(`apiserver-egress: ${config}`);
  const raised = new Map<string, Raised>();
  const saidUndecided = new Set<string>();
  let stores: Stores | undefined;
  let last = '';

  const endpointFor = (a: ApiServerAddress): Endpoint =>
    a.service ? { kind: 'ip', ip: a.ip, scope: 'service' } : ex.endpointOf(a.ip);

  /** Isolated for egress by policies none of which has an egress rule: no backend of any Service is admitted. */
  const noEgressRule = (isolatedBy: readonly string[]): boolean =>
    isolatedBy.length > 0 &&
    policies
      .policiesIn(NAMESPACE)
      .every((x) => !isolatedBy.includes(`${x.metadata.namespace}/${x.metadata.name}`) || !x.spec.egress?.length);

  const judge = (p: PodOwner, addrs: readonly ApiServerAddress[], apiserverNodes: ReadonlySet<string>): Judgement => {
    let first: { e: Explanation; addr: ApiServerAddress } | undefined, undecided: string | undefined;
    for (const a of addrs) {
      let e = ex.explainTo(podName(p), endpointFor(a), 'TCP', a.port);
      // the Service exception above: judged as an address no rule can admit (there is no rule)
      if (a.service && e.sides[0].verdict === 'undecidable' && noEgressRule(e.sides[0].isolatedBy)) {
        if (apiserverNodes.has(p.node ?? '')) {
          undecided ??= `${addrText(a)}: a kube-apiserver runs on the pod's own node (${p.node}); whether egress to the own node is policed is CNI-specific`;
          continue;
        }
        e = ex.explainTo(podName(p), { kind: 'ip', ip: a.ip, scope: 'external' }, 'TCP', a.port);
      }
      const egress = e.sides[0];
      if (egress.verdict === 'allows' || egress.verdict === 'not-isolated') return { blocked: false };
      if (egress.verdict === 'undecidable') undecided ??= `${addrText(a)}: ${egress.reason ?? e.summary}`;
      else first ??= { e, addr: a };
    }
    return undecided || !first ? { blocked: false, undecided } : { blocked: true, ...first };
  };

  const write = (r: Raised, active: boolean, notify: boolean): void => {
    const t = now();
    const f: Finding = {
      kind: APISERVER_EGRESS_BLOCKED,
      severity: 'critical',
      active,
      message: active
        ? r.message
        : `${podName(r.pod)} may reach the API server again (NetworkPolicies or pods changed)`,
      key: r.pod.uid || podName(r.pod),
      pod: { namespace: r.pod.namespace, name: r.pod.name, uid: r.pod.uid },
      evidence: r.evidence,
      firstSeenMs: r.firstMs,
      lastSeenMs: t,
    };
    const changed = stores!.findings.apply(r.node, f, t);
    opts.onFinding?.(r.node, f, changed || notify);
  };

  const evaluate = (force = false): void => {
    if (!stores || !pods.ready() || !ex.ready()) return;
    const st = policies.state();
    // notEvaluated keeps its array identity until the answer changes; its text is enough here
    const stamp = `${st.generation}|${pods.generation}|${policies.notEvaluated().join()}`;
    if (!force && stamp === last) return;
    last = stamp;
    const kubeSystem = pods.podsIn(NAMESPACE);
    const addrs = apiServerAddresses(typeof config === 'string' ? undefined : config, kubeSystem, !!kube.inCluster);
    const apiserverNodes = new Set(
      kubeSystem
        .filter((p) => p.owner.meta?.labels.component === 'kube-apiserver' && p.owner.node)
        .map((p) => p.owner.node!),
    );
    const seen = new Set<string>();
    for (const { owner } of kubeSystem) {
      if (!owner.meta || owner.meta.hostNetwork || !owner.node || !addrs.length) continue;
      const key = owner.uid || podName(owner);
      const j = judge(owner, addrs, apiserverNodes);
      if (!j.blocked) {
        if (j.undecided && !saidUndecided.has(`${key}|${j.undecided}`)) {
          if (saidUndecided.size > 10_000) saidUndecided.clear();
          saidUndecided.add(`${key}|${j.undecided}`);
          log.info(
            { pod: podName(owner), reason: j.undecided },
            'apiserver-egress: cannot tell whether NetworkPolicies let this pod reach the API server; not raising',
          );
        }
        continue;
      }
      seen.add(key);
      const prev = raised.get(key);
      const evidence: Record<string, string> = {
        explanation: j.e.summary,
        verdict: j.e.verdict,
        apiServer: addrText(j.addr),
        apiServers: addrs.map(addrText).join(', '),
        isolatedBy: j.e.sides[0].isolatedBy.join(', '),
        policyResourceVersion: j.e.policyState.resourceVersion,
      };
      if (j.e.fix) evidence.fix = j.e.fix;
      const r: Raised = {
        node: prev?.node ?? owner.node,
        pod: owner,
        evidence,
        firstMs: prev?.firstMs ?? now(),
        message: `${podName(owner)} cannot reach the API server (${addrs.map((a) => `${a.ip}:${a.port}`).join(', ')}): ${j.e.summary}`,
      };
      raised.set(key, r);
      // a new message is news (an Event); fresher evidence (e.g. the policy resourceVersion) is only stored
      const news = !prev || prev.message !== r.message;
      if (news || JSON.stringify(prev!.evidence) !== JSON.stringify(r.evidence)) write(r, true, news);
    }
    for (const [key, r] of raised) {
      if (seen.has(key)) continue;
      raised.delete(key);
      write(r, false, true);
    }
  };

  let timer: NodeJS.Timeout | undefined;
  return {
    attach(s) {
      stores = s;
      const checkMs = opts.checkMs ?? 1000;
      const run = opts.guard ? opts.guard.wrap('apiserver-egress', () => evaluate()) : () => evaluate();
      if (checkMs > 0 && !timer) {
        timer = setInterval(run, checkMs);
        timer.unref();
      }
    },
    evaluate,
    stop: () => clearInterval(timer),
  };
}
