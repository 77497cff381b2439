// Pure: the Event write protocol as a step function (known state + answer -> next request | outcome).
// No I/O, no clock of its own (now is passed in); writer.ts sends the requests and acts on outcomes.
//
//   unknown Event -> POST with the deterministic name and count=delta
//       201/200 -> written;  409 AlreadyExists (another replica, or our restart) -> GET it, then PATCH
//   known Event   -> merge-PATCH {metadata.resourceVersion, count: known+delta, lastTimestamp}
//       200 -> written;  409 Conflict (someone else updated it) -> GET, PATCH again;  404 (expired) -> POST
//   GET answered 403 (no `events get`) -> the same read through an empty merge-PATCH (`events patch`)
// Every write records the stream sequences it counts (applied.ts); sequences the Event already counts
// (a redelivery after a replica died between write and ack) are left out of the delta, and when
// nothing new is left no request is sent.
// More than five conflicts in one task end it (conflict-limit); 403 on a write is `forbidden`;
// 429/5xx/transport errors are `transient` (the writer retries from the returned state); any other
// status on a write is `invalid` (the API server rejected the Event), on a read `failed`.
import { statusMessage } from '../kube/client.js';
import type { KnownEvent, WriteTask } from './correlator.js';
import { APPLIED_ANNOTATION, SeqRanges, type StreamPosition } from './applied.js';
import { eventBody, eventName, eventNamespace, k8sTime } from './messages.js';

export type Verb = 'create' | 'patch' | 'get';

export interface EventRequest {
  verb: Verb;
  method: 'POST' | 'PATCH' | 'GET';
  path: string;
  body?: unknown;
  /** read-by-patch: the GET was refused, the writer may say so once. */
  purpose: 'write' | 'read' | 'read-by-patch';
}

/** An API answer; status 0 is a transport failure (then `error` says what failed). */
export interface Answer {
  status: number;
  body?: unknown;
  retryAfterMs?: number;
  error?: string;
}

/** What survives a transient failure of one task: the writer retries from here. */
export interface Carry {
  known?: KnownEvent;
  conflicts: number;
  /** The correlator's remembered Event is gone (404 on PATCH): forget it whatever the outcome. */
  forget: boolean;
}

export interface WriteState extends Carry {
  task: WriteTask;
  uid: string;
  namespace: string;
  /** The deterministic Event name (POST). */
  name: string;
  /** lastTimestamp of the write in flight (the fallback when the answer has none). */
  lastMs: number;
  stream: StreamPosition;
  /** Occurrences of the task the Event already counts (left out of the write in flight). */
  skipped: number;
}

export type Outcome =
  | { kind: 'written'; known: KnownEvent; skipped: number }
  /** No uid for the involved object: the Event cannot be written. */
  | { kind: 'no-uid' }
  | { kind: 'conflict-limit' }
  | { kind: 'forbidden'; verb: Verb; namespace: string; message: string; forget: boolean }
  /** 429/5xx/transport; `pause` when a write was throttled (all writes pause that long). */
  | { kind: 'transient'; status: number; message: string; retryAfterMs?: number; pauseMs?: number; carry: Carry }
  | { kind: 'invalid'; verb: Verb; status: number; namespace: string; message: string }
  | { kind: 'failed'; status: number; message: string; forget: boolean };

export type Step = { state: WriteState; request: EventRequest } | { outcome: Outcome };

export const CONFLICT_LIMIT = 5;

const isTransient = (status: number) => status === 0 || status === 429 || status >= 500;

/** The first request of a task (or of its retry after a transient failure, from `carry`). */
export function begin(
  task: WriteTask,
  uid: string | undefined,
  now: number,
  carry?: Carry,
  stream: StreamPosition = { epoch: 0, floor: 0 },
): Step {
  if (!uid) return { outcome: { kind: 'no-uid' } };
  const ob = task.object;
  const state: WriteState = {
    ...(carry ?? { known: task.known, conflicts: 0, forget: false }),
    task,
    uid,
    namespace: eventNamespace(ob),
    name: eventName(ob.name, uid, task.reason, task.message),
    lastMs: 0,
    stream,
    skipped: 0,
  };
  return write(state, now);
}

function base(s: WriteState): string {
  return `/api/v1/namespaces/${encodeURIComponent(s.namespace)}/events`;
}

