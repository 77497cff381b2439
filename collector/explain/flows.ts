// Explanations where the collector shows drops: on each flow of GET /api/v1/drops (computed at
// query time from the policy cache, never per packet) and as the tail of PacketDrop Event messages.
// One rule for both, so the API and the Events never disagree about which drops get one:
//  - only TCP/UDP/SCTP with a destination port (NetworkPolicy defines nothing else: ICMP and
//    fragments get none);
//  - only once the NetworkPolicy and Namespace caches are synced (before that an answer would be
//    confidently wrong; /readyz is 503 meanwhile);
//  - without a cluster (--pods-file, or no pod source) no policies are known: none at all.
import { BadRequest, NotFound } from '../api/query.js';
import type { RouteHandler } from '../api/server.js';
import type { ExplainExtension, Explanation } from './index.js';

const PROTOCOLS = new Set(['TCP', 'UDP', 'SCTP']);

/** The explanation of one dropped flow, or undefined when it has none (see above). */
export type DropExplainer = (
  src: string,
  dst: string,
  proto: string,
  dstPort: number | null | undefined,
  atMs: number,
) => Explanation | undefined;

export function dropExplainer(ex: ExplainExtension): DropExplainer {
  return (src, dst, proto, dstPort, atMs) => {
    if (dstPort === null || dstPort === undefined || !PROTOCOLS.has(proto.toUpperCase()) || !ex.ready())
      return undefined;
    try {
      return ex.explain(src, dst, proto, dstPort, atMs);
    } catch (err) {
      // e.g. port 0 in a malformed-but-accepted record: that flow just has no explanation
      if (err instanceof BadRequest || err instanceof NotFound) return undefined;
      throw err;
    }
  };
}

/**
 * What a PacketDrop Event message gets appended: the summary of a denied verdict only. The summary
 * is a pure function of the policy state and the two pods, so repeats under the same policies keep
 * the same message (one Event per (pod, reason, message)); a policy edit starts a new Event, which
 * is right: the cause changed.
 */
export function deniedSummary(e: Explanation | undefined): string | undefined {
  return e?.verdict === 'denied' ? e.summary : undefined;
}

/** GET /api/v1/explain on a collector without a cluster: a clear 404 instead of "no such path". */
export const noClusterExplainRoutes: Record<string, RouteHandler> = {
  '/api/v1/explain': () => {
    throw new NotFound(
      'explanations need a cluster (--kubeconfig or in-cluster config): without one no NetworkPolicies are known',
    );
  },
};
