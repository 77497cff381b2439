// The Event write protocol (collector/events/protocol.ts) branch by branch, and the writer's shell
// (collector/events/writer.ts) over a scripted EventApi: every answer is given in order, every
// request checked. The same behaviour against a real kube-apiserver: test/kube-events*.test.ts.
// Run: node --import tsx test/events-protocol.test.ts
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  begin,
  step,
  CONFLICT_LIMIT,
  type Answer,
  type EventRequest,
  type Step,
  type WriteState,
} from '../collector/events/protocol.js';
import type { KnownEvent, WriteTask } from '../collector/events/correlator.js';
import { APPLIED_ANNOTATION } from '../collector/events/applied.js';
import type { EventApi } from '../collector/events/api.js';
import { EventWriter } from '../collector/events/writer.js';
import { NodeUidCache } from '../collector/events/node-uids.js';
import { RequestWindow } from '../collector/events/window.js';
import { TokenBucket } from '../collector/events/token-bucket.js';
import { backoff } from '../common/backoff.js';
import { waitFor } from './support/wait.js';
import { testLog } from './support/log.js';

const NOW = Date.parse('2026-03-01T12:00:00Z');
const task = (over: Partial<WriteTask> = {}): WriteTask => ({
  key: 'k',
  object: { kind: 'Pod', namespace: 'shop', name: 'web-1', uid: 'u-1' },
  type: 'Warning',
  reason: 'PacketDrop',
  message: 'dropped',
  host: 'node-a',
  delta: 3,
  firstMs: NOW - 1000,
  lastMs: NOW,
  failures: 0,
  ...over,
});
const event = (name: string, count: number, rv: string, applied?: string) => ({
  metadata: {
    name,
    resourceVersion: rv,
    ...(applied ? { annotations: { [APPLIED_ANNOTATION]: applied } } : {}),
  },
  count,
  lastTimestamp: '2026-03-01T12:00:00Z',
});
const EPOCH = Date.parse('2026-03-01T00:00:00Z');
/** The first step of a task whose occurrences came from `parts` (stream sequence: count), the ack floor at `floor`. */
const seqBegin = (parts: Record<number, number>, known?: KnownEvent, floor = 0) => {
  const m = new Map(Object.entries(parts).map(([seq, n]) => [Number(seq), n]));
  const t = task({ delta: [...m.values()].reduce((a, n) => a + n, 0), parts: m, known });
  return begin(t, 'u-1', NOW, undefined, { epoch: EPOCH, floor });
};
const body = (r: Req) => r.request.body as { count: number; metadata: { annotations?: Record<string, string | null> } };
const known = { name: 'web-1.abc', count: 5, resourceVersion: '7', lastMs: NOW - 5000 };

type Req = { state: WriteState; request: EventRequest };
function req(s: Step): Req {
  if (!('request' in s)) throw new Error(`expected a request, got outcome ${JSON.stringify(s.outcome)}`);
  return s;
}
function out(s: Step) {
  if (!('outcome' in s)) throw new Error(`expected an outcome, got ${s.request.method} ${s.request.path}`);
  return s.outcome;
}
const answer = (r: Req, a: Answer) => step(r.state, r.request, a, NOW);

test('unknown Event: POST with the deterministic name; 201 -> written', () => {
  const r = req(begin(task(), 'u-1', NOW));
  assert.is(r.request.method, 'POST');
  assert.is(r.request.path, '/api/v1/namespaces/shop/events');
  const body = r.request.body as { metadata: { name: string }; count: number };
  assert.is(body.metadata.name, r.state.name);
  assert.is(body.count, 3);
  const o = out(answer(r, { status: 201, body: event(r.state.name, 3, '1') }));
  assert.equal(o, {
    kind: 'written',
    known: { name: r.state.name, count: 3, resourceVersion: '1', lastMs: NOW },
    skipped: 0,
  });
});

