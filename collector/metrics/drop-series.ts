// Labels of nodewarden_packet_drops_total: pure folding of a flow's peers into a bounded set
// (docs/architecture.md, Metrics). Pod names never become labels; namespaces, nodes and protocols do.
import { BlockList } from 'node:net';
import type { Owner } from '../resolve/resolver.js';

/** Where an address is "inside" a cluster: RFC 1918, CGNAT (some CNIs), link-local, ULA. */
const internal = new BlockList();
for (const [net, bits] of [
  ['10.0.0.0', 8],
  ['172.16.0.0', 12],
  ['192.168.0.0', 16],
  ['100.64.0.0', 10],
  ['169.254.0.0', 16],
  ['127.0.0.0', 8],
] as const)
  internal.addSubnet(net, bits, 'ipv4');
for (const [net, bits] of [
  ['fc00::', 7],
  ['fe80::', 10],
  ['::1', 128],
] as const)
  internal.addSubnet(net, bits, 'ipv6');

export const OTHER = '_other_';

/**
 * A peer's namespace label: the pod's namespace; `node` for a node IP (and host-network pods, which
 * use it); `unknown` for an unnamed address in a private range (a pod the cache does not know yet,
 * or one long gone); `external` for any other address (the internet, a cloud endpoint).
 */
export function peerNamespace(owner: Owner | undefined, ip: string): string {
  if (owner?.kind === 'pod') return owner.namespace;
  if (owner?.kind === 'node') return 'node';
  let family: 'ipv4' | 'ipv6' | undefined;
  if (/^\d+\.\d+\.\d+\.\d+$/.test(ip)) family = 'ipv4';
  else if (ip.includes(':')) family = 'ipv6';
  if (!family) return 'unknown';
  try {
    return internal.check(ip, family) ? 'unknown' : 'external';
  } catch {
    return 'unknown';
  }
}

export interface DropLabels {
  src_namespace: string;
  dst_namespace: string;
  proto: string;
  node: string;
}

/** Where label sets past the cap are counted (registered at start, so it never starts late). */
export const OTHER_LABELS: DropLabels = Object.freeze({
  src_namespace: OTHER,
  dst_namespace: OTHER,
  proto: OTHER,
  node: OTHER,
});

export const seriesKey = (l: DropLabels): string => `${l.src_namespace}\t${l.dst_namespace}\t${l.proto}\t${l.node}`;

/**
 * Caps the distinct label sets: the first `max` are kept for the process's life (a counter series
 * must not disappear), later new ones are counted under one all-`_other_` set so sums stay right.
 */
export class SeriesCap {
  private readonly seen = new Set<string>();
  constructor(private readonly max: number) {}

  /** fresh: the label set is new (admitted just now). */
  admit(l: DropLabels): { labels: DropLabels; folded: boolean; fresh: boolean } {
    const key = seriesKey(l);
    if (this.seen.has(key)) return { labels: l, folded: false, fresh: false };
    if (this.seen.size < this.max) {
      this.seen.add(key);
      return { labels: l, folded: false, fresh: true };
    }
    return { labels: OTHER_LABELS, folded: true, fresh: false };
  }
}
