// Pure: a decoded protobuf Envelope -> the same message with every field checked and normalised, or
// the reason it is refused. The collector trusts nothing an agent sends (a node may be compromised,
// a message forged): after this step no field can make a later step throw, lie or grow without
// bound. The rules are listed in README ("Trust model"); the numbers live in LIMITS.
import type { nodewarden } from './gen/nodewarden.js';
import { canonicalIp } from '../common/ip.js';

type Env = nodewarden.v1.Envelope;

const DAY_MS = 86_400_000;

export const LIMITS = {
  /** NATS' default max_payload: a larger message was never sent by an agent. */
  envelopeBytes: 1024 * 1024,
  /** Event times (drop first/last seen, finding times, sent_ms) may lead the collector's clock by this much. */
  clockAheadMs: DAY_MS,
  /** ... and trail it by the stream's retention plus this much (a spool held through an outage). */
  clockBehindExtraMs: DAY_MS,
  /** Times of long-lived things (agent start, pod creation) reach back to here; 0 means "unknown". */
  epochFloorMs: Date.UTC(2010, 0, 1),
  maxCount: Number.MAX_SAFE_INTEGER,
  // Names as Kubernetes bounds them: DNS subdomain 253, label 63.
  nodeName: 253,
  namespace: 63,
  podName: 253,
  uid: 64,
  containerName: 63,
  agentId: 64,
  agentVersion: 64,
  prefix: 64,
  iface: 32,
  /** Samples, messages, evidence values and errors are for people: longer ones are cut, not refused. */
  text: 4096,
  shortText: 1024,
  key: 512,
  drops: 5000,
  evidence: 32,
  counters: 512,
  probes: 64,
  pods: 1024,
  containers: 64,
  ips: 16,
  labels: 256,
  annotationBytes: 256 * 1024,
  conditions: 32,
  mirrorErrors: 1024,
} as const;

export const DECODE_FAILURES = [
  'corrupt',
  'oversized',
  'missing-header',
  'bad-header',
  'subject-mismatch',
  'empty-body',
  'bad-time',
  'invalid-drop',
  'invalid-finding',
  'invalid-heartbeat',
  'invalid-runtime',
] as const;
export type DecodeFailure = (typeof DECODE_FAILURES)[number];
type Rejection = DecodeFailure;

/** A message refused at decode; kind is the counted reason. */
export class DecodeError extends Error {
  constructor(
    public readonly kind: DecodeFailure,
    message: string,
  ) {
    super(message);
  }
}

export interface ValidationContext {
  nowMs: number;
  /** The stream's retention: how far back an event time may lie. */
  retentionMs: number;
}

/** What validation changed without refusing: per-record rejections inside a batch, cut texts. */
export interface Adjustments {
  droppedRecords: number;
  droppedReasons: Record<string, number>;
  truncated: number;
}

const NODE_RE = /^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$/;
const AGENT_ID_RE = /^[A-Za-z0-9_-]+$/;
const KIND_RE = /^[A-Z][A-Za-z0-9]{0,63}$/;
const PROTO_RE = /^[A-Z0-9]{1,16}$/;
const SEVERITIES = new Set(['warning', 'critical', 'info']);

/** protobufjs gives uint64 as a Long when long.js is present: a Long object is always truthy. */
export function safeInt(v: unknown): number | undefined {
  let n: number;
  if (typeof v === 'number') n = v;
  else if (v !== null && typeof v === 'object' && 'high' in v && 'low' in v) {
    const l = v as { high: number; low: number; unsigned?: boolean };
    if (l.high < 0 && !l.unsigned) return undefined;
    n = (l.high >>> 0) * 2 ** 32 + (l.low >>> 0);
  } else return undefined;
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}

function refuse(kind: Rejection, why: string): never {
  throw new DecodeError(kind, why);
}

class Checker {
  readonly adj: Adjustments = { droppedRecords: 0, droppedReasons: {}, truncated: 0 };
  private readonly earliest: number;
  private readonly latest: number;

