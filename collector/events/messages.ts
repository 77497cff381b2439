// Pure: what an Event says and what it is called (docs/architecture.md#events, contract).
import { createHash } from 'node:crypto';
import type { Owner, PodOwner } from '../resolve/resolver.js';

export const COMPONENT = 'nodewarden';
export const DROP_REASON = 'PacketDrop';
/** Strict Event validation caps messages at 1024 characters; stay within it. */
export const MAX_MESSAGE = 1024;

/** The object an Event is about. Pods: namespace is the pod's; Nodes are cluster-scoped. */
export interface EventObject {
  kind: 'Pod' | 'Node';
  namespace?: string;
  name: string;
  /** Pods always have it; for Nodes the writer looks it up (GET node) before writing. */
  uid?: string;
}

/** One thing to count on an Event: (object, reason, message) + how many + when. */
export interface Observation {
  object: EventObject;
  type: 'Warning' | 'Normal';
  reason: string;
  message: string;
  /** source.host: the node whose agent saw it. */
  host: string;
  count: number;
  firstMs: number;
  lastMs: number;
  /** The stream sequence of the message it came from (redeliveries are recognised by it). */
  seq?: number;
}

/** `<ns>/<pod> (<ip>)`, `node/<name> (<ip>)`, or the bare IP. */
export function peerText(ip: string, owner: Owner | undefined): string {
  if (owner?.kind === 'pod') return `${owner.namespace}/${owner.name} (${ip})`;
  if (owner?.kind === 'node') return `node/${owner.name} (${ip})`;
  return ip;
}

/** ` on port 5432/TCP`, or ` on ICMP` (no port). */
function portPart(proto: string, dstPort: number | null | undefined): string {
  const p = (proto || 'IP').toUpperCase();
  if (dstPort === null || dstPort === undefined || /^ICMP/.test(p)) return ` on ${p}`;
  return ` on port ${dstPort}/${p}`;
}

export function sendingMessage(peer: string, proto: string, dstPort?: number | null): string {
  return `Packet dropped when sending traffic to ${peer}${portPart(proto, dstPort)}`;
}

export function receivingMessage(peer: string, proto: string, dstPort?: number | null): string {
  return `Packet dropped when receiving traffic from ${peer}${portPart(proto, dstPort)}`;
}

export interface DropFacts {
  src: string;
  dst: string;
  proto: string;
  dstPort?: number | null;
  count: number;
  firstSeenMs: number;
  lastSeenMs: number;
}

const podObject = (o: PodOwner): EventObject | undefined =>
  o.uid ? { kind: 'Pod', namespace: o.namespace, name: o.name, uid: o.uid } : undefined;

/** `<message>. <why>` within MAX_MESSAGE: the drop itself always survives, the explanation is cut. */
export function withReason(message: string, why: string | undefined): string {
  return why ? clampMessage(`${message}. ${why}`) : message;
}

/**
 * A drop -> up to two observations: a sending one on the source pod and a receiving one on the
 * destination pod. Host IPs and unknown IPs get no Event (they only appear as peers). `why` (the
 * NetworkPolicy summary of a denied flow) is appended to both.
 */
export function dropObservations(
  d: DropFacts,
  src: Owner | undefined,
  dst: Owner | undefined,
  host: string,
  why?: string,
): Observation[] {
  const out: Observation[] = [];
  const base = {
    type: 'Warning' as const,
    reason: DROP_REASON,
    host,
    count: d.count,
    firstMs: d.firstSeenMs,
    lastMs: d.lastSeenMs,
  };
  const so = src?.kind === 'pod' ? podObject(src) : undefined;
  if (so)
    out.push({
      ...base,
      object: so,
      message: withReason(sendingMessage(peerText(d.dst, dst), d.proto, d.dstPort), why),
    });
  const doo = dst?.kind === 'pod' ? podObject(dst) : undefined;
  // A pod dropping its own traffic (hairpin) is one object with two different messages: both stay.
  if (doo)
    out.push({
      ...base,
      object: doo,
      message: withReason(receivingMessage(peerText(d.src, src), d.proto, d.dstPort), why),
    });
  return out;
}

