// The web view's pure parts: the Server-Sent Events parser the page reads /api/v1/watch with (any
// chunking and any of the three line endings give the same events; comments and unknown fields are
// ignored), the state it builds (bad items refused), and the map layout (deterministic, one edge per pair).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { SseParser, type SseEvent } from '../common/sse.js';
import { applyEvent, emptySnapshot, flowsIn, namespacesOf } from '../collector/web/client/model.js';
import { layout, thickness } from '../collector/web/client/layout.js';
import { recency } from '../collector/web/client/format.js';
import type { Flow } from '../collector/store/drops.js';

const field = fc.stringMatching(/^[a-z]{1,8}$/);
/** Data without CR/LF (those split data lines); may start with a space or contain colons. */
const dataLine = fc.string({ maxLength: 40 }).filter((s) => !/[\r\n]/.test(s));
const event = fc.record({
  type: fc.option(field, { nil: undefined }),
  lines: fc.array(dataLine, { minLength: 1, maxLength: 4 }),
  comment: fc.option(dataLine, { nil: undefined }),
});

function serialize(evs: { type?: string; lines: string[]; comment?: string }[], eol: readonly string[]): string {
  let out = '',
    i = 0;
  const nl = () => eol[i++ % eol.length];
  for (const e of evs) {
    if (e.comment !== undefined) out += `:${e.comment}${nl()}`;
    if (e.type) out += `event: ${e.type}${nl()}`;
    for (const l of e.lines) out += `data: ${l}${nl()}`;
    out += nl();
  }
  return out;
}

function chunked(text: string, cuts: number[]): string[] {
  const at = [...new Set(cuts.map((c) => c % (text.length + 1)))].sort((a, b) => a - b);
  const out: string[] = [];
  let prev = 0;
  for (const c of at) {
    out.push(text.slice(prev, c));
    prev = c;
  }
  out.push(text.slice(prev));
  return out;
}

// A CR line ending followed by an empty LF line would read as one CRLF (the format's own ambiguity), so a
// stream mixes LF and CRLF, or uses CR alone.
const eols = fc.oneof(fc.array(fc.constantFrom('\n', '\r\n'), { minLength: 1, maxLength: 5 }), fc.constant(['\r']));

test('any chunking and any mix of CRLF, LF and CR give the same events', () => {
  fc.assert(
    fc.property(fc.array(event, { maxLength: 8 }), eols, fc.array(fc.nat(), { maxLength: 12 }), (evs, eol, cuts) => {
      const p = new SseParser();
      const got: SseEvent[] = [];
      for (const c of chunked(serialize(evs, eol), cuts)) got.push(...p.feed(c));
      assert.equal(
        got,
        evs.map((e) => ({ type: e.type ?? 'message', data: e.lines.join('\n') })),
      );
    }),
    { numRuns: 500 },
  );
});

test("the standard's details: one leading space stripped, field without colon, id kept, empty data not dispatched", () => {
  const p = new SseParser();
  assert.equal(p.feed('data:x\ndata:  y\n\n'), [{ type: 'message', data: 'x\n y' }]);
  assert.equal(p.feed('data\n\n'), [{ type: 'message', data: '' }]);
  assert.equal(
    p.feed('event: drop\n\n'),
    [],
    'no data: nothing dispatched, and the type does not leak into the next event',
  );
  assert.equal(p.feed('id: 7\nretry: 10\nfoo: bar\ndata: z\n\n'), [{ type: 'message', data: 'z', id: '7' }]);
  assert.equal(p.feed(': keepalive\n\n'), []);
  assert.equal(p.feed('data: half'), [], 'an unfinished event waits');
  assert.equal(p.feed('\r'), []);
  assert.equal(
    p.feed('\n\n'),
    [{ type: 'message', data: 'half', id: '7' }],
    'a CRLF split across chunks is one line ending',
  );
});

const flow = (src: [string, string?], dst: [string, string?], port: number, count: number, last: number): Flow => ({
  node: 'n1',
  prefix: 'calico-packet:',
  proto: 'TCP',
  count,
  firstSeen: new Date(last - 1000).toISOString(),
  lastSeen: new Date(last).toISOString(),
  src: { ip: `10.0.0.${src[0].length}`, ...(src[1] ? { pod: { namespace: src[1], name: src[0] } } : {}) },
  dst: { ip: `10.0.1.${dst[0].length}`, port, ...(dst[1] ? { pod: { namespace: dst[1], name: dst[0] } } : {}) },
});

