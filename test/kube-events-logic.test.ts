// Pure decision code of the Kubernetes side: Event texts and names, the correlator's rate limiting
// (simulated clock), the pod cache's IP ownership over time, and its memory per 10,000 pods.
// Run: node --import tsx test/kube-events-logic.test.ts
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Correlator, type WriteTask } from '../collector/events/correlator.js';
import { TokenBucket } from '../collector/events/token-bucket.js';
import {
  dropObservations,
  eventName,
  eventBody,
  peerText,
  findingObservation,
  sendingMessage,
  receivingMessage,
  type Observation,
} from '../collector/events/messages.js';
import { envelopeObservations } from '../collector/events/pipeline.js';
import { PodCache, type PodJson } from '../collector/kube/pod-cache.js';
import type { ValidEnvelope } from '../proto/codec.js';
import { pb } from '../proto/codec.js';
import { listInto } from './support/pods.js';

const web = { kind: 'pod' as const, namespace: 'shop', name: 'web-0', uid: 'uid-web', node: 'node-a' };
const db = { kind: 'pod' as const, namespace: 'shop', name: 'db-0', uid: 'uid-db', node: 'node-b' };

test('messages: both sides, pod / node / bare-IP peers, ICMP without a port (docs/architecture.md#events)', () => {
  const obs = dropObservations(
    { src: '10.244.0.4', dst: '10.244.1.6', proto: 'TCP', dstPort: 5432, count: 3, firstSeenMs: 1, lastSeenMs: 2 },
    web,
    db,
    'node-a',
  );
  assert.equal(
    obs.map((o) => [o.object.name, o.object.uid, o.message]),
    [
      ['web-0', 'uid-web', 'Packet dropped when sending traffic to shop/db-0 (10.244.1.6) on port 5432/TCP'],
      ['db-0', 'uid-db', 'Packet dropped when receiving traffic from shop/web-0 (10.244.0.4) on port 5432/TCP'],
    ],
  );
  assert.ok(
    obs.every((o) => o.type === 'Warning' && o.reason === 'PacketDrop' && o.host === 'node-a' && o.count === 3),
  );
  assert.is(peerText('192.0.2.11', { kind: 'node', name: 'node-b' }), 'node/node-b (192.0.2.11)');
  assert.is(peerText('8.8.8.8', undefined), '8.8.8.8');
  assert.is(sendingMessage('8.8.8.8', 'ICMP', undefined), 'Packet dropped when sending traffic to 8.8.8.8 on ICMP');
  assert.is(
    receivingMessage('fd00::1', 'ICMPV6', null),
    'Packet dropped when receiving traffic from fd00::1 on ICMPV6',
  );
  assert.is(sendingMessage('8.8.8.8', 'UDP', 53), 'Packet dropped when sending traffic to 8.8.8.8 on port 53/UDP');
  // a node IP or unknown IP gets no Event of its own
  const one = dropObservations(
    { src: '192.0.2.11', dst: '10.244.0.4', proto: 'TCP', dstPort: 80, count: 1, firstSeenMs: 1, lastSeenMs: 1 },
    { kind: 'node', name: 'node-b' },
    web,
    'node-a',
  );
  assert.is(one.length, 1);
  assert.is(one[0].message, 'Packet dropped when receiving traffic from node/node-b (192.0.2.11) on port 80/TCP');
  assert.is(
    dropObservations(
      { src: '1.1.1.1', dst: '2.2.2.2', proto: 'TCP', dstPort: 1, count: 1, firstSeenMs: 1, lastSeenMs: 1 },
      undefined,
      undefined,
      'n',
    ).length,
    0,
  );
});