  constructor(ctx: ValidationContext) {
    this.earliest = ctx.nowMs - ctx.retentionMs - LIMITS.clockBehindExtraMs;
    this.latest = ctx.nowMs + LIMITS.clockAheadMs;
  }

  eventTime(v: unknown, what: string): number {
    if (typeof v !== 'number' || !(v >= this.earliest && v <= this.latest)) {
      refuse('bad-time', `${what} ${String(v)} is outside the accepted window (retention behind, a day ahead)`);
    }
    return v;
  }

  /** 0 = unknown; else from 2010 to a day ahead. */
  lifeTime(v: unknown, what: string, kind: Rejection): number {
    if (v === 0 || v === undefined || v === null) return 0;
    if (typeof v !== 'number' || !(v >= LIMITS.epochFloorMs && v <= this.latest))
      refuse(kind, `${what} ${String(v)} is not a plausible time`);
    return v;
  }

  name(v: unknown, max: number, what: string, kind: Rejection, re?: RegExp, optional = false): string {
    const s = typeof v === 'string' ? v : '';
    if (s === '' && optional) return s;
    if (s === '' || s.length > max || (re && !re.test(s)))
      refuse(kind, `${what} is missing, longer than ${max} or malformed`);
    return s;
  }

  /** Free text: cut to max (counted), never refused. */
  text(v: unknown, max: number): string {
    const s = typeof v === 'string' ? v : '';
    if (s.length <= max) return s;
    this.adj.truncated++;
    return s.slice(0, max - 1) + '…';
  }

  uint(v: unknown, max: number, what: string, kind: Rejection): number | undefined {
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max)
      refuse(kind, `${what} ${String(v)} is out of range 0..${max}`);
    return v;
  }

  list<T>(v: T[] | null | undefined, max: number, what: string, kind: Rejection): T[] {
    const a = v ?? [];
    if (a.length > max) refuse(kind, `${what}: ${a.length} entries, more than ${max}`);
    return a;
  }

  map(
    v: Record<string, string> | null | undefined,
    max: number,
    keyMax: number,
    valueMax: number,
    what: string,
    kind: Rejection,
  ): Record<string, string> {
    const m = v ?? {};
    const keys = Object.keys(m);
    if (keys.length > max) refuse(kind, `${what}: ${keys.length} entries, more than ${max}`);
    const out: Record<string, string> = {};
    for (const k of keys) {
      if (k.length === 0 || k.length > keyMax) refuse(kind, `${what}: a key is empty or longer than ${keyMax}`);
      out[k] = this.text(m[k], valueMax);
    }
    return out;
  }
}

/** Checks the header and exactly one known body; normalises numbers (Longs -> numbers) and texts in place. */
export function validateEnvelope(
  msg: Env,
  subject: string | undefined,
  expectedSubject: (node: string, body: string) => string,
  ctx: ValidationContext,
): Adjustments {
  const c = new Checker(ctx);
  if (!msg.node || !msg.agentId) refuse('missing-header', 'envelope without node or agent_id');
  c.name(msg.node, LIMITS.nodeName, 'node', 'bad-header', NODE_RE);
  c.name(msg.agentId, LIMITS.agentId, 'agent_id', 'bad-header', AGENT_ID_RE);
  const seq = safeInt(msg.seq);
  if (seq === undefined || seq < 1) refuse('missing-header', `seq ${String(msg.seq)} is not a positive integer`);
  (msg as { seq: number }).seq = seq;
  msg.sentMs = c.eventTime(msg.sentMs, 'sent_ms');
  msg.agentVersion = c.text(msg.agentVersion, LIMITS.agentVersion);
  const body = msg.body;
  if (!body) refuse('empty-body', 'envelope without a body');
  // A node may speak only for itself: its credential allows only its own subjects (README, "Trust model").
  if (subject !== undefined && subject !== expectedSubject(msg.node, body)) {
    refuse(
      'subject-mismatch',
      `envelope of node "${msg.node.slice(0, 64)}" (${body}) arrived on subject "${subject.slice(0, 160)}"`,
    );
  }
  switch (body) {
    case 'drops':
      checkDrops(c, msg);
      break;
    case 'finding':
      checkFinding(c, msg.finding!);
      break;
    case 'heartbeat':
      checkHeartbeat(c, msg.heartbeat!);
      break;
    case 'runtime':
      checkRuntime(c, msg.runtime!);
      break;
  }
  return c.adj;
}

