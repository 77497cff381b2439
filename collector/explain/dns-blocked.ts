// DNSBlocked (pod, warning): a pod's drops towards the cluster DNS endpoints (pods labelled
// k8s-app=kube-dns, as the kube-dns Service selects them) on 53/UDP or 53/TCP. The first such drop
// raises it on the source pod with the NetworkPolicy explanation in message and evidence; it clears
// once no such drop was seen for clearAfterMs. Warning, not critical: the node is fine (a critical
// finding would mark it unhealthy in `nodewarden nodes`), the pod's policy is not.
//
// One finding per source pod, kept on the node that first reported it, so replicas and repeats
// converge. Its message changes only with the explanation (a policy edit): that is news worth an
// Event; fresher counts are not.
//
// Cluster-wide: when at least `clusterPods` (10) source pods in at least 2 namespaces are blocked at
// once (a broken CoreDNS, a cluster-wide policy change), one more DNSBlocked with key `cluster` is
// raised, naming the namespaces. Findings are per node, so it lives on the node of the DNS pod the
// drops went to (the pod that drew the most blocked sources when it was raised) and is attributed to
// that DNS pod: its Event lands in `kubectl describe pod coredns-…` and `nodewarden findings --kind
// DNSBlocked` lists it next to the per-pod ones. While it is active the per-pod findings are still
// kept in the store (the API answers them) but raise no further Events: the first pods (those
// blocked before the threshold was reached) got theirs, the rest are summed up by the cluster one,
// so 500 blocked pods make ~10 Events, not 500. Clears of pods that never had an Event get none.
// The cluster finding is news (an Event) when raised, cleared, or when its namespaces change; its
// message names the threshold, not the pod count (that is in evidence.pods), so the Event and the
// API say the same thing while the count moves.
import type { Finding } from '../../proto/codec.js';
import type { EnvelopeListener } from '../collector.js';
import type { Stores } from '../ingest/apply.js';
import type { PodOwner, Resolver } from '../resolve/resolver.js';
import type { JobGuard } from '../../common/guard.js';
import type { DropExplainer } from './flows.js';

export const DNS_BLOCKED = 'DNSBlocked';
const DNS_LABEL = 'k8s-app',
  DNS_VALUE = 'kube-dns';

export interface DnsBlockedOptions {
  /** Cleared after this long without a drop towards DNS (default 5 min). */
  clearAfterMs?: number;
  /** How often clears are checked; 0 = never (call tick()). Default 30 s. */
  tickMs?: number;
  now?: () => number;
  /** Called for every finding written to the store; notify = a raise, a clear, or a new explanation. */
  onFinding?: (node: string, finding: Finding, notify: boolean) => void;
  guard?: JobGuard;
  /** Blocked source pods (in ≥ 2 namespaces) that raise the cluster-level finding. Default 10. */
  clusterPods?: number;
}

interface Blocked {
  node: string;
  src: PodOwner;
  dns: PodOwner;
  dnsIp: string;
  proto: string;
  drops: number;
  firstMs: number;
  lastMs: number;
  message: string;
  explanation?: { verdict: string; summary: string };
  /** Its raise was sent on as news (an Event); a suppressed one's clear is not either. */
  notified: boolean;
}

export const CLUSTER_KEY = 'cluster';
interface ClusterBlocked {
  node: string;
  dns: PodOwner;
  namespaces: string[];
  pods: number;
  firstMs: number;
  lastMs: number;
}

const podName = (p: PodOwner) => `${p.namespace}/${p.name}`;