test('event names: deterministic from (uid, reason, message), DNS-subdomain safe, distinct per message', () => {
  const a = eventName('web-0', 'uid-web', 'PacketDrop', 'm1');
  assert.is(a, eventName('web-0', 'uid-web', 'PacketDrop', 'm1'));
  assert.match(a, /^web-0\.[0-9a-f]{16}$/);
  assert.is.not(a, eventName('web-0', 'uid-web', 'PacketDrop', 'm2'));
  assert.is.not(a, eventName('web-0', 'uid-other', 'PacketDrop', 'm1'));
  const long = eventName('a'.repeat(252) + '-', 'u', 'r', 'm');
  assert.ok(long.length <= 253);
  assert.match(long, /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/);
  assert.match(eventName('Node.Name_X', 'u', 'r', 'm'), /^node\.name-x\.[0-9a-f]{16}$/);
  const body = eventBody(
    'n1',
    { kind: 'Node', name: 'node-a', uid: 'nuid' },
    { type: 'Warning', reason: 'IPForwardingDisabled', message: 'x', host: 'node-a' },
    1,
    0,
    1500,
  ) as any;
  assert.is(body.metadata.namespace, 'default');
  assert.equal(body.involvedObject, { apiVersion: 'v1', kind: 'Node', name: 'node-a', uid: 'nuid' });
  assert.equal(body.source, { component: 'nodewarden', host: 'node-a' });
  assert.is(body.lastTimestamp, '1970-01-01T00:00:01Z');
});

test('findings: node finding -> Node, pod finding -> pod by uid, info and cleared are Normal', () => {
  const env = (finding: Record<string, unknown>): ValidEnvelope => ({
    node: 'node-a',
    agentId: 'a',
    seq: 1,
    sentMs: 0,
    agentVersion: 'v',
    body: 'finding',
    adjusted: { droppedRecords: 0, droppedReasons: {}, truncated: 0 },
    msg: pb.Envelope.create({ node: 'node-a', finding: pb.Finding.create(finding as any) }),
  });
  const resolver = {
    resolve: () => undefined,
    podByUid: (u: string) => (u === 'uid-db' ? db : undefined),
    ready: () => true,
  };
  const [n] = envelopeObservations(
    env({ kind: 'IPForwardingDisabled', severity: 'critical', active: true, message: 'net.ipv4.ip_forward = 0' }),
    resolver,
    1000,
  );
  assert.equal(n.object, { kind: 'Node', name: 'node-a' });
  assert.is(n.type, 'Warning');
  assert.is(n.reason, 'IPForwardingDisabled');
  const [p] = envelopeObservations(
    env({
      kind: 'PodPIDsExhausted',
      severity: 'warning',
      active: true,
      message: 'pids 100/100',
      pod: { uid: 'uid-db' },
    }),
    resolver,
    1000,
  );
  assert.equal(p.object, { kind: 'Pod', namespace: 'shop', name: 'db-0', uid: 'uid-db' });
  assert.is(
    envelopeObservations(
      env({ kind: 'PodPIDsExhausted', severity: 'warning', active: true, message: 'x', pod: { uid: 'unknown' } }),
      resolver,
      1000,
    ).length,
    0,
  );
  assert.is(
    findingObservation(
      { kind: 'X', severity: 'info', active: true, message: 'm' },
      { kind: 'Node', name: 'n' },
      'n',
      1,
    )!.type,
    'Normal',
  );
  assert.is(
    findingObservation(
      { kind: 'X', severity: 'critical', active: false, message: 'm' },
      { kind: 'Node', name: 'n' },
      'n',
      1,
    )!.type,
    'Normal',
  );
});

test('token bucket: burst, then the rate', () => {
  const b = new TokenBucket(2, 3, 0);
  assert.ok(b.take(0) && b.take(0) && b.take(0));
  assert.not.ok(b.take(0));
  assert.is(b.waitMs(0), 500);
  assert.ok(b.take(500));
  assert.not.ok(b.take(600));
});

const obs = (name: string, message: string, count = 1, at = 0): Observation => ({
  object: { kind: 'Pod', namespace: 'ns', name, uid: `uid-${name}` },
  type: 'Warning',
  reason: 'PacketDrop',
  message,
  host: 'n',
  count,
  firstMs: at,
  lastMs: at,
});

