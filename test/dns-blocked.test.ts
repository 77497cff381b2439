// DNSBlocked (collector/explain/dns-blocked.ts) over the real pieces it runs with: envelopes through
// the real codec, a pods-file resolver (IpIndex) with labels, the real finding store, and the explain
// extension over a PolicyCache holding shop/deny-wip. What raises it, what does not, the replay
// guard, news vs fresher counts, and the clear. (End to end on a real apiserver: explain-e2e.test.ts.)
// Run: node --import tsx test/dns-blocked.test.ts
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decodeEnvelope, encodeEnvelope, type Finding } from '../proto/codec.js';
import { subjectFor } from '../common/subjects.js';
import { podInfoFromJson } from '../collector/resolve/pods-file.js';
import { IpIndex, type PodInfo } from '../collector/resolve/resolver.js';
import { PolicyCache } from '../collector/kube/policy-cache.js';
import { cacheSource } from '../collector/kube/policy-watch.js';
import { explainExtension } from '../collector/explain/index.js';
import { dropExplainer } from '../collector/explain/flows.js';
import { dnsBlockedCheck } from '../collector/explain/dns-blocked.js';
import { DropStore } from '../collector/store/drops.js';
import { FindingStore } from '../collector/store/findings.js';
import { NodeStore } from '../collector/store/nodes.js';
import type { Stores } from '../collector/ingest/apply.js';

const T0 = Date.now();
const pod = (ns: string, name: string, ip: string, labels: Record<string, string>) =>
  podInfoFromJson({
    metadata: { namespace: ns, name, uid: `uid-${name}`, labels },
    spec: { nodeName: 'node-a' },
    status: { podIP: ip, hostIP: '192.0.2.10' },
  } as never) as PodInfo;
const index = new IpIndex([
  pod('shop', 'web-0', '10.244.0.4', { app: 'web' }),
  pod('kube-system', 'coredns-1', '10.244.2.3', { 'k8s-app': 'kube-dns' }),
  pod('shop', 'db-0', '10.244.1.6', { app: 'db' }),
]);

function setup(withPolicies = true, idx = index) {
  const cache = new PolicyCache(() => T0);
  for (const ns of ['shop', 'kube-system'])
    cache.namespaceSink.upsert({ metadata: { name: ns, labels: { 'kubernetes.io/metadata.name': ns } } });
  if (withPolicies)
    cache.policySink.upsert({
      metadata: { namespace: 'shop', name: 'deny-wip', resourceVersion: '5' },
      spec: { podSelector: {}, policyTypes: ['Egress'] },
    } as never);
  const explain = dropExplainer(explainExtension(idx, cacheSource(cache)));
  const stores: Stores = {
    drops: new DropStore(idx, {}),
    findings: new FindingStore(idx),
    nodes: new NodeStore(60_000),
  };
  const seen: { node: string; f: Finding; notify: boolean }[] = [];
  let now = T0;
  const check = dnsBlockedCheck(idx, withPolicies ? explain : undefined, {
    clearAfterMs: 60_000,
    tickMs: 0,
    now: () => now,
    onFinding: (node, f, notify) => seen.push({ node, f, notify }),
  });
  let seq = 0;
  const feed = (drops: Record<string, unknown>[], node = 'node-a') => {
    const env = decodeEnvelope(
      encodeEnvelope({
        node,
        agentId: 'a1a1a1a1a1a1',
        seq: ++seq,
        sentMs: now,
        agentVersion: 't',
        drops: {
          drops: drops.map((d) => ({
            prefix: 'p:',
            family: 4,
            proto: 'UDP',
            src: '10.244.0.4',
            dst: '10.244.2.3',
            dstPort: 53,
            count: 1,
            firstSeenMs: now - 10,
            lastSeenMs: now,
            ...d,
          })),
        },
      }),
      { subject: subjectFor(node, 'drops'), nowMs: now },
    );
    check.listener(env, { kind: 'drops', records: drops.length, flows: [] }, stores);
  };
  return {
    stores,
    seen,
    feed,
    check,
    at: (ms: number) => {
      now = T0 + ms;
    },
  };
}
const active = (s: Stores) => s.findings.page({ kind: 'DNSBlocked' }, 100).items;

test('a UDP/53 drop towards the kube-dns pod raises DNSBlocked on the source pod, with the denied explanation', () => {
  const { stores, seen, feed } = setup();
  feed([{}]);
  const [f] = active(stores);
  assert.is(f.active, true);
  assert.is(f.severity, 'warning');
  assert.equal(f.pod, { namespace: 'shop', name: 'web-0', uid: 'uid-web-0' });
  assert.is(
    f.message,
    'DNS from shop/web-0 to kube-system/coredns-1 (10.244.2.3) on 53/UDP is dropped. Egress of shop/web-0 is isolated by shop/deny-wip; no rule allows UDP/53 to kube-system/coredns-1 (DNS).',
  );
  assert.is(f.evidence?.verdict, 'denied');
  assert.is(f.evidence?.drops, '1');
  assert.equal(
    seen.map((x) => x.notify),
    [true],
  );
});