/** The DNS pod (and its node) most blocked sources were dropped towards. */
function busiestDns(list: readonly Blocked[]): { node: string; dns: PodOwner } {
  const n = new Map<string, { dns: PodOwner; count: number }>();
  for (const b of list) {
    const k = podName(b.dns);
    const x = n.get(k) ?? { dns: b.dns, count: 0 };
    x.count++;
    n.set(k, x);
  }
  const best = [...n.values()].sort((a, b) => b.count - a.count || (podName(a.dns) < podName(b.dns) ? -1 : 1))[0];
  // a DNS pod has a node as soon as it runs; the drop's reporting node is the fallback
  return { node: best.dns.node ?? list[0].node, dns: best.dns };
}
const isDnsPod = (o: ReturnType<Resolver['resolve']>): o is PodOwner =>
  o?.kind === 'pod' && o.meta?.labels[DNS_LABEL] === DNS_VALUE;

function message(b: Blocked): string {
  const what = `DNS from ${podName(b.src)} to ${podName(b.dns)} (${b.dnsIp}) on 53/${b.proto} is dropped`;
  return b.explanation
    ? `${what}. ${b.explanation.summary}`
    : `${what}; no NetworkPolicy explanation (the collector has no cluster, or its policy caches are not synced yet).`;
}

function finding(b: Blocked, active: boolean): Finding {
  const evidence: Record<string, string> = {
    dnsPod: podName(b.dns),
    dnsIp: b.dnsIp,
    port: `53/${b.proto}`,
    drops: String(b.drops),
    lastDrop: new Date(b.lastMs).toISOString(),
  };
  if (b.explanation) {
    evidence.verdict = b.explanation.verdict;
    evidence.explanation = b.explanation.summary;
  }
  return {
    kind: DNS_BLOCKED,
    severity: 'warning',
    active,
    message: active
      ? b.message
      : `DNS from ${podName(b.src)} is no longer dropped (none seen for a while; last ${new Date(b.lastMs).toISOString()})`,
    key: b.src.uid || podName(b.src),
    pod: { namespace: b.src.namespace, name: b.src.name, uid: b.src.uid },
    evidence,
    firstSeenMs: b.firstMs,
    lastSeenMs: b.lastMs,
  };
}

const nsList = (ns: readonly string[]) =>
  ns.length <= 20 ? ns.join(', ') : `${ns.slice(0, 20).join(', ')} and ${ns.length - 20} more`;

function clusterFinding(c: ClusterBlocked, active: boolean, threshold: number): Finding {
  return {
    kind: DNS_BLOCKED,
    severity: 'warning',
    active,
    message: active
      ? `DNS is dropped for ${threshold} or more pods in ${c.namespaces.length} namespaces (${nsList(c.namespaces)}) towards ${podName(c.dns)} and other DNS pods; each pod has its own DNSBlocked finding with the NetworkPolicy explanation`
      : `DNS drops from many namespaces have stopped (fewer than ${threshold} pods in 2 or more namespaces blocked)`,
    key: CLUSTER_KEY,
    pod: { namespace: c.dns.namespace, name: c.dns.name, uid: c.dns.uid },
    evidence: {
      scope: CLUSTER_KEY,
      namespaces: c.namespaces.join(','),
      pods: String(c.pods),
      dnsPod: podName(c.dns),
      threshold: String(threshold),
    },
    firstSeenMs: c.firstMs,
    lastSeenMs: c.lastMs,
  };
}

export interface DnsBlockedCheck {
  listener: EnvelopeListener;
  tick(nowMs?: number): void;
  stop(): void;
}