/** Drives a correlator with an always-succeeding server and a global bucket, on a simulated clock. */
function simulate(c: Correlator, global: TokenBucket, feed: (now: number) => void, untilMs: number, stepMs = 10) {
  const server = new Map<string, number>(); // key -> count
  const writes: number[] = [];
  for (let now = 0; now <= untilMs; now += stepMs) {
    feed(now);
    for (;;) {
      if (!global.available(now)) break;
      const t = c.next(now);
      if (!t || 'waitMs' in t) break;
      global.take(now);
      writes.push(now);
      const count = (server.get(t.key) ?? 0) + t.delta;
      server.set(t.key, count);
      c.complete(
        t,
        { ok: true, known: { name: t.key, count, resourceVersion: String(writes.length), lastMs: t.lastMs } },
        now,
      );
    }
  }
  return { server, writes };
}

test('correlator: repeats fold into counts, the global budget holds, nothing is lost', () => {
  const c = new Correlator({ objectBurst: 5, objectRefillMs: 1000, updateIntervalMs: 2000 });
  const global = new TokenBucket(10, 20, 0);
  // 200 flows x 50 occurrences fed over 3 s: 40 pods, 10 messages each
  let fed = 0;
  const { server, writes } = simulate(
    c,
    global,
    (now) => {
      if (now >= 3000 || now % 100 !== 0) return;
      const n = (now / 100) % 3 === 0 ? 2 : 1;
      for (let f = 0; f < 200; f++) {
        c.observe(obs(`p${f % 40}`, `m${f}`, n, now), now);
        fed += n;
      }
    },
    120_000,
  );
  const total = [...server.values()].reduce((a, b) => a + b, 0);
  assert.is(total, fed);
  assert.is(server.size, 200);
  assert.is(c.pendingTotal(), 0);
  // budget: in any window [t_i, t_j], writes <= burst + qps * (t_j - t_i)
  for (let i = 0; i < writes.length; i++)
    for (let j = i; j < writes.length; j += 7)
      assert.ok(j - i + 1 <= 20 + (10 * (writes[j] - writes[i])) / 1000 + 1e-9, `window ${i}..${j}`);
  assert.ok(c.stats.suppressed > 0);
});

test('correlator: a noisy object cannot take the budget from the others; new Events go first', () => {
  const c = new Correlator({ objectBurst: 2, objectRefillMs: 10_000, updateIntervalMs: 0 });
  for (let i = 0; i < 10; i++) c.observe(obs('noisy', `m${i}`), 0);
  c.observe(obs('quiet', 'q'), 0);
  const got: string[] = [];
  for (let i = 0; i < 5; i++) {
    const t = c.next(0);
    if (!t || 'waitMs' in t) break;
    got.push(t.object.name);
  }
  assert.equal(got, ['noisy', 'noisy', 'quiet']);
  const w = c.next(0) as { waitMs: number };
  assert.ok(w.waitMs > 0 && w.waitMs <= 10_000);
  // shutdown drain: the per-object limit no longer holds pending counts back
  assert.is((c.next(0, 5000, true) as WriteTask).object.name, 'noisy');
});

test('correlator: a failed write (5xx, 403) returns its count to pending; an invalid one is discarded', () => {
  const c = new Correlator({ objectBurst: 10, objectRefillMs: 1000, updateIntervalMs: 0 });
  c.observe(obs('a', 'm', 7), 0);
  const t = c.next(0) as WriteTask;
  assert.is(t.delta, 7);
  c.observe(obs('a', 'm', 3), 1);
  c.complete(t, { ok: false, retryAt: 100 }, 1);
  assert.ok('waitMs' in (c.next(50) as object));
  const t2 = c.next(100) as WriteTask;
  assert.is(t2.delta, 10);
  c.complete(t2, { ok: false, drop: true, retryAt: 200 }, 100);
  assert.is(c.stats.discarded, 10);
  assert.is(c.pendingTotal(), 0);
});

const pod = (
  name: string,
  ip: string | undefined,
  o: { uid?: string; node?: string; hostIP?: string; phase?: string; created?: string; hostNetwork?: boolean } = {},
): PodJson => ({
  metadata: {
    namespace: 'ns',
    name,
    uid: o.uid ?? `uid-${name}`,
    creationTimestamp: o.created ?? '2026-01-01T00:00:00Z',
  },
  spec: { nodeName: o.node ?? 'node-a', hostNetwork: o.hostNetwork },
  status: { phase: o.phase ?? 'Running', podIP: ip, podIPs: ip ? [{ ip }] : [], hostIP: o.hostIP ?? '192.0.2.10' },
});

