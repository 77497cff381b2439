// The collector's edge: every decodable-but-absurd envelope from the trust issue is refused with a
// named reason (or, for texts, cut), and whatever is accepted can be stored and rendered by every API
// view without throwing. Property-based (fast-check, bounded): decode never throws anything but a
// DecodeError, and accepted envelopes never make a later step throw.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import Long from 'long';
import {
  encodeEnvelope,
  decodeEnvelope,
  DecodeError,
  LIMITS,
  type Envelope,
  type ValidEnvelope,
} from '../proto/codec.js';
import { subjectFor, type BodyKind } from '../common/subjects.js';
import { applyEnvelope, SeenSet, type Stores } from '../collector/ingest/apply.js';
import { DropStore } from '../collector/store/drops.js';
import { FindingStore } from '../collector/store/findings.js';
import { NodeStore } from '../collector/store/nodes.js';
import { IpIndex } from '../collector/resolve/resolver.js';
import { nodeRuntimeFrom } from '../collector/runtime/store.js';
import { nodeRuntimeJson } from '../collector/runtime/view.js';
import { runtimeExtension } from '../collector/runtime/index.js';
import { createLogger } from '../common/log.js';

const NOW = Date.now();
const RETENTION = 24 * 3600_000;
const FUZZ_RUNS = Number(process.env.NODEWARDEN_FUZZ_RUNS ?? 400);
// A failing run prints its seed; NODEWARDEN_FUZZ_SEED=<seed> replays it.
const fuzzSeed = process.env.NODEWARDEN_FUZZ_SEED ? { seed: Number(process.env.NODEWARDEN_FUZZ_SEED) } : {};

const header = (over: Partial<Envelope> = {}): Envelope => ({
  node: 'node-a',
  agentId: '0123456789abcdef',
  seq: 1,
  sentMs: NOW,
  agentVersion: 'test',
  ...over,
});
const drop = (over: Record<string, unknown> = {}) => ({
  prefix: 'calico-packet:',
  family: 4,
  proto: 'TCP',
  src: '10.0.0.1',
  dst: '10.0.0.2',
  dstPort: 5432,
  inIface: 'eth0',
  outIface: '',
  count: 3,
  firstSeenMs: NOW - 1000,
  lastSeenMs: NOW,
  sample: 'calico-packet: SRC=10.0.0.1 DST=10.0.0.2 PROTO=TCP DPT=5432',
  ...over,
});
const finding = (over: Record<string, unknown> = {}) => ({
  kind: 'IPForwardingDisabled',
  severity: 'critical',
  active: true,
  message: 'm',
  evidence: { sysctl: '0' },
  firstSeenMs: NOW,
  lastSeenMs: NOW,
  ...over,
});
const runtime = (over: Record<string, unknown> = {}) => ({
  full: true,
  runtimeName: 'containerd',
  runtimeVersion: '1.6',
  endpoint: 'unix:///run/containerd/containerd.sock',
  pods: [
    {
      id: 'p1',
      namespace: 'kube-system',
      name: 'kube-apiserver-node-a',
      uid: 'u1',
      state: 'SANDBOX_READY',
      ips: ['10.0.0.9'],
      createdMs: NOW - 5000,
      annotations: { 'kubernetes.io/config.source': 'file', 'kubernetes.io/config.hash': 'h' },
      containers: [{ id: 'c1', name: 'kube-apiserver', image: 'k', state: 'CONTAINER_RUNNING', createdMs: NOW - 4000 }],
    },
  ],
  mirrorPodErrors: [
    {
      namespace: 'kube-system',
      name: 'kube-apiserver-node-a',
      error: 'pods "kube-apiserver-node-a" is forbidden',
      sinceMs: NOW - 3000,
    },
  ],
  ...over,
});

const bodyOf = (e: Envelope): BodyKind =>
  e.drops ? 'drops' : e.finding ? 'finding' : e.heartbeat ? 'heartbeat' : 'runtime';
const decode = (e: Envelope, subject = subjectFor(e.node ?? '', bodyOf(e))) =>
  decodeEnvelope(encodeEnvelope(e), { subject, nowMs: NOW, retentionMs: RETENTION });
const refusal = (e: Envelope, subject?: string): string => {
  try {
    decode(e, subject);
    return 'accepted';
  } catch (err) {
    if (err instanceof DecodeError) return err.kind;
    throw err;
  }
};