/** resolver: the pod source with labels (the PodWatch); explain: undefined without a cluster. */
export function dnsBlockedCheck(
  resolver: Resolver,
  explain: DropExplainer | undefined,
  opts: DnsBlockedOptions = {},
): DnsBlockedCheck {
  const now = opts.now ?? Date.now;
  const clearAfterMs = opts.clearAfterMs ?? 5 * 60_000;
  const threshold = opts.clusterPods ?? 10;
  const active = new Map<string, Blocked>();
  let stores: Stores | undefined;
  let cluster: ClusterBlocked | undefined;

  /** quiet: never news (a pod the cluster-level finding speaks for), even when the store changed. */
  const put = (node: string, f: Finding, notify: boolean, atMs: number, quiet = false): void => {
    const changed = stores!.findings.apply(node, f, atMs);
    opts.onFinding?.(node, f, !quiet && (changed || notify));
  };
  const write = (b: Blocked, isActive: boolean, notify: boolean, atMs: number): void =>
    put(b.node, finding(b, isActive), notify, atMs, !b.notified);

  /** Raises, refreshes or clears the cluster-level finding from the active per-pod ones. */
  const updateCluster = (atMs: number): void => {
    const namespaces = [...new Set([...active.values()].map((b) => b.src.namespace))].sort();
    if (active.size >= threshold && namespaces.length >= 2) {
      const prev = cluster;
      const lastMs = Math.max(...[...active.values()].map((b) => b.lastMs));
      // the home is fixed while it is active: moving it would leave a stale twin on the old node
      const home = prev ?? busiestDns([...active.values()]);
      cluster = {
        node: home.node,
        dns: home.dns,
        namespaces,
        pods: active.size,
        firstMs: prev?.firstMs ?? atMs,
        lastMs,
      };
      if (!prev || prev.pods !== cluster.pods || prev.namespaces.join() !== namespaces.join())
        put(
          cluster.node,
          clusterFinding(cluster, true, threshold),
          !prev || prev.namespaces.join() !== namespaces.join(),
          atMs,
        );
    } else if (cluster) {
      put(cluster.node, clusterFinding({ ...cluster, lastMs: atMs }, false, threshold), true, atMs);
      cluster = undefined;
    }
  };

  const listener: EnvelopeListener = (env, applied, s) => {
    stores = s;
    if (env.body !== 'drops' || applied.kind === 'duplicate') return;
    const nowMs = now();
    for (const d of env.msg.drops?.drops ?? []) {
      const proto = String(d.proto ?? '').toUpperCase();
      if (d.dstPort !== 53 || (proto !== 'UDP' && proto !== 'TCP')) continue;
      const last = Number(d.lastSeenMs) || nowMs;
      // a replayed drop older than the clear window would be raised only to be cleared again
      if (nowMs - last > clearAfterMs) continue;
      const dst = resolver.resolve(d.dst as string, last);
      const src = resolver.resolve(d.src as string, last);
      if (!isDnsPod(dst) || src?.kind !== 'pod') continue;
      const e = explain?.(d.src as string, d.dst as string, proto, 53, last);
      const key = src.uid || podName(src);
      const prev = active.get(key);
      const b: Blocked = {
        node: prev?.node ?? env.node,
        src,
        dns: dst,
        dnsIp: d.dst as string,
        proto,
        drops: (prev?.drops ?? 0) + (Number(d.count) || 1),
        firstMs: prev?.firstMs ?? (Number(d.firstSeenMs) || last),
        lastMs: Math.max(prev?.lastMs ?? 0, last),
        message: '',
        explanation: e ? { verdict: e.verdict, summary: e.summary } : prev?.explanation,
        notified: prev?.notified ?? false,
      };
      b.message = message(b);
      active.set(key, b);
      // only a new pod can change the pod count or the namespaces (counted once per pod, not per drop)
      if (!prev) updateCluster(last);
      // news about one pod is an Event only while no cluster-level finding speaks for it (see above)
      const news = !prev || prev.message !== b.message;
      if (news && !cluster) b.notified = true;
      write(b, true, news && !cluster, last);
    }
  };

  const tick = (nowMs = now()): void => {
    for (const [key, b] of active) {
      if (nowMs - b.lastMs <= clearAfterMs) continue;
      active.delete(key);
      write(b, false, b.notified, nowMs);
    }
    updateCluster(nowMs);
  };

  const tickMs = opts.tickMs ?? 30_000;
  const timed = opts.guard ? opts.guard.wrap('dns-blocked', () => tick()) : () => tick();
  const timer = tickMs > 0 ? setInterval(timed, tickMs) : undefined;
  timer?.unref();
  return { listener, tick, stop: () => clearInterval(timer) };
}
