// Pure formatting shared by the views: relative times, recency classes, endpoint names.
import type { Endpoint, Flow } from '../../store/drops.js';

/** "4s ago", "12m ago", "3h ago", "2d ago": how kubectl users read LAST SEEN. */
export function ago(iso: string, nowMs: number): string {
  const s = Math.max(0, Math.round((nowMs - Date.parse(iso)) / 1000));
  if (!Number.isFinite(s)) return 'unknown';
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86_400)}d ago`;
}

export type Recency = 'now' | 'recent' | 'old';

/** The edge colour class: a drop within the last minute, within 15 minutes, or older. */
export function recency(lastSeenMs: number, nowMs: number): Recency {
  const age = nowMs - lastSeenMs;
  return age < 60_000 ? 'now' : age < 15 * 60_000 ? 'recent' : 'old';
}

export const RECENCY_LABEL: Record<Recency, string> = {
  now: 'within the last minute',
  recent: 'within 15 minutes',
  old: 'more than 15 minutes ago',
};

/** "shop/web-0", "node lab-node", or the bare IP. */
export function endpointName(e: Endpoint): string {
  if (e.pod) return `${e.pod.namespace}/${e.pod.name}`;
  if (e.node) return `node ${e.node}`;
  return e.ip;
}

/** "TCP/12865", "ICMP type 8", "UDP". */
export function portLabel(f: Flow): string {
  if (f.dst.port !== undefined) return `${f.proto}/${f.dst.port}`;
  if (f.icmpType !== undefined) return `${f.proto} type ${f.icmpType}`;
  return f.proto;
}

/** The flow's identity, the same fields the collector's flow store keys on. */
export const flowKey = (f: Flow): string =>
  [f.node, f.prefix, f.src.ip, f.dst.ip, f.proto, f.dst.port ?? '', f.icmpType ?? '', f.in ?? '', f.out ?? ''].join(
    '|',
  );