function freshStores(): Stores {
  const r = new IpIndex();
  return { drops: new DropStore(r), findings: new FindingStore(r), nodes: new NodeStore(60_000) };
}

/** Everything the API would do with an accepted envelope: store it, then render every view as JSON. */
function storeAndRender(env: ValidEnvelope): void {
  const stores = freshStores();
  applyEnvelope(env, stores, new SeenSet(), NOW);
  JSON.stringify(stores.drops.query({ limit: 100 }));
  JSON.stringify(stores.findings.query({}));
  JSON.stringify(stores.nodes.list(NOW, (n) => stores.findings.counts(n)));
  if (env.body === 'runtime' && env.msg.runtime) {
    const rt = runtimeExtension(new IpIndex(), createLogger('test', 'silent'), { tickMs: 0, now: () => NOW });
    rt.listener(env, { kind: 'runtime' }, stores);
    rt.tick(NOW + 10 * 60_000);
    JSON.stringify(nodeRuntimeJson(nodeRuntimeFrom(env.node, env.msg.runtime, env.sentMs, NOW), NOW, 60_000));
    JSON.stringify(stores.findings.query({}));
  }
}

test('good envelopes of every kind pass and render', () => {
  for (const e of [
    header({ drops: { drops: [drop()] } }),
    header({ finding: finding() }),
    header({
      heartbeat: { startedMs: NOW - 9e9, counters: { lines: 3 }, probes: [{ name: 'sysctl', ok: true, detail: '' }] },
    }),
    header({ runtime: runtime() }),
  ]) {
    const env = decode(e);
    storeAndRender(env);
  }
});

test('absurd times are refused, not stored: 1e20, NaN, negative, beyond a day ahead, older than retention', () => {
  for (const t of [1e20, NaN, -1, Infinity, NOW + 2 * 86_400_000, NOW - RETENTION - 2 * 86_400_000]) {
    assert.is(
      refusal(
        header({
          runtime: runtime({ mirrorPodErrors: [{ namespace: 'kube-system', name: 'x', error: 'e', sinceMs: t }] }),
        }),
      ),
      t > NOW - RETENTION - 2 * 86_400_000 - 1 && t < NOW + 86_400_000 && t > 0 ? 'accepted' : 'invalid-runtime',
      `sinceMs ${t}`,
    );
    assert.is(refusal(header({ finding: finding({ lastSeenMs: t }) })), 'bad-time', `finding ${t}`);
    assert.is(refusal(header({ sentMs: t, heartbeat: {} })), 'bad-time', `sentMs ${t}`);
    assert.is(refusal(header({ drops: { drops: [drop({ lastSeenMs: t })] } })), 'invalid-drop', `drop ${t}`);
  }
  assert.is(refusal(header({ heartbeat: { startedMs: -5 } })), 'invalid-heartbeat');
  assert.is(refusal(header({ drops: { drops: [drop({ firstSeenMs: NOW, lastSeenMs: NOW - 10 })] } })), 'invalid-drop');
});

test('one bad record in a batch costs only itself; the refusal is counted by reason', () => {
  const env = decode(
    header({
      drops: {
        drops: [
          drop(),
          drop({ lastSeenMs: 1e20, dst: '10.0.0.3' }),
          drop({ count: 0, dst: '10.0.0.4' }),
          drop({ dst: '10.0.0.5' }),
        ],
      },
    }),
  );
  assert.equal(
    env.msg.drops!.drops!.map((d) => d.dst),
    ['10.0.0.2', '10.0.0.5'],
  );
  assert.equal(env.adjusted.droppedReasons, { 'bad-time': 1, 'invalid-drop': 1 });
  assert.is(env.adjusted.droppedRecords, 2);
});

test('count 0, seq 0 (protobufjs Longs are truthy) and counts beyond 2^53 are refused', () => {
  assert.is(refusal(header({ drops: { drops: [drop({ count: 0 })] } })), 'invalid-drop');
  assert.is(refusal(header({ seq: 0, heartbeat: {} })), 'missing-header');
  assert.is(
    refusal(header({ seq: Long.fromString('18446744073709551615', true) as unknown as number, heartbeat: {} })),
    'missing-header',
  );
  assert.is(
    refusal(
      header({
        drops: { drops: [drop({ count: Long.fromString('18446744073709551615', true) as unknown as number })] },
      }),
    ),
    'invalid-drop',
  );
  const ok = decode(
    header({
      seq: Long.fromNumber(7, true) as unknown as number,
      drops: { drops: [drop({ count: Long.fromNumber(3_000_000_000, true) as unknown as number })] },
    }),
  );
  assert.equal([ok.seq, ok.msg.drops!.drops![0].count], [7, 3_000_000_000]);
});

