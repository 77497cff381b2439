// Replicas of the Event path, as pure logic: exact counts across a replica crash — the Event's record
// of the stream sequences it counts (collector/events/applied.ts; the protocol skipping what is
// already counted is in test/events-protocol.test.ts), when a message may be acked (acks.ts) — and
// the budget they share (replicas.ts, token-bucket.ts, correlator.ts). The same under a real SIGKILL,
// against a real kube-apiserver and a 3-node NATS cluster: test/scale-fault.test.ts; the shared
// budget: test/kube-events-scale.test.ts.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { MAX_RANGES, SeqRanges } from '../collector/events/applied.js';
import { AckTracker } from '../collector/events/acks.js';
import { Correlator, MAX_PARTS, type WriteTask } from '../collector/events/correlator.js';
import { ReplicaCount, shareOf } from '../collector/events/replicas.js';
import { TokenBucket } from '../collector/events/token-bucket.js';
import type { Observation } from '../collector/events/messages.js';

const NOW = Date.parse('2026-03-01T12:00:00Z');
const EPOCH = Date.parse('2026-03-01T00:00:00Z');
const pos = (floor = 0) => ({ epoch: EPOCH, floor });
/** Every sequence the ranges hold (small test ranges only). */
const expand = (r: SeqRanges) => r.ranges.flatMap(([a, b]) => Array.from({ length: b - a + 1 }, (_, i) => a + i));
const fmt = (seqs: number[], floor = 0) => SeqRanges.of(seqs).format(pos(floor));

test('applied: ranges round-trip, pruned at the floor, another stream or junk counts nothing', () => {
  assert.is(fmt([7, 3, 4, 5, 9, 10, 3]), `${EPOCH}:3-5,7,9-10`);
  const r = SeqRanges.parse(`${EPOCH}:3-5,7,9-10`, EPOCH);
  assert.equal(expand(r), [3, 4, 5, 7, 9, 10]);
  assert.equal(
    [2, 3, 6, 7, 8, 10, 11].map((s) => r.has(s)),
    [false, true, false, true, false, true, false],
  );
  assert.is(r.with([6, 8, 11]).format(pos()), `${EPOCH}:3-11`, 'a union merges adjacent ranges');
  assert.is(fmt([3, 4, 5, 7], 4), `${EPOCH}:5,7`);
  assert.is(SeqRanges.parse(`${EPOCH}:1-100`, EPOCH).format(pos(40)), `${EPOCH}:41-100`, 'a range is clipped');
  assert.is(fmt([3, 4], 4), undefined, 'all acked: nothing to record');
  assert.is(SeqRanges.of([3]).format({ epoch: 0, floor: 0 }), undefined, 'stream not known yet');
  assert.is(SeqRanges.parse(`${EPOCH + 1}:3-5`, EPOCH).ranges.length, 0, 'a re-created stream');
  for (const junk of [
    undefined,
    42,
    '',
    'x',
    `${EPOCH}`,
    `${EPOCH}:`,
    `${EPOCH}:a-b,-3,5-`,
    `${EPOCH}:9-3`,
    `${EPOCH}:0`,
  ])
    assert.is(SeqRanges.parse(junk, EPOCH).ranges.length, 0, String(junk));
  const many = Array.from({ length: MAX_RANGES + 50 }, (_, i) => i * 2 + 1);
  const kept = SeqRanges.parse(fmt(many), EPOCH);
  assert.is(kept.ranges.length, MAX_RANGES, 'bounded: the newest ranges stay');
  assert.ok(kept.has(many[many.length - 1]) && !kept.has(1));
  // a forged annotation naming a quadrillion sequences is one range, not a quadrillion of anything
  const forged = SeqRanges.parse(`${EPOCH}:1-999999999999999`, EPOCH);
  assert.equal([forged.ranges.length, forged.has(123456789)], [1, true]);
});

test('applied: property — parse(format(s)) is s above the floor; any value parses into bounded, ordered ranges', () => {
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 1, max: 5000 }), { maxLength: 200 }), fc.nat(5000), (seqs, floor) => {
      const want = [...new Set(seqs.filter((s) => s > floor))].sort((a, b) => a - b);
      const got = expand(SeqRanges.parse(fmt(seqs, floor), EPOCH));
      if (want.length > MAX_RANGES) return got.length <= want.length;
      return JSON.stringify(got) === JSON.stringify(want) && seqs.every((s) => s <= floor || got.includes(s));
    }),
    { numRuns: 300 },
  );
  fc.assert(
    fc.property(fc.string({ maxLength: 300 }), (junk) => {
      const r = SeqRanges.parse(`${EPOCH}:${junk}`, EPOCH).ranges;
      return r.length <= MAX_RANGES && r.every(([a, b], i) => a <= b && (i === 0 || a > r[i - 1][1] + 1));
    }),
    { numRuns: 300 },
  );
});