test('known Event: PATCH with resourceVersion and count known+delta; 200 -> written', () => {
  const r = req(begin(task({ known }), 'u-1', NOW));
  assert.is(r.request.method, 'PATCH');
  assert.is(r.request.path, '/api/v1/namespaces/shop/events/web-1.abc');
  assert.equal(r.request.body, { metadata: { resourceVersion: '7' }, count: 8, lastTimestamp: '2026-03-01T12:00:00Z' });
  assert.is(out(answer(r, { status: 200, body: event('web-1.abc', 8, '8') })).kind, 'written');
});

test('no uid -> no-uid outcome without a request', () => {
  assert.equal(out(begin(task(), undefined, NOW)), { kind: 'no-uid' });
});

test('POST 409 AlreadyExists -> GET the Event, then PATCH its count', () => {
  const r = req(begin(task(), 'u-1', NOW));
  const g = req(answer(r, { status: 409 }));
  assert.is(g.request.method, 'GET');
  assert.is(g.request.path, `/api/v1/namespaces/shop/events/${r.state.name}`);
  const p = req(answer(g, { status: 200, body: event(r.state.name, 10, '42') }));
  assert.is(p.request.method, 'PATCH');
  assert.equal(p.request.body, {
    metadata: { resourceVersion: '42' },
    count: 13,
    lastTimestamp: '2026-03-01T12:00:00Z',
  });
  assert.is(p.state.conflicts, 1);
});

test('PATCH 409 Conflict -> GET, PATCH again on the fresh resourceVersion', () => {
  const r = req(begin(task({ known }), 'u-1', NOW));
  const g = req(answer(r, { status: 409 }));
  assert.is(g.request.path, '/api/v1/namespaces/shop/events/web-1.abc');
  const p = req(answer(g, { status: 200, body: event('web-1.abc', 9, '9') }));
  assert.equal((p.request.body as { count: number }).count, 12);
});

test('PATCH 404 (expired) -> POST, and the outcome says forget', () => {
  const r = req(begin(task({ known }), 'u-1', NOW));
  const p = req(answer(r, { status: 404 }));
  assert.is(p.request.method, 'POST');
  assert.is(p.state.forget, true);
  const f = out(answer(p, { status: 403, body: { message: 'no' } }));
  assert.equal(f, { kind: 'forbidden', verb: 'create', namespace: 'shop', message: 'no', forget: true });
});

test('GET after 409 answered 404 -> POST again', () => {
  const g = req(answer(req(begin(task({ known }), 'u-1', NOW)), { status: 409 }));
  const p = req(answer(g, { status: 404 }));
  assert.is(p.request.method, 'POST');
});

test('forbidden GET -> the same read through an empty merge-PATCH; its 403 -> failed', () => {
  const g = req(answer(req(begin(task(), 'u-1', NOW)), { status: 409 }));
  const ep = req(answer(g, { status: 403 }));
  assert.is(ep.request.method, 'PATCH');
  assert.is(ep.request.purpose, 'read-by-patch');
  assert.equal(ep.request.body, {});
  assert.is(ep.request.path, g.request.path);
  const p = req(answer(ep, { status: 200, body: event(g.state.name, 4, '5') }));
  assert.is(p.request.purpose, 'write');
  assert.is((p.request.body as { count: number }).count, 7);
  const denied = out(answer(req(answer(g, { status: 403 })), { status: 403 }));
  assert.is(denied.kind, 'failed');
});

test(`more than ${CONFLICT_LIMIT} conflicts -> conflict-limit`, () => {
  let r = req(begin(task({ known }), 'u-1', NOW));
  for (let i = 1; i <= CONFLICT_LIMIT; i++) {
    r = req(answer(req(answer(r, { status: 409 })), { status: 200, body: event('web-1.abc', 5 + i, String(7 + i)) }));
    assert.is(r.state.conflicts, i);
  }
  const g = req(answer(r, { status: 409 }));
  assert.equal(out(answer(g, { status: 200, body: event('web-1.abc', 20, '30') })), { kind: 'conflict-limit' });
});

