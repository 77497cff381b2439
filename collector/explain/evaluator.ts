// Does Kubernetes NetworkPolicy (networking.k8s.io/v1) admit one flow? Pure: no I/O, no clock.
//
// A flow passes only if the source's egress side AND the destination's ingress side admit it; each
// side is judged on its own: not-isolated / allows (first admitting policy+rule) / denies (isolating
// policies + nearest miss) / undecidable (a named reason). NetworkPolicy only ever allows, so "denies"
// means "isolated, and no rule of any isolating policy admits this flow".
//
// Matching is three-valued (yes / no / a reason why it cannot be known): a rule admits when its peer
// and port tests are both "yes"; one undecided test makes the rule undecided unless the other is "no".
// A side with no admitting rule but an undecided one is undecidable, never "denies": we would rather
// say "we cannot tell" than name a wrong cause. What cannot be known here (semantics the spec leaves to
// the CNI, see /work/shared/reference/netpol-explain.md): ipBlock against pod/node IPs, hostNetwork
// pods, IPs that are neither a known pod nor known to be external, namespaces we have no labels for.
import { cidrContains, parseCidr, type Cidr } from './cidr.js';

export type Labels = Readonly<Record<string, string>>;
export type Protocol = 'TCP' | 'UDP' | 'SCTP';

export interface LabelSelectorJson {
  matchLabels?: Record<string, string> | null;
  matchExpressions?: { key: string; operator: string; values?: string[] | null }[] | null;
}
export interface IpBlockJson {
  cidr: string;
  except?: string[] | null;
}
export interface PeerJson {
  podSelector?: LabelSelectorJson | null;
  namespaceSelector?: LabelSelectorJson | null;
  ipBlock?: IpBlockJson | null;
}
export interface PortJson {
  protocol?: string | null;
  port?: number | string | null;
  endPort?: number | null;
}
export interface IngressRuleJson {
  from?: PeerJson[] | null;
  ports?: PortJson[] | null;
}
export interface EgressRuleJson {
  to?: PeerJson[] | null;
  ports?: PortJson[] | null;
}
/** A NetworkPolicy as the API serves it (or as offline YAML has it: policyTypes may be absent). */
export interface NetworkPolicyJson {
  metadata: { namespace: string; name: string; resourceVersion?: string };
  spec: {
    podSelector?: LabelSelectorJson | null;
    policyTypes?: string[] | null;
    ingress?: IngressRuleJson[] | null;
    egress?: EgressRuleJson[] | null;
  };
}

export interface ContainerPort {
  name?: string;
  port: number;
  protocol?: string;
}
export interface PodEndpoint {
  kind: 'pod';
  namespace: string;
  name: string;
  labels: Labels;
  /** undefined: we have no such namespace (deleted, or not yet seen). */
  namespaceLabels: Labels | undefined;
  hostNetwork: boolean;
  containerPorts: readonly ContainerPort[];
  /** The pod's IPs (for ipBlock); empty when unknown. */
  ips: readonly string[];
  node?: string;
}
export interface NodeEndpoint {
  kind: 'node';
  name: string;
  ip?: string;
}
/**
 * An IP that is not a known pod or node. scope: "external" = known to be outside the pod network
 * (decisive for selectors and ipBlock); "unknown" = could be a pod we do not know; "service" = a
 * Service IP seen before DNAT (policy applies to the backend, which we cannot name).
 */
export interface IpEndpoint {
  kind: 'ip';
  ip: string;
  scope: 'external' | 'unknown' | 'service';
}
export type Endpoint = PodEndpoint | NodeEndpoint | IpEndpoint;

export interface FlowInput {
  src: Endpoint;
  dst: Endpoint;
  protocol: Protocol;
  port: number;
  /** NetworkPolicies of (at least) the source's and the destination's namespaces. */
  policies: readonly NetworkPolicyJson[];
}

export type Direction = 'egress' | 'ingress';
export interface RuleRef {
  policy: string;
  rule: number;
}
export interface NearestMiss extends RuleRef {
  why: string;
}
export type SideVerdict = 'not-isolated' | 'allows' | 'denies' | 'undecidable';
export interface SideResult {
  direction: Direction;
  pod?: { namespace: string; name: string };
  verdict: SideVerdict;
  /** ns/name of every policy isolating the pod for this direction (sorted). */
  isolatedBy: string[];
  allowedBy?: RuleRef;
  nearestMiss?: NearestMiss;
  reason?: string;
}
export type FlowVerdict = 'denied' | 'allowed' | 'undecidable';
export interface FlowResult {
  verdict: FlowVerdict;
  sides: [SideResult, SideResult];
}