test('correlator: parts follow the pending count, back to pending on a failure', () => {
  const c = new Correlator({ objectBurst: 10, objectRefillMs: 1000, updateIntervalMs: 0 });
  const ob = (seq: number, count: number): Observation => ({
    object: { kind: 'Pod', namespace: 'shop', name: 'web-1', uid: 'u-1' },
    type: 'Warning',
    reason: 'PacketDrop',
    message: 'dropped',
    host: 'node-a',
    count,
    firstMs: NOW,
    lastMs: NOW,
    seq,
  });
  const key = c.observe(ob(1, 2), NOW);
  assert.ok(key);
  assert.is(c.observe(ob(1, 1), NOW), key);
  c.observe(ob(2, 5), NOW);
  const t = c.next(NOW) as WriteTask;
  assert.equal(
    [...(t.parts ?? [])],
    [
      [1, 3],
      [2, 5],
    ],
  );
  assert.is(t.delta, 8);
  c.observe(ob(3, 1), NOW);
  c.complete(t, { ok: false, retryAt: NOW }, NOW);
  const again = c.next(NOW + 1) as WriteTask;
  assert.equal([...(again.parts ?? [])].sort(), [
    [1, 3],
    [2, 5],
    [3, 1],
  ]);
  assert.is(again.delta, 9);
  // Held back long (API server down): the oldest sequences are forgotten, never their occurrences.
  const last = 10 + MAX_PARTS + 10;
  for (let seq = 10; seq < last; seq++) c.observe(ob(seq, 1), NOW);
  c.complete(again, { ok: false, retryAt: NOW }, NOW);
  const held = c.next(NOW + 2) as WriteTask;
  assert.is(held.delta, 9 + MAX_PARTS + 10);
  assert.is(held.parts?.size, MAX_PARTS);
  assert.ok(held.parts?.has(last - 1) && !held.parts?.has(10));
});

test('acks: a message is acked when its last Event is written, at once with none, or after the hold', () => {
  let now = 0;
  const acked: number[] = [];
  const a = new AckTracker(20_000, () => now);
  a.hold(1, new Set(['src', 'dst']), () => acked.push(1));
  a.hold(2, new Set(), () => acked.push(2));
  a.hold(3, new Set(['src']), () => acked.push(3));
  assert.equal(acked, [2], 'nothing to write: acked now');
  a.settle('src', [1, 3]);
  assert.equal(acked, [2, 3]);
  a.settle('src', [1]);
  assert.equal(acked, [2, 3], 'a second settle of the same Event is not the other one');
  now = 5000;
  a.hold(4, new Set(['x']), () => acked.push(4));
  now = 20_000;
  assert.is(a.expire(), 1);
  assert.equal(acked, [2, 3, 1], 'held 20 s: acked anyway');
  a.hold(4, new Set(['y']), () => acked.push(40)); // redelivered while held: the newer ack counts
  a.settle('x', [4]);
  assert.equal(acked, [2, 3, 1]);
  a.settle('y', [4]);
  assert.equal(acked, [2, 3, 1, 40]);
  assert.is(a.size, 0);
});

test('replicas: counted from announcements within the window, a goodbye at once; the budget split among those with work, never below one', () => {
  const r = new ReplicaCount('me', 15_000);
  assert.is(r.count(0), 1, 'alone');
  assert.is(r.heard('me', 0), false, 'itself');
  assert.is(r.heard('b', 0), true, 'a newcomer');
  assert.is(r.heard('b', 0), false, 'known');
  r.heard('c', 1000);
  assert.is(r.count(1000), 3);
  assert.is(r.count(15_500), 2, 'b not heard for 15.5 s');
  r.gone('c');
  assert.is(r.count(15_500), 1);
  // The budget is divided among the replicas with Event work; this one always counts itself.
  assert.is(r.divisor(15_500), 1, 'alone');
  r.heard('d', 16_000, false);
  assert.is(r.divisor(16_000), 1, 'an idle replica leaves its part to the busy ones');
  r.heard('d', 16_500, true);
  r.heard('e', 16_500, true);
  assert.is(r.count(16_500), 3);
  assert.is(r.divisor(16_500), 3, 'two others with work');
  r.heard('e', 17_000, false);
  assert.is(r.divisor(17_000), 2, 'e is done');
  assert.is(r.divisor(32_000), 1, 'd not heard for 15.5 s');
  assert.equal(shareOf(5, 50, 2), { qps: 2.5, burst: 25 });
  assert.equal(shareOf(5, 50, 0), { qps: 5, burst: 50 });
  assert.equal(shareOf(1, 1, 3), { qps: 1 / 3, burst: 1 });
});

test('correlator: an object budget shared by two replicas gives this one half of it', () => {
  const c = new Correlator({ objectBurst: 4, objectRefillMs: 60_000, updateIntervalMs: 0 });
  const ob = (message: string): Observation => ({
    object: { kind: 'Pod', namespace: 'shop', name: 'web-1', uid: 'u-1' },
    type: 'Warning',
    reason: 'PacketDrop',
    message,
    host: 'node-a',
    count: 1,
    firstMs: NOW,
    lastMs: NOW,
  });
  const writes = () => {
    let n = 0;
    for (let t = c.next(NOW); t && !('waitMs' in t); t = c.next(NOW)) n++;
    return n;
  };
  c.share(2, NOW);
  for (const m of ['a', 'b', 'c', 'd']) c.observe(ob(m), NOW);
  assert.is(writes(), 2, 'burst 4 / 2 replicas');
  c.share(1, NOW);
  for (const m of ['e', 'f', 'g', 'h']) c.observe(ob(m), NOW);
  assert.is(writes(), 0, 'alone again: the bucket refills at the full rate, but what was spent stays spent');
});

test('token bucket reshape: keeps what was earned up to the new burst, refills at the new rate', () => {
  const b = new TokenBucket(10, 100, 0);
  for (let i = 0; i < 90; i++) b.take(0);
  b.reshape(5, 50, 0);
  let n = 0;
  while (b.take(0)) n++;
  assert.is(n, 10, 'the 10 tokens left stay');
  b.reshape(5, 5, 0);
  assert.is(b.waitMs(0), 200, 'one token per 200 ms at 5/s');
  assert.ok(b.available(1000) && b.full(1000), 'full at the new burst of 5 after 1 s');
});

test.run();