function write(s: WriteState, now: number): Step {
  const t = s.task;
  const lastMs = Math.min(now, t.lastMs);
  const firstMs = Math.min(lastMs, t.firstMs);
  const parts = t.parts ?? new Map<number, number>();
  if (!s.known) {
    const body = eventBody(s.name, { ...t.object, uid: s.uid }, t, t.delta, firstMs, lastMs);
    const applied = SeqRanges.of(parts.keys()).format(s.stream);
    if (applied)
      (body.metadata as { annotations?: Record<string, string> }).annotations = { [APPLIED_ANNOTATION]: applied };
    return {
      state: { ...s, lastMs, skipped: 0 },
      request: { verb: 'create', method: 'POST', path: base(s), body, purpose: 'write' },
    };
  }
  const counted = SeqRanges.parse(s.known.applied, s.stream.epoch);
  let skipped = 0;
  for (const [seq, n] of parts) if (counted.has(seq)) skipped += n;
  if (skipped >= t.delta && t.delta > 0) return { outcome: { kind: 'written', known: s.known, skipped } };
  const last = Math.max(s.known.lastMs, lastMs);
  const metadata: Record<string, unknown> = { resourceVersion: s.known.resourceVersion };
  const applied = counted.with(parts.keys()).format(s.stream);
  // null removes an annotation in a merge patch: everything it listed is below the ack floor now.
  if (applied || s.known.applied) metadata.annotations = { [APPLIED_ANNOTATION]: applied ?? null };
  const body = { metadata, count: s.known.count + t.delta - skipped, lastTimestamp: k8sTime(last) };
  const path = `${base(s)}/${encodeURIComponent(s.known.name)}`;
  return {
    state: { ...s, lastMs: last, skipped },
    request: { verb: 'patch', method: 'PATCH', path, body, purpose: 'write' },
  };
}

/** The next step after `answer` to `request` (the request the previous step returned with `state`). */
export function step(s: WriteState, request: EventRequest, answer: Answer, now: number): Step {
  const carry: Carry = { known: s.known, conflicts: s.conflicts, forget: s.forget };
  if (answer.status === 0)
    return { outcome: { kind: 'transient', status: 0, message: answer.error ?? 'transport error', carry } };
  return request.purpose === 'write'
    ? afterWrite(s, request, answer, now, carry)
    : afterRead(s, request, answer, now, carry);
}

function afterWrite(s: WriteState, req: EventRequest, a: Answer, now: number, carry: Carry): Step {
  const verb = req.verb;
  if (verb === 'create' ? a.status === 201 || a.status === 200 : a.status === 200) {
    return { outcome: { kind: 'written', known: knownFrom(a.body, s.lastMs), skipped: s.skipped } };
  }
  if (a.status === 409) {
    const name = verb === 'create' ? s.name : (s.known as KnownEvent).name;
    return {
      state: s,
      request: { verb: 'get', method: 'GET', path: `${base(s)}/${encodeURIComponent(name)}`, purpose: 'read' },
    };
  }
  if (verb === 'patch' && a.status === 404) return write({ ...s, known: undefined, forget: true }, now);
  const message = statusMessage(a.body);
  if (a.status === 403)
    return { outcome: { kind: 'forbidden', verb, namespace: s.namespace, message, forget: s.forget } };
  if (isTransient(a.status)) {
    const pauseMs = a.status === 429 ? (a.retryAfterMs ?? 1000) : undefined;
    return {
      outcome: {
        kind: 'transient',
        status: a.status,
        message: `${verb} event: HTTP ${a.status}: ${message}`,
        retryAfterMs: a.retryAfterMs,
        pauseMs,
        carry,
      },
    };
  }
  return { outcome: { kind: 'invalid', verb, status: a.status, namespace: s.namespace, message } };
}

function afterRead(s: WriteState, req: EventRequest, a: Answer, now: number, carry: Carry): Step {
  if (a.status === 403 && req.purpose === 'read') {
    return {
      state: s,
      request: { verb: 'patch', method: 'PATCH', path: req.path, body: {}, purpose: 'read-by-patch' },
    };
  }
  if (a.status !== 200 && a.status !== 404) {
    const message = `get event: HTTP ${a.status}: ${statusMessage(a.body)}`;
    if (isTransient(a.status))
      return { outcome: { kind: 'transient', status: a.status, message, retryAfterMs: a.retryAfterMs, carry } };
    return { outcome: { kind: 'failed', status: a.status, message, forget: s.forget } };
  }
  const known = a.status === 404 ? undefined : knownFrom(a.body, 0);
  const conflicts = s.conflicts + 1;
  if (conflicts > CONFLICT_LIMIT) return { outcome: { kind: 'conflict-limit' } };
  return write({ ...s, known, conflicts }, now);
}

interface EventMeta {
  metadata: { name: string; resourceVersion: string; annotations?: Record<string, string> };
  count?: number;
  lastTimestamp?: string;
}

/** What the API server answered for an Event. Throws on a body without metadata (the writer counts it as failed). */
export function knownFrom(body: unknown, lastMs: number): KnownEvent {
  const b = body as EventMeta;
  const known: KnownEvent = {
    name: b.metadata.name,
    count: Number(b.count ?? 1),
    resourceVersion: b.metadata.resourceVersion,
    lastMs: Date.parse(b.lastTimestamp ?? '') || lastMs,
  };
  const applied = b.metadata.annotations?.[APPLIED_ANNOTATION];
  if (typeof applied === 'string') known.applied = applied;
  return known;
}
