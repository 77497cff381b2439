// DNSBlocked (pod, warning): a pod's drops towards the cluster DNS endpoints (pods labelled
// k8s-app=kube-dns, as the kube-dns Service selects them) on 53/UDP or 53/TCP. The first such drop
// raises it on the source pod with the NetworkPolicy explanation in message and evidence; it clears
// once no such drop was seen for clearAfterMs. Warning, not critical: the node is fine (a critical
// finding would mark it unhealthy in `nodewarden nodes`), the pod's policy is not.
//
// One finding per source pod, kept on the node that first reported it, so replicas and repeats
// converge. Its message changes only with the explanation (a policy edit): that is news worth an
// Event; fresher counts are not.
import type { Finding } from '../../proto/codec.js';
import type { EnvelopeListener } from '../collector.js';
import type { Stores } from '../ingest/apply.js';
import type { PodOwner, Resolver } from '../resolve/resolver.js';
import type { JobGuard } from '../../common/guard.js';
import type { DropExplainer } from './flows.js';

export const DNS_BLOCKED = 'DNSBlocked';
const DNS_LABEL = 'k8s-app', DNS_VALUE = 'kube-dns';

export interface DnsBlockedOptions {
  /** Cleared after this long without a drop towards DNS (default 5 min). */
  clearAfterMs?: number;
  /** How often clears are checked; 0 = never (call tick()). Default 30 s. */
  tickMs?: number;
  now?: () => number;
  /** Called for every finding written to the store; notify = a raise, a clear, or a new explanation. */
  onFinding?: (node: string, finding: Finding, notify: boolean) => void;
  guard?: JobGuard;
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
}

const podName = (p: PodOwner) => `${p.namespace}/${p.name}`;
const isDnsPod = (o: ReturnType<Resolver['resolve']>): o is PodOwner => o?.kind === 'pod' && o.meta?.labels[DNS_LABEL] === DNS_VALUE;

function message(b: Blocked): string {
  const what = `DNS from ${podName(b.src)} to ${podName(b.dns)} (${b.dnsIp}) on 53/${b.proto} is dropped`;
  return b.explanation ? `${what}. ${b.explanation.summary}` : `${what}; no NetworkPolicy explanation (the collector has no cluster, or its policy caches are not synced yet).`;
}

function finding(b: Blocked, active: boolean): Finding {
  const evidence: Record<string, string> = {
    dnsPod: podName(b.dns), dnsIp: b.dnsIp, port: `53/${b.proto}`, drops: String(b.drops), lastDrop: new Date(b.lastMs).toISOString(),
  };
  if (b.explanation) { evidence.verdict = b.explanation.verdict; evidence.explanation = b.explanation.summary; }
  return {
    kind: DNS_BLOCKED, severity: 'warning', active,
    message: active ? b.message : `DNS from ${podName(b.src)} is no longer dropped (none seen for a while; last ${new Date(b.lastMs).toISOString()})`,
    key: b.src.uid || podName(b.src),
    pod: { namespace: b.src.namespace, name: b.src.name, uid: b.src.uid },
    evidence, firstSeenMs: b.firstMs, lastSeenMs: b.lastMs,
  };
}

export interface DnsBlockedCheck {
  listener: EnvelopeListener;
  tick(nowMs?: number): void;
  stop(): void;
}

/** resolver: the pod source with labels (the PodWatch); explain: undefined without a cluster. */
export function dnsBlockedCheck(resolver: Resolver, explain: DropExplainer | undefined, opts: DnsBlockedOptions = {}): DnsBlockedCheck {
  const now = opts.now ?? Date.now;
  const clearAfterMs = opts.clearAfterMs ?? 5 * 60_000;
  const active = new Map<string, Blocked>();
  let stores: Stores | undefined;

  const write = (b: Blocked, isActive: boolean, notify: boolean, atMs: number): void => {
    const f = finding(b, isActive);
    const changed = stores!.findings.apply(b.node, f, atMs);
    opts.onFinding?.(b.node, f, changed || notify);
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
        node: prev?.node ?? env.node, src, dns: dst, dnsIp: d.dst as string, proto,
        drops: (prev?.drops ?? 0) + (Number(d.count) || 1), firstMs: prev?.firstMs ?? (Number(d.firstSeenMs) || last), lastMs: Math.max(prev?.lastMs ?? 0, last),
        message: '', explanation: e ? { verdict: e.verdict, summary: e.summary } : prev?.explanation,
      };
      b.message = message(b);
      active.set(key, b);
      write(b, true, !prev || prev.message !== b.message, last);
    }
  };

  const tick = (nowMs = now()): void => {
    for (const [key, b] of active) {
      if (nowMs - b.lastMs <= clearAfterMs) continue;
      active.delete(key);
      write(b, false, true, nowMs);
    }
  };

  const tickMs = opts.tickMs ?? 30_000;
  const timed = opts.guard ? opts.guard.wrap('dns-blocked', () => tick()) : () => tick();
  const timer = tickMs > 0 ? setInterval(timed, tickMs) : undefined;
  timer?.unref();
  return { listener, tick, stop: () => clearInterval(timer) };
}