test('pod cache: pod IPs, host IPs -> node, deleted pods answer during the grace period only', () => {
  let now = Date.parse('2026-01-01T01:00:00Z');
  const c = new PodCache(60_000, () => now);
  listInto(c, [pod('a', '10.0.0.1'), pod('hn', '192.0.2.10', { hostNetwork: true })]);
  assert.ok(c.ready());
  assert.is((c.resolve('10.0.0.1') as any).name, 'a');
  assert.equal(c.resolve('192.0.2.10'), { kind: 'node', name: 'node-a' });
  assert.is(c.podByName('ns', 'hn')?.uid, 'uid-hn', 'host-network pods are known by name');
  c.remove(pod('a', '10.0.0.1'));
  assert.is(c.podByName('ns', 'a'), undefined);
  now += 30_000;
  assert.is((c.resolve('10.0.0.1') as any)?.name, 'a');
  assert.is(c.podByUid('uid-a')?.name, 'a');
  now += 31_000;
  assert.is(c.resolve('10.0.0.1'), undefined);
  assert.is(c.podByUid('uid-a'), undefined);
});

test('pod cache: a reused IP is attributed by the drop time; finished pods let go of their IPs', () => {
  let now = Date.parse('2026-01-01T01:00:00Z');
  const c = new PodCache(300_000, () => now);
  listInto(c, [pod('old', '10.0.0.9', { created: '2026-01-01T00:00:00Z' })]);
  const beforeDelete = now - 1000;
  now += 1000;
  c.remove(pod('old', '10.0.0.9'));
  now += 1000;
  c.upsert(pod('new', '10.0.0.9', { created: new Date(now).toISOString() }));
  assert.is((c.resolve('10.0.0.9') as any).name, 'new');
  assert.is((c.resolve('10.0.0.9', beforeDelete) as any).name, 'old');
  assert.is((c.resolve('10.0.0.9', now + 5) as any).name, 'new');
  // a Succeeded pod keeps its podIP in status but no longer owns it
  c.upsert(pod('job', '10.0.0.7'));
  now += 1000;
  c.upsert(pod('job', '10.0.0.7', { phase: 'Succeeded' }));
  c.upsert(pod('next', '10.0.0.7', { created: new Date(now).toISOString() }));
  assert.is((c.resolve('10.0.0.7') as any).name, 'next');
  // an IP change on a live pod
  c.upsert(pod('mover', '10.0.1.1'));
  c.upsert(pod('mover', '10.0.1.2'));
  assert.is((c.resolve('10.0.1.2') as any).name, 'mover');
  assert.is((c.resolve('10.0.1.1') as any).name, 'mover'); // still within grace for late drops
});

test('pod cache memory: 10,000 pods (dual-stack) stay far below 60 MiB', () => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const mk = (i: number): PodJson => ({
    metadata: {
      namespace: `team-${i % 200}`,
      name: `service-${i % 1000}-deployment-7d9c8b6f5-${(i * 7919).toString(36).padStart(5, 'x')}`,
      uid: `0f6c1b2a-3d4e-4f50-8a9b-${i.toString(16).padStart(12, '0')}`,
      creationTimestamp: '2026-01-01T00:00:00Z',
    },
    spec: { nodeName: `node-${i % 100}.cluster.example.com` },
    status: {
      phase: 'Running',
      podIP: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
      podIPs: [{ ip: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}` }, { ip: `fd00:10:244::${i.toString(16)}` }],
      hostIP: `192.0.${Math.floor((i % 100) / 250)}.${i % 100}`,
    },
  });
  gc();
  gc();
  const before = process.memoryUsage().heapUsed;
  const c = new PodCache(300_000);
  listInto(
    c,
    Array.from({ length: 10_000 }, (_, i) => mk(i)),
  );
  gc();
  gc();
  const mib = (process.memoryUsage().heapUsed - before) / 1024 / 1024;
  console.log(`    pod cache: ${c.size} pods, ${c.stats().ips} IPs -> ${mib.toFixed(1)} MiB heap`);
  assert.is(c.size, 10_000);
  assert.ok(mib < 60, `${mib} MiB`);
});

test.run();