test('429 on a write -> transient with a pause (Retry-After, else 1 s); 5xx/transport -> transient without', () => {
  const r = req(begin(task(), 'u-1', NOW));
  const t = out(answer(r, { status: 429, retryAfterMs: 3000 }));
  assert.is(t.kind, 'transient');
  if (t.kind === 'transient') {
    assert.is(t.pauseMs, 3000);
    assert.is(t.retryAfterMs, 3000);
  }
  const d = out(answer(r, { status: 429 }));
  if (d.kind === 'transient') assert.is(d.pauseMs, 1000);
  else assert.unreachable();
  const s = out(answer(r, { status: 503, body: { message: 'etcd' } }));
  if (s.kind === 'transient') {
    assert.is(s.pauseMs, undefined);
    assert.match(s.message, /HTTP 503: etcd/);
  } else assert.unreachable();
  const x = out(answer(r, { status: 0, error: 'ECONNREFUSED' }));
  if (x.kind === 'transient') assert.is(x.message, 'ECONNREFUSED');
  else assert.unreachable();
});

test('transient keeps what was learnt: the retry PATCHes the GET result', () => {
  const g = req(answer(req(begin(task(), 'u-1', NOW)), { status: 409 }));
  const p = req(answer(g, { status: 200, body: event(g.state.name, 4, '5') }));
  const t = out(answer(p, { status: 500 }));
  if (t.kind !== 'transient') return assert.unreachable();
  const again = req(begin(task(), 'u-1', NOW, t.carry));
  assert.is(again.request.method, 'PATCH');
  assert.is(again.state.conflicts, 1);
});

test('GET answered 5xx -> transient without pause; 400 -> failed', () => {
  const g = req(answer(req(begin(task(), 'u-1', NOW)), { status: 409 }));
  const t = out(answer(g, { status: 429 }));
  if (t.kind === 'transient') assert.is(t.pauseMs, undefined);
  else assert.unreachable();
  assert.is(out(answer(g, { status: 400 })).kind, 'failed');
});

test('other write statuses -> invalid (dropped and counted)', () => {
  const o = out(answer(req(begin(task(), 'u-1', NOW)), { status: 422, body: { message: 'bad' } }));
  assert.equal(o, { kind: 'invalid', verb: 'create', status: 422, namespace: 'shop', message: 'bad' });
  assert.is(out(answer(req(begin(task({ known }), 'u-1', NOW)), { status: 201 })).kind, 'invalid');
});

test('stream sequences: the first write records its sequences; a later one skips those already counted', () => {
  const r = req(seqBegin({ 10: 2, 11: 1 }));
  assert.is(r.request.method, 'POST');
  assert.equal(body(r).metadata.annotations, { [APPLIED_ANNOTATION]: `${EPOCH}:10-11` });
  // Replica B got messages 11 (redelivered: A wrote it, then died before the ack) and 12.
  const known = { name: 'web-1.abc', count: 3, resourceVersion: '5', lastMs: NOW, applied: `${EPOCH}:10-11` };
  const p = req(seqBegin({ 11: 1, 12: 4 }, known, 9));
  assert.is(body(p).count, 7, '3 + 4: message 11 is not counted twice');
  assert.equal(body(p).metadata.annotations, { [APPLIED_ANNOTATION]: `${EPOCH}:10-12` });
  const o = answer(p, { status: 200, body: event('web-1.abc', 7, '6', `${EPOCH}:10-12`) });
  assert.equal('outcome' in o && o.outcome.kind === 'written' && o.outcome.skipped, 1);
});

test('stream sequences: everything already counted -> written without a request', () => {
  const known = { name: 'web-1.abc', count: 3, resourceVersion: '5', lastMs: NOW, applied: `${EPOCH}:10-11` };
  assert.equal(out(seqBegin({ 10: 2, 11: 1 }, known)), { kind: 'written', known, skipped: 3 });
});

test('stream sequences: a conflict re-reads what the other replica counted (409 on POST and on PATCH)', () => {
  const r = req(seqBegin({ 20: 1, 21: 1 }));
  const g = req(answer(r, { status: 409 }));
  const p = req(answer(g, { status: 200, body: event('web-1.abc', 5, '8', `${EPOCH}:19-20`) }));
  assert.is(body(p).count, 6, 'only 21 is new');
  assert.equal(body(p).metadata.annotations, { [APPLIED_ANNOTATION]: `${EPOCH}:19-21` });
  // The other replica wrote 21 meanwhile: nothing is left to add, and no request is sent.
  const g2 = req(answer(p, { status: 409 }));
  assert.equal(out(answer(g2, { status: 200, body: event('web-1.abc', 6, '9', `${EPOCH}:19-21`) })), {
    kind: 'written',
    known: { name: 'web-1.abc', count: 6, resourceVersion: '9', lastMs: NOW, applied: `${EPOCH}:19-21` },
    skipped: 2,
  });
});