function checkDrops(c: Checker, msg: Env): void {
  const all = c.list(msg.drops?.drops, LIMITS.drops, 'drops', 'invalid-drop');
  const kept = all.filter((d) => {
    try {
      checkDrop(c, d);
      return true;
    } catch (err) {
      if (!(err instanceof DecodeError)) throw err;
      c.adj.droppedRecords++;
      c.adj.droppedReasons[err.kind] = (c.adj.droppedReasons[err.kind] ?? 0) + 1;
      return false;
    }
  });
  // Good records of a batch survive a bad neighbour; a batch with none left says nothing true.
  if (kept.length === 0)
    refuse('invalid-drop', all.length ? `all ${all.length} drop records refused` : 'empty drop batch');
  msg.drops!.drops = kept;
}

function checkDrop(c: Checker, d: nodewarden.v1.IPacketDrop): void {
  const k = 'invalid-drop';
  const src = canonicalIp(d.src ?? ''),
    dst = canonicalIp(d.dst ?? '');
  if (!src || src !== d.src || !dst || dst !== d.dst) refuse(k, 'src/dst missing or not a canonical IP');
  const family = src.includes(':') ? 6 : 4;
  if ((dst.includes(':') ? 6 : 4) !== family || d.family !== family) refuse(k, 'src, dst and family disagree');
  d.proto = c.name(d.proto, 16, 'proto', k, PROTO_RE);
  d.prefix = c.text(d.prefix, LIMITS.prefix);
  c.uint(d.srcPort, 65535, 'src_port', k);
  c.uint(d.dstPort, 65535, 'dst_port', k);
  c.uint(d.icmpType, 255, 'icmp_type', k);
  c.uint(d.icmpCode, 255, 'icmp_code', k);
  c.uint(d.ttl, 255, 'ttl', k);
  for (const f of ['inIface', 'outIface'] as const) {
    const v = d[f] ?? '';
    if (v.length > LIMITS.iface || /\s/.test(v)) refuse(k, `${f} is longer than ${LIMITS.iface} or has spaces`);
  }
  const count = safeInt(d.count);
  if (count === undefined || count < 1) refuse(k, `count ${String(d.count)} is not a positive integer`);
  d.count = count;
  d.firstSeenMs = c.eventTime(d.firstSeenMs, 'first_seen_ms');
  d.lastSeenMs = c.eventTime(d.lastSeenMs, 'last_seen_ms');
  if (d.firstSeenMs > d.lastSeenMs) refuse('bad-time', 'first_seen_ms after last_seen_ms');
  d.sample = c.text(d.sample, LIMITS.text);
}

function podRef(c: Checker, p: nodewarden.v1.IPodRef, kind: Rejection): void {
  c.name(p.namespace, LIMITS.namespace, 'pod namespace', kind, undefined, true);
  c.name(p.name, LIMITS.podName, 'pod name', kind, undefined, true);
  c.name(p.uid, LIMITS.uid, 'pod uid', kind, undefined, true);
  c.name(p.container, LIMITS.containerName, 'container', kind, undefined, true);
}

function checkFinding(c: Checker, f: nodewarden.v1.IFinding): void {
  const k = 'invalid-finding';
  c.name(f.kind, 64, 'kind', k, KIND_RE);
  if (!SEVERITIES.has(f.severity ?? ''))
    refuse(k, `severity "${String(f.severity).slice(0, 32)}" is not warning, critical or info`);
  f.message = c.text(f.message, LIMITS.text);
  c.name(f.key, LIMITS.key, 'key', k, undefined, true);
  if (f.pod) podRef(c, f.pod, k);
  f.evidence = c.map(f.evidence, LIMITS.evidence, 64, LIMITS.text, 'evidence', k);
  f.firstSeenMs = c.eventTime(f.firstSeenMs, 'first_seen_ms');
  f.lastSeenMs = c.eventTime(f.lastSeenMs, 'last_seen_ms');
}

