// The collector's bounds, pure: the de-dup ring (per node, across its wrap-around), the flow store
// bounded by estimated bytes with every eviction counted and one log per episode, retention that no
// time escapes, per-node finding counters kept on apply, node records that expire, top-k pages.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SeenSet } from '../collector/ingest/dedup.js';
import { applyEnvelope, type Stores } from '../collector/ingest/apply.js';
import { IpIndex } from '../collector/resolve/resolver.js';
import { DropStore } from '../collector/store/drops.js';
import { FindingStore } from '../collector/store/findings.js';
import { NodeStore } from '../collector/store/nodes.js';
import { topK } from '../collector/store/top.js';
import type { EvictReason } from '../collector/store/budget.js';
import { decodeEnvelope, encodeEnvelope, type PacketDrop, type Finding } from '../proto/codec.js';

const T0 = Date.parse('2026-12-03T12:00:00Z');
const drop = (i: number, over: Partial<PacketDrop> = {}): PacketDrop => ({
  prefix: 'calico-packet:',
  family: 4,
  proto: 'TCP',
  src: `10.1.${(i >> 8) & 255}.${i & 255}`,
  dst: '10.2.0.1',
  dstPort: 443,
  count: 1,
  firstSeenMs: T0 + i,
  lastSeenMs: T0 + i,
  inIface: 'cali1',
  outIface: 'eth0',
  sample: 'x'.repeat(2048),
  ...over,
});

test('de-dup: a repeat inside the window is refused, one that fell out of the ring is applied again; exactly max keys kept', () => {
  const s = new SeenSet(4);
  for (let seq = 1; seq <= 4; seq++) assert.ok(s.firstTime('node-a', 'agent', seq));
  assert.not.ok(s.firstTime('node-a', 'agent', 1), 'still in the ring');
  assert.ok(s.firstTime('node-a', 'agent', 5), 'wraps around, forgetting seq 1');
  assert.is(s.size, 4);
  assert.ok(s.firstTime('node-a', 'agent', 1), 'seq 1 was the oldest: forgotten');
  assert.not.ok(s.firstTime('node-a', 'agent', 5));
  assert.not.ok(s.firstTime('node-a', 'agent', 4));
  assert.ok(s.firstTime('node-a', 'agent', 2), 'seq 2 went when seq 1 came back');
  assert.is(s.size, 4);
  // Many wraps: the Set never grows past the ring.
  const big = new SeenSet(1000);
  for (let seq = 1; seq <= 10_500; seq++) big.firstTime('n', 'a', seq);
  assert.is(big.size, 1000);
  assert.not.ok(big.firstTime('n', 'a', 10_500));
  assert.not.ok(big.firstTime('n', 'a', 9_501));
  assert.ok(big.firstTime('n', 'a', 9_500));
});

test("de-dup: node-b reusing node-a's agent id and seqs does not suppress node-a (nor do names that contain the separator)", () => {
  const stores: Stores = {
    drops: new DropStore(new IpIndex([])),
    findings: new FindingStore(new IpIndex([])),
    nodes: new NodeStore(60_000),
  };
  const seen = new SeenSet(10);
  const env = (node: string, seq: number) =>
    decodeEnvelope(encodeEnvelope({ node, agentId: 'same-agent', seq, sentMs: T0, drops: { drops: [drop(seq)] } }));
  assert.is(applyEnvelope(env('node-b', 1), stores, seen, T0).kind, 'drops');
  assert.is(applyEnvelope(env('node-a', 1), stores, seen, T0).kind, 'drops', 'node-a seq 1 is not node-b seq 1');
  assert.is(applyEnvelope(env('node-a', 1), stores, seen, T0).kind, 'duplicate');
  assert.equal(stores.drops.query({ node: 'node-a', limit: 10 }).total, 1);
  const s = new SeenSet(10);
  assert.ok(s.firstTime('a/b', 'c', 1));
  assert.ok(s.firstTime('a', 'b/c', 1), 'the node\'s length keeps "a/b"+"c" apart from "a"+"b/c"');
});

test('flow store: bounded by estimated bytes; the oldest written go first, each eviction counted, one episode logged', () => {
  const evicted: EvictReason[] = [];
  const episodes: EvictReason[] = [];
  const s = new DropStore(
    new IpIndex([]),
    { maxBytes: 1_000_000, maxEntries: 1_000_000 },
    { evicted: (r) => evicted.push(r), episode: (r) => episodes.push(r) },
  );
  for (let i = 0; i < 1000; i++) s.add('n1', drop(i));
  // ≈ 2.6 KB per flow with a 2 KiB sample: about 380 fit in 1 MB.
  assert.ok(s.bytes <= 1_000_000, `estimated ${s.bytes} B within the bound`);
  assert.ok(s.size > 300 && s.size < 450, `${s.size} flows held`);
  assert.is(evicted.length, 1000 - s.size, 'every eviction counted');
  assert.ok(evicted.every((r) => r === 'bytes'));
  assert.equal(episodes, ['bytes'], 'logged once for the whole episode');
  const kept = s
    .query({ limit: 10_000 })
    .items.map((f) => Number(f.src.ip.split('.')[3]) + 256 * Number(f.src.ip.split('.')[2]));
  assert.is(Math.min(...kept), 1000 - s.size, 'the newest flows are the ones kept');
  // A flow written again is the newest again and survives the next evictions.
  const oldest = 1000 - s.size;
  s.add('n1', drop(oldest, { count: 5 }));
  for (let i = 1000; i < 1010; i++) s.add('n1', drop(i));
  assert.ok(s.query({ limit: 10_000 }).items.some((f) => f.src.ip === drop(oldest).src && f.count === 6));
  // Retention shrinks it below 90 %: the next overflow is a new episode.
  s.expire(T0 + 950);
  for (let i = 2000; i < 3000; i++) s.add('n1', drop(i));
  assert.equal(episodes, ['bytes', 'bytes']);
});