test('names are bounded as Kubernetes bounds them; samples and messages are cut, not refused', () => {
  const huge = 'x'.repeat(100_000);
  assert.is(refusal(header({ node: huge, heartbeat: {} })), 'bad-header');
  assert.is(refusal(header({ agentId: huge, heartbeat: {} })), 'bad-header');
  assert.is(refusal(header({ finding: finding({ pod: { namespace: 'ns', name: huge } }) })), 'invalid-finding');
  assert.is(refusal(header({ finding: finding({ kind: 'not a kind' }) })), 'invalid-finding');
  assert.is(refusal(header({ finding: finding({ severity: 'catastrophic' }) })), 'invalid-finding');
  assert.is(refusal(header({ runtime: runtime({ pods: [{ id: 'p', name: huge }] }) })), 'invalid-runtime');
  const env = decode(header({ drops: { drops: [drop({ sample: 's'.repeat(200 * 1024) })] } }));
  assert.ok(env.msg.drops!.drops![0].sample!.length <= LIMITS.text);
  assert.is(env.adjusted.truncated, 1);
  const f = decode(header({ finding: finding({ message: huge, evidence: { line: huge } }) }));
  assert.ok(f.msg.finding!.message!.length <= LIMITS.text && f.msg.finding!.evidence!.line.length <= LIMITS.text);
});

test('one flow, one family; IPs canonical; ports and ICMP in range', () => {
  assert.is(refusal(header({ drops: { drops: [drop({ dst: 'fd00::1' })] } })), 'invalid-drop');
  assert.is(refusal(header({ drops: { drops: [drop({ family: 6 })] } })), 'invalid-drop');
  assert.is(
    refusal(header({ drops: { drops: [drop({ src: 'fd00:0000::1', dst: 'fd00::2', family: 6 })] } })),
    'invalid-drop',
  );
  assert.is(refusal(header({ drops: { drops: [drop({ src: 'fd00::1', dst: 'fd00::2', family: 6 })] } })), 'accepted');
  assert.is(refusal(header({ drops: { drops: [drop({ dstPort: 70000 })] } })), 'invalid-drop');
  assert.is(
    refusal(header({ drops: { drops: [drop({ proto: 'ICMP', dstPort: undefined, icmpType: 300 })] } })),
    'invalid-drop',
  );
  assert.is(refusal(header({ drops: { drops: [drop({ inIface: 'a b' })] } })), 'invalid-drop');
});

test('a node speaks only for itself: the subject must be its own node and body', () => {
  const forged = header({ node: 'node-b', finding: finding({ active: false }) });
  assert.is(refusal(forged, subjectFor('node-a', 'finding')), 'subject-mismatch');
  assert.is(refusal(forged, subjectFor('node-b', 'drops')), 'subject-mismatch');
  assert.is(refusal(forged, subjectFor('node-b', 'finding')), 'accepted');
  // Dots in node names map to '_' in the subject token.
  assert.is(
    refusal(
      header({ node: 'ip-10-0-0-1.ec2.internal', heartbeat: {} }),
      'nodewarden.v1.ip-10-0-0-1_ec2_internal.heartbeat',
    ),
    'accepted',
  );
});

test('oversized messages are refused before decoding', () => {
  assert.is(
    refusal(
      header({
        drops: {
          drops: Array.from({ length: 600 }, (_, i) =>
            drop({ dst: `10.1.${i >> 8}.${i & 255}`, sample: 'y'.repeat(2000) }),
          ),
        },
      }),
    ),
    'oversized',
  );
  assert.is(
    refusal(header({ drops: { drops: Array.from({ length: LIMITS.drops + 1 }, () => drop({ sample: '' })) } })),
    'invalid-drop',
  );
});

// --- property-based: the decoder --------------------------------------------------------------

const KINDS = new Set([
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
]);

test('fuzz: random bytes decode or are refused with a known reason, never anything else', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 4096 }), (bytes) => {
      try {
        storeAndRender(decodeEnvelope(bytes, { nowMs: NOW, retentionMs: RETENTION }));
      } catch (err) {
        if (!(err instanceof DecodeError) || !KINDS.has(err.kind)) throw err;
      }
    }),
    { numRuns: FUZZ_RUNS * 2, ...fuzzSeed },
  );
});