export function clampMessage(m: string): string {
  return m.length <= MAX_MESSAGE ? m : `${m.slice(0, MAX_MESSAGE - 1)}…`;
}

/**
 * Deterministic Event name from (object uid, reason, message): `<object>.<16 hex>`, a valid DNS
 * subdomain of at most 253 characters. Two replicas writing the same thing pick the same name.
 */
export function eventName(objectName: string, uid: string, reason: string, message: string): string {
  const h = createHash('sha256').update(`${uid}\u0000${reason}\u0000${message}`).digest('hex').slice(0, 16);
  let base = objectName
    .toLowerCase()
    .replace(/[^a-z0-9.-]/g, '-')
    .slice(0, 253 - 17);
  base = base.replace(/[^a-z0-9]+$/, '').replace(/^[^a-z0-9]+/, '');
  return base ? `${base}.${h}` : h;
}

/** The key under which repeats are counted together: object identity + reason + message. */
export function observationKey(o: Pick<Observation, 'object' | 'reason' | 'message' | 'type'>): string {
  const ob = o.object;
  // join, not a template: long-lived map keys made by templates stay trees of cons strings.
  return [ob.kind, ob.namespace, ob.name, ob.uid, o.type, o.reason, o.message].join('\u0000');
}

export function objectKey(ob: EventObject): string {
  return [ob.kind, ob.namespace, ob.name, ob.uid].join('\u0000');
}

/** Namespace the Event lives in: the pod's, or `default` for cluster-scoped objects (as client-go does). */
export function eventNamespace(ob: EventObject): string {
  return ob.kind === 'Pod' ? ob.namespace! : 'default';
}

/** ISO-8601 to the second, as metav1.Time serialises. */
export function k8sTime(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** The core/v1 Event body for a first write. */
export function eventBody(
  name: string,
  ob: EventObject & { uid: string },
  o: Pick<Observation, 'type' | 'reason' | 'message' | 'host'>,
  count: number,
  firstMs: number,
  lastMs: number,
): Record<string, unknown> {
  const involvedObject: Record<string, string> = { apiVersion: 'v1', kind: ob.kind, name: ob.name, uid: ob.uid };
  if (ob.kind === 'Pod') involvedObject.namespace = ob.namespace!;
  return {
    apiVersion: 'v1',
    kind: 'Event',
    metadata: { name, namespace: eventNamespace(ob), labels: { 'app.kubernetes.io/managed-by': COMPONENT } },
    involvedObject,
    type: o.type,
    reason: o.reason,
    message: clampMessage(o.message),
    source: { component: COMPONENT, host: o.host },
    reportingComponent: COMPONENT,
    reportingInstance: o.host,
    count,
    firstTimestamp: k8sTime(firstMs),
    lastTimestamp: k8sTime(lastMs),
  };
}

/** Node/pod findings -> an observation. Normal for info severity and for cleared findings. */
export interface FindingFacts {
  kind: string;
  severity: string;
  active: boolean;
  message: string;
  firstSeenMs?: number;
  lastSeenMs?: number;
}

export function findingObservation(
  f: FindingFacts,
  object: EventObject,
  host: string,
  nowMs: number,
): Observation | undefined {
  if (!/^[A-Za-z][A-Za-z0-9]{0,127}$/.test(f.kind) || !f.message) return undefined;
  const at = f.lastSeenMs || nowMs;
  return {
    object,
    type: f.severity === 'info' || !f.active ? 'Normal' : 'Warning',
    reason: f.kind,
    message: clampMessage(f.message),
    host,
    count: 1,
    firstMs: f.firstSeenMs || at,
    lastMs: at,
  };
}