/** "yes" / "no" / why it cannot be known. */
type Tri = true | false | string;
const and = (a: Tri, b: Tri): Tri => (a === false || b === false ? false : a === true ? b : a);

/**
 * policyTypes as the API server defaults them (SetDefaults_NetworkPolicy): Ingress, plus Egress iff egress rules exist.
 */
export function effectivePolicyTypes(p: NetworkPolicyJson): readonly Direction[] {
  let d = typesMemo.get(p);
  if (!d) typesMemo.set(p, (d = defaultedTypes(p)));
  return d;
}
// Policy objects are not edited in place (a watch event replaces them), so the answer is memoised.
const typesMemo = new WeakMap<NetworkPolicyJson, readonly Direction[]>();
function defaultedTypes(p: NetworkPolicyJson): Direction[] {
  const t = p.spec.policyTypes;
  if (t && t.length)
    return t.map((x) => x.toLowerCase()).filter((x): x is Direction => x === 'ingress' || x === 'egress');
  return (p.spec.egress?.length ?? 0) > 0 ? ['ingress', 'egress'] : ['ingress'];
}

/** metav1.LabelSelector: matchLabels AND every matchExpression; an empty (or absent) selector matches everything. */
export function selectorMatches(sel: LabelSelectorJson | null | undefined, labels: Labels): boolean {
  if (!sel) return true;
  const ml = sel.matchLabels;
  if (ml) for (const k in ml) if (labels[k] !== ml[k]) return false;
  const me = sel.matchExpressions;
  if (me)
    for (const e of me) {
      const has = Object.prototype.hasOwnProperty.call(labels, e.key);
      const vals = e.values ?? [];
      switch (e.operator) {
        case 'In':
          if (!has || !vals.includes(labels[e.key])) return false;
          break;
        case 'NotIn':
          if (has && vals.includes(labels[e.key])) return false;
          break;
        case 'Exists':
          if (!has) return false;
          break;
        case 'DoesNotExist':
          if (has) return false;
          break;
        default:
          return false; // validation rejects other operators; a selector we cannot read selects nothing
      }
    }
  return true;
}

const isEmptySelector = (s: LabelSelectorJson | null | undefined) =>
  !s || (!Object.keys(s.matchLabels ?? {}).length && !(s.matchExpressions ?? []).length);

// ---- ipBlock ----------------------------------------------------------------------------------

const blockCache = new WeakMap<IpBlockJson, { inside: Cidr; except: Cidr[] } | null>();
function compiled(b: IpBlockJson): { inside: Cidr; except: Cidr[] } | null {
  let c = blockCache.get(b);
  if (c === undefined) {
    const inside = parseCidr(b.cidr),
      except = (b.except ?? []).map(parseCidr);
    c = inside && except.every((x) => x) ? { inside, except: except as Cidr[] } : null;
    blockCache.set(b, c);
  }
  return c;
}
/** Is ip inside cidr minus except? undefined for a malformed block. */
export function ipBlockContains(b: IpBlockJson, ip: string): boolean | undefined {
  const c = compiled(b);
  if (!c) return undefined;
  return cidrContains(c.inside, ip) && !c.except.some((x) => cidrContains(x, ip));
}

// ---- peers --------------------------------------------------------------------------------------