test('not DNS: another port, ICMP, a pod without the kube-dns label, an unknown source — nothing raised', () => {
  const { stores, feed } = setup();
  feed([
    { dstPort: 5353 },
    { proto: 'ICMP', dstPort: undefined, icmpType: 8 },
    { dst: '10.244.1.6' },
    { src: '10.9.9.9' },
  ]);
  assert.equal(active(stores), []);
});

test('53/TCP counts too; repeats only refresh the count (no news), one finding per pod on the node that first saw it', () => {
  const { stores, seen, feed } = setup();
  feed([{ proto: 'TCP' }]);
  feed([{ count: 4 }], 'node-b');
  const list = active(stores);
  assert.is(list.length, 1);
  assert.is(list[0].node, 'node-a');
  assert.is(list[0].evidence?.drops, '5');
  assert.is(list[0].evidence?.port, '53/UDP', 'the latest protocol');
  // the UDP drop changed the message (53/TCP -> 53/UDP): news; a third identical one is not
  feed([{}]);
  assert.equal(
    seen.map((x) => x.notify),
    [true, true, false],
  );
});

test('replayed drops older than the clear window raise nothing; a clear comes after clearAfterMs without drops', () => {
  const { stores, seen, feed, check, at } = setup();
  feed([{ firstSeenMs: T0 - 120_000, lastSeenMs: T0 - 90_000 }]);
  assert.equal(active(stores), [], 'older than the 60 s window');
  feed([{}]);
  at(59_000);
  check.tick();
  assert.is(active(stores)[0].active, true, 'within the window');
  at(61_000);
  check.tick();
  const [f] = active(stores);
  assert.is(f.active, false);
  assert.match(f.message, /^DNS from shop\/web-0 is no longer dropped/);
  assert.is(seen.at(-1)!.notify, true, 'a clear is an Event');
  check.tick();
  assert.is(seen.length, 2, 'cleared once');
});

test('without a cluster (no explainer) it is still raised, saying that no explanation is known', () => {
  const { stores, feed } = setup(false);
  feed([{}]);
  assert.match(active(stores)[0].message, /is dropped; no NetworkPolicy explanation/);
  assert.is(active(stores)[0].evidence?.explanation, undefined);
});

// 12 pods in 3 namespaces (4 each), all dropped towards coredns-1 (on node-dns).
const many = ['a', 'b', 'c'].flatMap((ns, i) =>
  [0, 1, 2, 3].map((j) => ({ ns, name: `app-${j}`, ip: `10.244.3.${i * 10 + j + 1}` })),
);
const bigIndex = new IpIndex([
  ...many.map((p) => ({ ...pod(p.ns, p.name, p.ip, { app: 'x' }), uid: `uid-${p.ns}-${p.name}` })),
  { ...pod('kube-system', 'coredns-1', '10.244.2.3', { 'k8s-app': 'kube-dns' }), node: 'node-dns' },
]);

test('12 blocked pods in 3 namespaces: one cluster-level DNSBlocked on the DNS pod naming them; per-pod Events stop at the threshold', () => {
  const { stores, seen, feed, check, at } = setup(true, bigIndex);
  for (const p of many) feed([{ src: p.ip }]);
  const cluster = active(stores).filter((f) => f.evidence?.scope === 'cluster');
  assert.is(cluster.length, 1);
  const [c] = cluster;
  assert.is(c.active, true);
  assert.is(c.node, 'node-dns', 'the node of the DNS pod');
  assert.equal(c.pod, { namespace: 'kube-system', name: 'coredns-1', uid: 'uid-coredns-1' });
  assert.is(c.evidence?.namespaces, 'a,b,c');
  assert.is(c.evidence?.pods, '12');
  assert.match(
    c.message,
    /^DNS is dropped for 10 or more pods in 3 namespaces \(a, b, c\) towards kube-system\/coredns-1/,
  );
  assert.is(
    active(stores).filter((f) => f.evidence?.scope !== 'cluster').length,
    12,
    'per-pod findings stay in the store',
  );
  const podNews = seen.filter((x) => x.notify && x.f.key !== 'cluster');
  assert.is(podNews.length, 9, 'the pods before the 10th got an Event each, the rest none');
  // raised at the 10th pod, then two more pods: the count is stored, but only a raise is news
  assert.equal(
    seen.filter((x) => x.f.key === 'cluster').map((x) => x.notify),
    [true, false, false],
  );
  at(61_000);
  check.tick();
  const after = stores.findings.page({ kind: 'DNSBlocked' }, 100).items;
  assert.ok(after.every((f) => !f.active));
  const cleared = seen.filter((x) => !x.f.active);
  assert.is(
    cleared.filter((x) => x.notify).length,
    10,
    'clears: the 9 pods that had an Event, and the cluster finding',
  );
});

test("many pods in ONE namespace: no cluster-level finding (that is one namespace's policy, named per pod)", () => {
  const { stores, feed } = setup(true, bigIndex);
  for (const p of many.filter((x) => x.ns === 'a')) feed([{ src: p.ip }]);
  assert.is(active(stores).filter((f) => f.evidence?.scope === 'cluster').length, 0);
});

test.run();