/** Mostly a good value, sometimes a nasty one: every field bad at once would only test the first check. */
const g = <T>(good: fc.Arbitrary<T>, bad: fc.Arbitrary<T>): fc.Arbitrary<T> =>
  fc.oneof({ arbitrary: good, weight: 12 }, { arbitrary: bad, weight: 1 });
const bad = {
  num: fc.oneof(fc.double(), fc.constantFrom(NaN, Infinity, -Infinity, 1e20, -1, 8.64e15 + 1)),
  uint: fc.constantFrom(256, 65536, 2 ** 32 - 1),
  count: fc.constantFrom(0, 2 ** 53, Long.fromString('18446744073709551615', true) as unknown as number),
  text: fc.oneof(
    fc.string({ maxLength: 40 }),
    fc.constantFrom('', 'x'.repeat(300), 'x'.repeat(5000), '\u0000\uffff', 'a b'),
  ),
  ip: fc.oneof(fc.ipV6(), fc.constantFrom('::ffff:10.0.0.1', 'fd00:0000::1', 'garbage', '', '010.0.0.1')),
  time: fc.oneof(
    { arbitrary: fc.constantFrom(1e20, -1e20, 8.64e15 + 1, NaN, Infinity), weight: 3 },
    fc.constantFrom(-5, 0),
    fc.integer({ min: NOW - 3 * 86_400_000, max: NOW + 2 * 86_400_000 }),
  ),
};
const nasty = {
  uint: g(fc.integer({ min: 0, max: 255 }), bad.uint),
  count: g(
    fc.oneof(fc.integer({ min: 1, max: 1e6 }), fc.constant(Long.fromNumber(5, true) as unknown as number)),
    bad.count,
  ),
  name: g(fc.stringMatching(/^[a-z][a-z0-9-]{0,20}$/), bad.text),
  // Few distinct names, so a static pod and its kubelet error meet.
  ns: g(fc.constant('kube-system'), bad.text),
  pod: g(fc.constantFrom('kube-apiserver-node-a', 'etcd-node-a'), bad.text),
  text: g(fc.string({ maxLength: 60 }), bad.text),
  ip: g(fc.ipV4(), bad.ip),
  time: g(fc.integer({ min: NOW - RETENTION, max: NOW + 60_000 }), bad.time),
  num: g(fc.integer(), bad.num),
};
const arbDrop = fc.record({
  prefix: nasty.text,
  family: g(fc.constant(4), fc.constantFrom(6, 0, 5)),
  proto: g(fc.constantFrom('TCP', 'UDP', 'ICMP', '47'), fc.constantFrom('tcp', '', 'X'.repeat(20))),
  src: nasty.ip,
  dst: nasty.ip,
  srcPort: fc.option(nasty.uint, { nil: undefined }),
  dstPort: fc.option(nasty.uint, { nil: undefined }),
  icmpType: fc.option(nasty.uint, { nil: undefined }),
  inIface: g(fc.constantFrom('eth0', '', 'cali1234567890a'), bad.text),
  outIface: g(fc.constant(''), bad.text),
  count: nasty.count,
  firstSeenMs: g(fc.constant(NOW - RETENTION), bad.time),
  lastSeenMs: nasty.time,
  sample: nasty.text,
});
const arbPod = fc.record({ namespace: nasty.name, name: nasty.name, uid: nasty.name, container: nasty.name });
const arbFinding = fc.record({
  kind: g(fc.constantFrom('PIDPressure', 'OOMKilled'), fc.constantFrom('bad kind', '', 'X'.repeat(80))),
  severity: g(fc.constantFrom('warning', 'critical', 'info'), fc.constant('nope')),
  active: fc.boolean(),
  message: nasty.text,
  pod: fc.option(arbPod, { nil: undefined }),
  evidence: fc.dictionary(nasty.name, nasty.text, { maxKeys: 4 }),
  firstSeenMs: nasty.time,
  lastSeenMs: nasty.time,
  key: nasty.text,
});
const arbRuntime = fc.record({
  full: fc.boolean(),
  runtimeName: nasty.text,
  endpoint: nasty.text,
  pods: fc.array(
    fc.record({
      id: nasty.name,
      namespace: nasty.ns,
      name: nasty.pod,
      uid: nasty.name,
      state: nasty.text,
      ips: fc.array(nasty.ip, { maxLength: 2 }),
      createdMs: nasty.time,
      annotations: fc.constantFrom({ 'kubernetes.io/config.source': 'file', 'kubernetes.io/config.hash': 'h' }, {}),
      containers: fc.array(
        fc.record({
          id: nasty.name,
          name: nasty.name,
          state: fc.constantFrom('CONTAINER_RUNNING', 'CONTAINER_EXITED'),
          attempt: nasty.uint,
          createdMs: nasty.time,
        }),
        { maxLength: 2 },
      ),
    }),
    { maxLength: 3 },
  ),
  conditions: fc.array(
    fc.record({
      type: fc.constantFrom('RuntimeReady', 'NetworkReady'),
      status: fc.boolean(),
      reason: nasty.text,
      message: nasty.text,
    }),
    { maxLength: 2 },
  ),
  mirrorPodErrors: fc.array(
    fc.record({ namespace: nasty.ns, name: nasty.pod, error: nasty.text, sinceMs: nasty.time }),
    { maxLength: 2 },
  ),
});
const arbBody = fc.oneof(
  fc.array(arbDrop, { minLength: 1, maxLength: 4 }).map((drops) => ({ drops: { drops } })),
  arbFinding.map((f) => ({ finding: f })),
  fc
    .record({
      startedMs: nasty.time,
      counters: fc.dictionary(nasty.name, nasty.num, { maxKeys: 4 }),
      probes: fc.array(fc.record({ name: nasty.name, ok: fc.boolean(), detail: nasty.text }), { maxLength: 2 }),
    })
    .map((h) => ({ heartbeat: h })),
  arbRuntime.map((r) => ({ runtime: r })),
);
const arbEnvelope = fc
  .record({
    node: g(fc.constantFrom('node-a', 'node-b', 'a.b.c'), bad.text),
    agentId: g(fc.constant('abc123'), bad.text),
    seq: nasty.count,
    sentMs: nasty.time,
    agentVersion: nasty.text,
  })
  .chain((h) => arbBody.map((b) => ({ ...h, ...b }) as Envelope));