/** Does one peer of a rule in policy namespace `ns` match endpoint e? */
function peerMatches(peer: PeerJson, ns: string, e: Endpoint): Tri {
  if (peer.ipBlock) {
    const ips = e.kind === 'pod' ? e.ips : e.kind === 'node' ? (e.ip ? [e.ip] : []) : [e.ip];
    if (!ips.length) return `${describe(e)} has no known IP to compare with ipBlock ${peer.ipBlock.cidr}`;
    const hits = ips.map((ip) => ipBlockContains(peer.ipBlock!, ip));
    if (hits.some((h) => h === undefined)) return `ipBlock ${peer.ipBlock.cidr} is malformed`;
    if (!hits.some(Boolean)) return false; // outside the block: no CNI matches it
    if (e.kind === 'ip' && e.scope === 'external') return true;
    // Inside the block, but whether ipBlock applies to in-cluster addresses is up to the CNI.
    return e.kind === 'pod' && !e.hostNetwork
      ? `ipBlock ${peer.ipBlock.cidr} contains pod IP ${ips.find((_, i) => hits[i])}; whether ipBlock matches pod IPs depends on the CNI (Calico yes, Cilium no)`
      : e.kind === 'ip' && e.scope === 'unknown'
        ? `ipBlock ${peer.ipBlock.cidr} contains ${e.ip}, which may be a pod IP (CNI-specific)`
        : `ipBlock ${peer.ipBlock.cidr} contains node/host address ${ips.find((_, i) => hits[i])}; whether ipBlock matches node IPs depends on the CNI`;
  }
  if (!peer.podSelector && !peer.namespaceSelector) return 'a peer with no selector and no ipBlock (invalid)';
  // Selectors match pods only.
  if (e.kind === 'node') return false;
  if (e.kind === 'ip')
    return e.scope === 'external'
      ? false
      : `${e.ip} is not a known pod (selectors match pods only; it may be one we do not know)`;
  let nsOk: Tri;
  if (!peer.namespaceSelector) nsOk = e.namespace === ns;
  else if (isEmptySelector(peer.namespaceSelector)) nsOk = true;
  else
    nsOk = e.namespaceLabels
      ? selectorMatches(peer.namespaceSelector, e.namespaceLabels)
      : `namespace ${e.namespace} is unknown (no labels to match the namespaceSelector)`;
  const m = and(nsOk, selectorMatches(peer.podSelector, e.labels));
  // Plugins differ on whether selectors see hostNetwork pods (usually not): a match is not knowable.
  if (e.hostNetwork && m !== false)
    return `${e.namespace}/${e.name} is a hostNetwork pod; whether selectors match it is CNI-specific`;
  return m;
}

function peersMatch(peers: readonly PeerJson[] | null | undefined, ns: string, e: Endpoint): Tri {
  if (!peers || peers.length === 0) return true; // missing or empty from/to: every peer, pods or not
  let r: Tri = false;
  for (const p of peers) {
    const m = peerMatches(p, ns, e);
    if (m === true) return true;
    if (typeof m === 'string' && r === false) r = m;
  }
  return r;
}

// ---- ports --------------------------------------------------------------------------------------

/** A named port resolved on the destination: the numbers a port name stands for there (for `why`). */
function namedPort(dst: Endpoint, name: string, protocol: Protocol): number[] | string {
  if (dst.kind === 'pod')
    return dst.containerPorts.filter((c) => c.name === name && (c.protocol ?? 'TCP') === protocol).map((c) => c.port);
  if (dst.kind === 'ip' && dst.scope !== 'external')
    return `named port "${name}" cannot be resolved: ${dst.ip} is not a known pod`;
  return []; // nodes and external IPs have no named ports
}

function portMatches(p: PortJson, protocol: Protocol, port: number, dst: Endpoint): Tri {
  if ((p.protocol ?? 'TCP') !== protocol) return false;
  if (p.port === undefined || p.port === null) return true;
  if (typeof p.port === 'number') return p.endPort != null ? p.port <= port && port <= p.endPort : p.port === port;
  // An int-or-string from YAML may be a numeric string; the API serves numbers as numbers.
  if (/^\d+$/.test(p.port)) return Number(p.port) === port;
  const nums = namedPort(dst, p.port, protocol);
  return typeof nums === 'string' ? nums : nums.includes(port);
}

function portsMatch(
  ports: readonly PortJson[] | null | undefined,
  protocol: Protocol,
  port: number,
  dst: Endpoint,
): Tri {
  if (!ports || ports.length === 0) return true; // all ports, all protocols
  let r: Tri = false;
  for (const p of ports) {
    const m = portMatches(p, protocol, port, dst);
    if (m === true) return true;
    if (typeof m === 'string' && r === false) r = m;
  }
  return r;
}

// ---- text for nearest misses --------------------------------------------------------------------

export function describe(e: Endpoint): string {
  return e.kind === 'pod' ? `${e.namespace}/${e.name}` : e.kind === 'node' ? `node ${e.name}` : e.ip;
}