function checkHeartbeat(c: Checker, h: nodewarden.v1.IHeartbeat): void {
  const k = 'invalid-heartbeat';
  h.startedMs = c.lifeTime(h.startedMs, 'started_ms', k);
  const counters = h.counters ?? {};
  const names = Object.keys(counters);
  if (names.length > LIMITS.counters) refuse(k, `${names.length} counters, more than ${LIMITS.counters}`);
  for (const n of names) {
    if (n.length > 128 || !Number.isFinite(counters[n]))
      refuse(k, 'a counter name is too long or its value not finite');
  }
  for (const p of c.list(h.probes, LIMITS.probes, 'probes', k)) {
    p.name = c.name(p.name, 64, 'probe name', k);
    p.detail = c.text(p.detail, LIMITS.shortText);
  }
}

function checkRuntime(c: Checker, r: nodewarden.v1.IRuntimeSnapshot): void {
  const k = 'invalid-runtime';
  r.runtimeName = c.text(r.runtimeName, 128);
  r.runtimeVersion = c.text(r.runtimeVersion, 128);
  r.endpoint = c.text(r.endpoint, LIMITS.shortText);
  for (const p of c.list(r.pods, LIMITS.pods, 'pods', k)) {
    c.name(p.id, 128, 'pod id', k);
    c.name(p.namespace, LIMITS.namespace, 'pod namespace', k, undefined, true);
    c.name(p.name, LIMITS.podName, 'pod name', k, undefined, true);
    c.name(p.uid, LIMITS.uid, 'pod uid', k, undefined, true);
    p.state = c.text(p.state, 64);
    p.createdMs = c.lifeTime(p.createdMs, 'pod created_ms', k);
    for (const ip of c.list(p.ips, LIMITS.ips, 'pod ips', k))
      if (canonicalIp(ip) !== ip) refuse(k, 'a pod IP is not canonical');
    p.labels = c.map(p.labels, LIMITS.labels, 317, 63, 'labels', k);
    p.annotations = c.map(p.annotations, LIMITS.labels, 317, LIMITS.annotationBytes, 'annotations', k);
    if (Object.values(p.annotations).reduce((n, v) => n + v.length, 0) > LIMITS.annotationBytes)
      refuse(k, 'annotations exceed 256 KiB');
    c.uint(p.attempt, 2 ** 32 - 1, 'attempt', k);
    p.runtimeHandler = c.text(p.runtimeHandler, 128);
    for (const ct of c.list(p.containers, LIMITS.containers, 'containers', k)) {
      c.name(ct.id, 128, 'container id', k);
      c.name(ct.name, LIMITS.containerName, 'container name', k, undefined, true);
      ct.image = c.text(ct.image, LIMITS.shortText);
      ct.state = c.text(ct.state, 64);
      ct.createdMs = c.lifeTime(ct.createdMs, 'container created_ms', k);
    }
  }
  for (const cond of c.list(r.conditions, LIMITS.conditions, 'conditions', k)) {
    cond.type = c.name(cond.type, 64, 'condition type', k);
    cond.reason = c.text(cond.reason, 256);
    cond.message = c.text(cond.message, LIMITS.shortText);
  }
  for (const e of c.list(r.mirrorPodErrors, LIMITS.mirrorErrors, 'mirror pod errors', k)) {
    c.name(e.namespace, LIMITS.namespace, 'mirror error namespace', k, undefined, true);
    c.name(e.name, LIMITS.podName, 'mirror error pod', k, undefined, true);
    e.error = c.text(e.error, LIMITS.text);
    e.sinceMs = c.lifeTime(e.sinceMs, 'mirror error since_ms', k);
  }
}