test('fuzz: decodable-but-absurd envelopes are refused with a reason, or stored and rendered without a throw', () => {
  const seen = new Map<string, number>();
  fc.assert(
    fc.property(arbEnvelope, g(fc.constant(true), fc.constant(false)), (e, ownSubject) => {
      let bytes: Uint8Array;
      try {
        bytes = encodeEnvelope(e);
      } catch {
        return;
      } // protobufjs cannot even write it: nothing on the wire
      const subject = ownSubject ? subjectFor(e.node ?? '', bodyOf(e)) : subjectFor('node-a', 'drops');
      let env: ValidEnvelope;
      try {
        env = decodeEnvelope(bytes, { subject, nowMs: NOW, retentionMs: RETENTION });
      } catch (err) {
        if (!(err instanceof DecodeError) || !KINDS.has(err.kind)) throw err;
        seen.set(err.kind, (seen.get(err.kind) ?? 0) + 1);
        return;
      }
      seen.set('accepted', (seen.get('accepted') ?? 0) + 1);
      for (const d of env.msg.drops?.drops ?? []) {
        if (
          !((d.count as number) >= 1) ||
          !((d.lastSeenMs as number) >= (d.firstSeenMs as number)) ||
          (d.sample ?? '').length > LIMITS.text
        )
          throw new Error(`accepted an invalid drop: ${JSON.stringify(d)}`);
      }
      const r = env.msg.runtime;
      if (
        r?.pods?.some(
          (p) =>
            p.annotations?.['kubernetes.io/config.source'] === 'file' &&
            r.mirrorPodErrors?.some((m) => m.name === p.name && m.namespace === p.namespace),
        )
      )
        seen.set('static-with-error', (seen.get('static-with-error') ?? 0) + 1);
      storeAndRender(env);
    }),
    { numRuns: FUZZ_RUNS * 10, ...fuzzSeed },
  );
  // The generator must reach both sides, or the property says nothing.
  assert.ok((seen.get('accepted') ?? 0) > 0, `nothing accepted: ${JSON.stringify([...seen])}`);
  assert.ok((seen.get('static-with-error') ?? 0) > 0, 'no static pod with a kubelet error generated');
  assert.ok(
    [...seen.keys()].filter((k) => k !== 'accepted' && k !== 'static-with-error').length >= 4,
    `few refusal kinds reached: ${JSON.stringify([...seen])}`,
  );
});

test.run();