test('the model keeps the newest item per flow, finding and node, and refuses what it cannot read', () => {
  const s = emptySnapshot();
  const f = flow(['web-0', 'shop'], ['db-0', 'shop'], 5432, 1, 1000);
  assert.ok(applyEvent(s, { type: 'drop', data: JSON.stringify(f) }));
  assert.ok(applyEvent(s, { type: 'drop', data: JSON.stringify({ ...f, count: 5 }) }));
  assert.is(s.flows.size, 1);
  assert.is([...s.flows.values()][0].count, 5);
  assert.ok(applyEvent(s, { type: 'node', data: JSON.stringify({ node: 'n1', state: 'healthy' }) }));
  assert.ok(
    applyEvent(s, {
      type: 'finding',
      data: JSON.stringify({ node: 'n1', kind: 'IPForwardingDisabled', severity: 'critical', active: true }),
    }),
  );
  for (const bad of [
    { type: 'drop', data: '{' },
    { type: 'drop', data: '{"src":{}}' },
    { type: 'drop', data: 'null' },
    { type: 'node', data: '[]' },
    { type: 'other', data: '{}' },
  ])
    assert.not.ok(applyEvent(s, bad), bad.data);
  assert.equal([s.flows.size, s.nodes.size, s.findings.size], [1, 1, 1]);
  // Findings of one kind on one node that differ only by key are two rows; the same key again is one.
  const pids = (key: string, active: boolean) =>
    JSON.stringify({ node: 'n1', kind: 'PodPIDsExhausted', key, severity: 'warning', active });
  for (const data of [pids('uid-a', true), pids('uid-b', true), pids('uid-a', false)])
    applyEvent(s, { type: 'finding', data });
  assert.equal(
    [...s.findings.values()].filter((f) => f.kind === 'PodPIDsExhausted').map((f) => [f.key, f.active]),
    [
      ['uid-a', false],
      ['uid-b', true],
    ],
  );
});

test('layout: namespaces as sorted columns, one edge per pair with summed counts, same picture for any input order', () => {
  const flows = [
    flow(['web-0', 'shop'], ['db-0', 'shop'], 5432, 3, 5000),
    flow(['web-0', 'shop'], ['db-0', 'shop'], 6379, 2, 9000),
    flow(['web-0', 'shop'], ['ledger-0', 'payments'], 443, 1, 7000),
    flow(['db-0', 'shop'], ['web-0', 'shop'], 80, 1, 1000),
    flow(['198.51.100.7'], ['web-0', 'shop'], 22, 4, 2000),
  ];
  const a = layout(flows),
    b = layout([...flows].reverse());
  assert.equal(a, b);
  assert.equal(
    a.columns.map((c) => c.title),
    ['payments', 'shop', 'other addresses'],
  );
  assert.is(a.edges.length, 4);
  const pair = a.edges.find((e) => e.id === 'pod:shop/web-0>pod:shop/db-0')!;
  assert.equal([pair.count, pair.flows.map((f) => f.dst.port)], [5, [6379, 5432]]);
  const back = a.edges.find((e) => e.id === 'pod:shop/db-0>pod:shop/web-0')!;
  assert.is.not(back.path, pair.path, 'opposite directions are drawn apart');
  assert.ok(thickness(1000) > thickness(5) && thickness(5) > thickness(1) && thickness(1e9) === 12);
  assert.equal([recency(0, 30_000), recency(0, 120_000), recency(0, 3_600_000)], ['now', 'recent', 'old']);
  assert.equal(namespacesOf(flows), ['payments', 'shop']);
  assert.equal(
    [...flowsIn(flows, 'payments')].map((f) => f.dst.port),
    [443],
  );
  assert.is([...flowsIn(flows, '')].length, flows.length);
  const natural = layout([
    flow(['a', 'ns-10'], ['b', 'ns-2'], 1, 1, 1),
    flow(['pod-10', 'ns-2'], ['pod-9', 'ns-2'], 1, 1, 1),
  ]);
  assert.equal(
    natural.columns.map((c) => c.title),
    ['ns-2', 'ns-10'],
    'natural order: ns-2 before ns-10',
  );
  assert.equal(
    natural.vertices.filter((v) => v.id.startsWith('pod:ns-2/')).map((v) => v.label),
    ['b', 'pod-9', 'pod-10'],
  );
});

test.run();