test('flow store: times that are not numbers fall back to the arrival time and expire like any other; counts that are not numbers add nothing', () => {
  const s = new DropStore(new IpIndex([]));
  s.add('n1', drop(1, { firstSeenMs: NaN, lastSeenMs: NaN }), T0 - 10_000);
  s.add('n1', drop(2, { lastSeenMs: Infinity }), T0 - 10_000);
  s.add('n1', drop(3, { lastSeenMs: 1e300, count: NaN }), T0 - 10_000);
  s.add('n1', drop(4), T0);
  const page = s.query({ limit: 10 });
  assert.is(page.total, 4);
  assert.ok(
    page.items.every((f) => Number.isFinite(Date.parse(f.lastSeen)) && Number.isFinite(f.count)),
    'every flow printable',
  );
  assert.is(s.expire(T0 - 1), 3, 'the three odd ones are not immortal');
  assert.is(s.size, 1);
});

test('findings: per-node active/critical counts follow raises, clears, severity changes and evictions; bounded by count', () => {
  const f = (_node: string, key: string, active: boolean, severity = 'critical'): Finding => ({
    kind: 'PIDPressure',
    key,
    severity,
    message: 'm',
    active,
    firstSeenMs: 0,
    lastSeenMs: 0,
  }); // 0: the arrival time counts
  const evicted: EvictReason[] = [];
  const s = new FindingStore(new IpIndex([]), { maxEntries: 3 }, { evicted: (r) => evicted.push(r) });
  s.apply('n1', f('n1', 'a', true), T0);
  s.apply('n1', f('n1', 'b', true, 'warning'), T0);
  assert.equal(s.counts('n1'), { active: 2, activeCritical: 1 });
  s.apply('n1', f('n1', 'a', true, 'warning'), T0 + 1);
  assert.equal(s.counts('n1'), { active: 2, activeCritical: 0 });
  s.apply('n1', f('n1', 'b', false), T0 + 2);
  assert.equal(s.counts('n1'), { active: 1, activeCritical: 0 });
  s.apply('n2', f('n2', 'x', true), T0 + 3);
  s.apply('n2', f('n2', 'y', true), T0 + 4);
  assert.equal(evicted, ['entries'], 'the fourth finding evicted the oldest written (n1/a)');
  assert.equal(s.counts('n1'), { active: 0, activeCritical: 0 });
  assert.equal(s.counts('n2'), { active: 2, activeCritical: 2 });
  const page = s.page({}, 2);
  assert.equal(
    [page.total, page.truncated, page.items.map((v) => v.lastSeen)],
    [3, true, [new Date(T0 + 4).toISOString(), new Date(T0 + 3).toISOString()]],
  );
  // Two findings of one kind on one node differ only by key: the API items say which is which.
  assert.equal(
    page.items.map((v) => [v.node, v.kind, v.key]),
    [
      ['n2', 'PIDPressure', 'y'],
      ['n2', 'PIDPressure', 'x'],
    ],
  );
});

test("nodes: stale and state per node, the agent's nats probe, expiry after silence, pages by name", () => {
  const s = new NodeStore(60_000);
  s.touch('b', '1.0', T0, {
    startedMs: T0 - 1000,
    probes: [
      { name: 'nats', ok: false, detail: 'publish failing: timeout' },
      { name: 'conntrack', ok: true, detail: '' },
    ],
  });
  s.touch('a', '1.0', T0 - 120_000);
  s.touch('c', '1.0', T0);
  const counts = (n: string) => (n === 'c' ? { active: 1, activeCritical: 1 } : { active: 0, activeCritical: 0 });
  const page = s.list(T0, counts, 2);
  assert.equal([page.total, page.truncated, page.items.map((n) => n.node)], [3, true, ['a', 'b']]);
  const all = s.list(T0, counts).items;
  assert.equal(
    all.map((n) => [n.node, n.healthy, n.stale, n.state, n.activeFindings]),
    [
      ['a', false, true, 'stale', 0],
      ['b', true, false, 'healthy', 0],
      ['c', false, false, 'unhealthy', 1],
    ],
  );
  assert.equal(all[1].nats, { ok: false, detail: 'publish failing: timeout' });
  assert.is(all[0].nats, undefined);
  assert.is(s.expire(T0 - 60_000), 1);
  assert.equal(
    s.list(T0, counts).items.map((n) => n.node),
    ['b', 'c'],
  );
});

test('topK: the k smallest in order, with the total, for any k', () => {
  const xs = Array.from({ length: 1000 }, (_, i) => (i * 7919) % 1000);
  for (const k of [0, 1, 5, 999, 1000, 5000]) {
    const r = topK(xs, k, (a, b) => a - b);
    assert.is(r.total, 1000);
    assert.equal(r.items, [...xs].sort((a, b) => a - b).slice(0, k));
  }
});

test.run();