function portText(p: PortJson, dst: Endpoint): string {
  const proto = p.protocol ?? 'TCP';
  if (p.port === undefined || p.port === null) return `all ${proto} ports`;
  if (typeof p.port === 'number') return p.endPort != null ? `${proto}/${p.port}-${p.endPort}` : `${proto}/${p.port}`;
  const nums = namedPort(dst, p.port, proto as Protocol);
  return `${proto}/${p.port} (${typeof nums === 'string' || !nums.length ? `no such port on ${describe(dst)}` : `= ${nums.join(', ')} on ${describe(dst)}`})`;
}

function selectorText(s: LabelSelectorJson | null | undefined): string {
  const parts = Object.entries(s?.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`);
  for (const e of s?.matchExpressions ?? [])
    parts.push(`${e.key} ${e.operator}${e.values?.length ? ` (${e.values.join(',')})` : ''}`);
  return parts.length ? parts.join(',') : '{}';
}

/** Why no peer of the rule matched e (the first peer's reason: rules rarely have many). */
function peerMissText(peers: readonly PeerJson[], ns: string, e: Endpoint): string {
  const p = peers[0];
  const more = peers.length > 1 ? ` (nor its ${peers.length - 1} other peer${peers.length > 2 ? 's' : ''})` : '';
  if (p.ipBlock) return `its ipBlock ${p.ipBlock.cidr} does not contain ${describe(e)}${more}`;
  if (e.kind !== 'pod') return `its selectors match pods only and ${describe(e)} is not one; add an ipBlock${more}`;
  if (!p.namespaceSelector && e.namespace !== ns)
    return `its podSelector ${selectorText(p.podSelector)} matches only pods in namespace ${ns}; ${describe(e)} is in ${e.namespace} (add a namespaceSelector to the same peer)${more}`;
  if (p.namespaceSelector && e.namespaceLabels && !selectorMatches(p.namespaceSelector, e.namespaceLabels))
    return `namespace ${e.namespace} does not match its namespaceSelector ${selectorText(p.namespaceSelector)}${more}`;
  return `${describe(e)} does not match its podSelector ${selectorText(p.podSelector)}${more}`;
}

function portMissText(ports: readonly PortJson[], protocol: Protocol, port: number, dst: Endpoint): string {
  return `allows ${ports.map((p) => portText(p, dst)).join(', ')}, not ${protocol}/${port}`;
}

// ---- one side -----------------------------------------------------------------------------------

const key = (p: NetworkPolicyJson) => `${p.metadata.namespace}/${p.metadata.name}`;

/** One direction for one subject: the source's egress (peer = dst) or the destination's ingress (peer = src). */
export function evaluateSide(
  direction: Direction,
  subject: Endpoint,
  peer: Endpoint,
  protocol: Protocol,
  port: number,
  policies: readonly NetworkPolicyJson[],
  dst: Endpoint,
): SideResult {
  const base = { direction, isolatedBy: [] as string[] };
  if (subject.kind === 'node')
    return {
      ...base,
      verdict: 'not-isolated',
      reason: `${describe(subject)} is not a pod: NetworkPolicy does not apply to node traffic`,
    };
  if (subject.kind === 'ip') {
    return subject.scope === 'external'
      ? {
          ...base,
          verdict: 'not-isolated',
          reason: `${subject.ip} is outside the cluster: no NetworkPolicy applies to its ${direction}`,
        }
      : {
          ...base,
          verdict: 'undecidable',
          reason:
            subject.scope === 'service'
              ? `${subject.ip} is a Service IP seen before DNAT; policy applies to the backend pod`
              : `${subject.ip} is not a known pod or node`,
        };
  }
  const pod = { namespace: subject.namespace, name: subject.name };
  if (subject.hostNetwork)
    return {
      ...base,
      pod,
      verdict: 'undecidable',
      reason: `${describe(subject)} is a hostNetwork pod: NetworkPolicy behaviour for it is undefined (most CNIs treat it as node traffic)`,
    };
  const applicable: NetworkPolicyJson[] = [];
  for (const p of policies)
    if (
      p.metadata.namespace === subject.namespace &&
      effectivePolicyTypes(p).includes(direction) &&
      selectorMatches(p.spec.podSelector, subject.labels)
    )
      applicable.push(p);
  // Sorted by name so "allowed by" and the nearest miss do not depend on the caller's order.
  for (let i = 1; i < applicable.length; i++)
    if (applicable[i - 1].metadata.name > applicable[i].metadata.name) {
      applicable.sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : 1));
      break;
    }
  const isolatedBy = applicable.map(key);
  if (!applicable.length) return { ...base, pod, verdict: 'not-isolated' };
  if (peer.kind === 'pod' && peer.namespace === subject.namespace && peer.name === subject.name)
    return {
      ...base,
      pod,
      isolatedBy,
      verdict: 'allows',
      reason: 'a pod cannot block traffic to itself (NetworkPolicy spec)',
    };
  // The spec always admits ingress from the pod's own node (kubelet probes); CNIs differ, so say so.
  if (direction === 'ingress' && peer.kind === 'node' && subject.node && peer.name === subject.node)
    return {
      ...base,
      pod,
      isolatedBy,
      verdict: 'allows',
      reason: `traffic from the pod's own node (${peer.name}) is always allowed by the NetworkPolicy spec; a drop here is the CNI's own behaviour`,
    };
  if (peer.kind === 'ip' && peer.scope === 'service' && direction === 'egress')
    return {
      ...base,
      pod,
      isolatedBy,
      verdict: 'undecidable',
      reason: `${peer.ip} is a Service IP seen before DNAT; egress rules apply to the backend pod and its port`,
    };
  let undecided: string | undefined;
  let peerMiss: NearestMiss | undefined, portMiss: NearestMiss | undefined;
  for (const p of applicable) {
    const rules: readonly (IngressRuleJson & EgressRuleJson)[] =
      (direction === 'egress' ? p.spec.egress : p.spec.ingress) ?? [];
    for (let i = 0; i < rules.length; i++) {
      const r = rules[i];
      const peers = direction === 'egress' ? r.to : r.from;
      const pm = peersMatch(peers, p.metadata.namespace, peer);
      const qm = portsMatch(r.ports, protocol, port, dst);
      const m = and(pm, qm);
      if (m === true) return { ...base, pod, isolatedBy, verdict: 'allows', allowedBy: { policy: key(p), rule: i } };
      if (typeof m === 'string') undecided ??= m;
      else if (pm === true && qm === false)
        peerMiss ??= {
          policy: key(p),
          rule: i,
          why: `rule ${i} of ${key(p)} ${portMissText(r.ports!, protocol, port, dst)}`,
        };
      else if (qm === true && pm === false)
        portMiss ??= {
          policy: key(p),
          rule: i,
          why: `rule ${i} of ${key(p)} allows ${protocol}/${port} but ${peerMissText(peers!, p.metadata.namespace, peer)}`,
        };
    }
  }
  const nearestMiss = peerMiss ?? portMiss;
  // Egress to the pod's own node: the concept docs say traffic to and from the node is always
  // allowed, the API reference says so only for ingress, and CNIs differ.
  if (!undecided && direction === 'egress' && peer.kind === 'node' && subject.node && peer.name === subject.node)
    undecided = `the destination is the pod's own node (${peer.name}); whether NetworkPolicy egress applies to it is CNI-specific`;
  if (undecided)
    return {
      ...base,
      pod,
      isolatedBy,
      verdict: 'undecidable',
      reason: undecided,
      ...(nearestMiss ? { nearestMiss } : {}),
    };
  // An ingress source that shows as a node may be a pod or client masqueraded (SNAT) to the node IP:
  // the policy judged the node address, which is what we did too, but the real client is hidden.
  const snat =
    direction === 'ingress' && peer.kind === 'node'
      ? {
          reason: `the source shows as ${describe(peer)}; if it was SNATed (externalTrafficPolicy: Cluster, masquerade) the real client is hidden`,
        }
      : {};
  return { ...base, pod, isolatedBy, verdict: 'denies', ...(nearestMiss ? { nearestMiss } : {}), ...snat };
}

/** Both sides, egress first (the packet meets it first). */
export function evaluateFlow(f: FlowInput): FlowResult {
  const egress = evaluateSide('egress', f.src, f.dst, f.protocol, f.port, f.policies, f.dst);
  const ingress = evaluateSide('ingress', f.dst, f.src, f.protocol, f.port, f.policies, f.dst);
  const sides: [SideResult, SideResult] = [egress, ingress];
  const verdict: FlowVerdict = sides.some((s) => s.verdict === 'denies')
    ? 'denied'
    : sides.some((s) => s.verdict === 'undecidable')
      ? 'undecidable'
      : 'allowed';
  return { verdict, sides };
}