test('stream sequences: the record is cleared once the floor passes it; an Event of an older stream counts anew', () => {
  const known = { name: 'web-1.abc', count: 3, resourceVersion: '5', lastMs: NOW, applied: `${EPOCH}:10-11` };
  assert.equal(body(req(seqBegin({ 30: 1 }, known, 40))).metadata.annotations, { [APPLIED_ANNOTATION]: null });
  assert.is(body(req(seqBegin({ 30: 1 }, { ...known, applied: `${EPOCH - 5}:30` }))).count, 4);
});

test('backoff: exponential, capped, jitter kinds, injectable random', () => {
  assert.equal(
    [0, 1, 2, 3, 10].map((a) => backoff(a, { baseMs: 250, capMs: 5000, jitter: 'equal', random: () => 1 })),
    [250, 500, 1000, 2000, 5000],
  );
  assert.is(backoff(3, { baseMs: 250, capMs: 5000, jitter: 'equal', random: () => 0 }), 1000);
  assert.is(backoff(3, { baseMs: 250, capMs: 5000, random: () => 0 }), 0);
  assert.is(backoff(3, { baseMs: 250, capMs: 5000, random: () => 0.5 }), 1000);
  assert.is(backoff(99, { baseMs: 1000, capMs: 30_000, jitter: 'none' }), 30_000);
  assert.is(backoff(-1, { baseMs: 1000, capMs: 30_000, jitter: 'none' }), 1000);
});

test('RequestWindow: halves on 429, grows back slowly, never above max', () => {
  const w = new RequestWindow(
    4,
    new TokenBucket(1, 1, 0),
    () => 0,
    async () => undefined,
  );
  w.release(429);
  assert.is(w.size, 2);
  w.release(429);
  w.release(429);
  w.release(429);
  assert.is(w.size, 1);
  for (let i = 0; i < 200; i++) w.release(200);
  assert.is(w.size, 4);
  w.release(0);
  w.release(undefined);
  assert.is(w.size, 4);
});

test('NodeUidCache: uid cached; 403/404 fall back to the node name; 5xx is a failure', async () => {
  let t = 0;
  const answers: Answer[] = [{ status: 200, body: { metadata: { uid: 'n-uid' } } }, { status: 403 }, { status: 503 }];
  const asked: string[] = [];
  let forbidden = 0;
  const c = new NodeUidCache(
    async (p) => {
      asked.push(p);
      return answers.shift() ?? { status: 404 };
    },
    () => t,
    () => forbidden++,
  );
  assert.equal(await c.uid('a'), { uid: 'n-uid' });
  assert.equal(await c.uid('a'), { uid: 'n-uid' });
  assert.equal(await c.uid('b'), { uid: 'b' });
  assert.is(forbidden, 1);
  assert.equal(await c.uid('b'), { uid: 'b' });
  t = 61_000; // the fallback is kept one minute only
  assert.equal(await c.uid('b'), { failed: { status: 503 } });
  assert.equal(asked, ['/api/v1/nodes/a', '/api/v1/nodes/b', '/api/v1/nodes/b']);
});

// --- the writer over a scripted EventApi ---

interface Scripted extends EventApi {
  seen: string[];
}
function scripted(answers: (Answer | Error)[]): Scripted {
  const seen: string[] = [];
  return {
    seen,
    async request(method, path) {
      seen.push(`${method} ${path}`);
      const a = answers.shift();
      if (!a) throw new Error(`unexpected request ${method} ${path}`);
      if (a instanceof Error) throw a;
      return a;
    },
  };
}
const silent = testLog;
const opts = { qps: 1000, burst: 1000, objectBurst: 100, objectRefillMs: 10, updateIntervalMs: 0, attempts: 3 };
const obs = {
  object: { kind: 'Pod' as const, namespace: 'shop', name: 'web-1', uid: 'u-1' },
  type: 'Warning' as const,
  reason: 'PacketDrop',
  message: 'dropped',
  host: 'node-a',
  count: 2,
  firstMs: NOW,
  lastMs: NOW,
};

/** Observes once, waits until the script is answered and the write has an outcome, then stops. */
async function drive(answers: (Answer | Error)[], o: Partial<typeof opts> = {}) {
  const api = scripted(answers);
  const w = new EventWriter(api, silent, { ...opts, ...o });
  w.observe(obs);
  const c = w.correlator.stats;
  await waitFor(
    'the write outcome',
    () => answers.length === 0 && (c.written + c.discarded > 0 || w.stats.failed + w.stats.forbidden > 0),
    5000,
    10,
  );
  await w.stop(0);
  return { w, api };
}

test('writer: POST 201 writes the count once', async () => {
  const { w, api } = await drive([{ status: 201, body: event('x', 2, '1') }]);
  assert.equal(api.seen, ['POST /api/v1/namespaces/shop/events']);
  assert.is(w.stats.creates, 1);
  assert.is(w.correlator.stats.written, 2);
});

test('writer: 409 -> GET -> PATCH, a conflict counted', async () => {
  const { w, api } = await drive([
    { status: 409 },
    { status: 200, body: event('x', 5, '3') },
    { status: 200, body: event('x', 7, '4') },
  ]);
  assert.equal(
    api.seen.map((s) => s.split(' ')[0]),
    ['POST', 'GET', 'PATCH'],
  );
  assert.equal([w.stats.conflicts, w.stats.gets, w.stats.patches], [1, 1, 1]);
});

test('writer: 500 then transport error then 201 -> two retries, written', async () => {
  const { w, api } = await drive([
    { status: 500 },
    { status: 0, error: 'ECONNRESET' },
    { status: 201, body: event('x', 2, '1') },
  ]);
  assert.is(api.seen.length, 3);
  assert.is(w.stats.retries, 2);
  assert.is(w.correlator.stats.written, 2);
});

test('writer: 429 retried after Retry-After and written', async () => {
  const { w, api } = await drive([
    { status: 429, retryAfterMs: 50 },
    { status: 201, body: event('x', 2, '1') },
  ]);
  assert.is(api.seen.length, 2);
  assert.is(w.stats.retries, 1);
  assert.is(w.correlator.stats.written, 2);
});

test('writer: attempts exhausted -> the count stays pending (failed counted, not discarded)', async () => {
  const { w } = await drive([{ status: 503 }, { status: 503 }, { status: 503 }]);
  assert.is(w.stats.failed, 1);
  assert.is(w.correlator.stats.written, 0);
  assert.is(w.correlator.pendingTotal(), 2);
});

test('writer: 403 -> forbidden counted, count kept', async () => {
  const { w } = await drive([{ status: 403, body: { message: 'denied' } }]);
  assert.is(w.stats.forbidden, 1);
  assert.is(w.correlator.pendingTotal(), 2);
});

test('writer: 422 -> dropped and counted as discarded', async () => {
  const { w } = await drive([{ status: 422 }]);
  assert.is(w.stats.failed, 1);
  assert.is(w.correlator.stats.discarded, 2);
});

test('writer: a 201 without metadata is a failure, not a crash', async () => {
  const { w } = await drive([{ status: 201, body: 'not json' }]);
  assert.is(w.stats.failed, 1);
  assert.is(w.correlator.pendingTotal(), 2);
});

test('writer: a Node Event GETs the node uid first', async () => {
  const api = scripted([
    { status: 200, body: { metadata: { uid: 'node-uid' } } },
    { status: 201, body: event('x', 1, '1') },
  ]);
  const w = new EventWriter(api, silent, opts);
  w.observe({ ...obs, object: { kind: 'Node', name: 'node-a' } });
  await waitFor('the Node Event written', () => w.correlator.stats.written > 0, 5000, 10);
  await w.stop(0);
  assert.equal(api.seen, ['GET /api/v1/nodes/node-a', 'POST /api/v1/namespaces/default/events']);
});

test.run();
