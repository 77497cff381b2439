// NetworkPolicy explanations against a REAL kube-apiserver + etcd (test/support/kube.ts), as the
// least-privileged collector user: the NetworkPolicy and Namespace list+watches (collector/kube/
// policy-watch.ts), the pod watch's labels/named ports, the explain extension and its HTTP route.
// The seed incidents: shop/deny-wip (podSelector {}, policyTypes [Egress], no rules) cutting DNS, and
// kube-system/deny-all in front of CoreDNS; then a port mistake, an edit that fixes it, named ports,
// ipBlock, a namespace relabel and a CRD that makes a policy kind "not evaluated".
// Run: node --import tsx test/netpol-watch.test.ts
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import { startControlPlane, eventually, type ControlPlane } from './support/kube.js';
import { waitFor } from './support/wait.js';
import { applyNetworkPolicy, grantCollector, testLog, COLLECTOR_USER } from './fixtures/kube/helpers.js';
import { KubeClient } from '../collector/kube/client.js';
import { loadKubeconfig } from '../collector/kube/config.js';
import { PodWatch } from '../collector/kube/pod-watch.js';
import { PolicyWatch } from '../collector/kube/policy-watch.js';
import { explainExtension, type ExplainExtension, type Explanation } from '../collector/explain/index.js';
import { createApi } from '../collector/api/server.js';
import { DropStore } from '../collector/store/drops.js';
import { FindingStore } from '../collector/store/findings.js';
import { NodeStore } from '../collector/store/nodes.js';

let cp: ControlPlane;
let pods: PodWatch;
let policies: PolicyWatch;
let ex: ExplainExtension;
const registry = new Registry();

/** A pod with named container ports (createPod has none), then its status (IP) as a kubelet would write it. */
async function createPod(
  ns: string,
  name: string,
  labels: Record<string, string>,
  ip: string,
  ports: { name: string; containerPort: number; protocol?: string }[] = [],
): Promise<void> {
  const base = `/api/v1/namespaces/${ns}/pods`;
  const r = await cp.request('POST', base, {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: ns, labels },
    spec: { nodeName: 'node-a', containers: [{ name: 'c', image: 'registry.invalid/none:0', ports }] },
  });
  assert.is(r.status, 201, JSON.stringify(r.body));
  const s = await cp.request('PATCH', `${base}/${name}/status`, {
    status: { phase: 'Running', podIP: ip, podIPs: [{ ip }], hostIP: '192.0.2.10', hostIPs: [{ ip: '192.0.2.10' }] },
  });
  assert.is(s.status, 200, JSON.stringify(s.body));
}

/**
 * Deletes a policy and waits until the watch has seen it go: a generation read right after must not count the delete.
 */
async function remove(ns: string, name: string): Promise<void> {
  const r = await cp.request('DELETE', `/apis/networking.k8s.io/v1/namespaces/${ns}/networkpolicies/${name}`);
  assert.ok(r.status === 200 || r.status === 404, JSON.stringify(r.body));
  await waitFor(
    `watch saw ${ns}/${name} deleted`,
    () => !policies.policiesIn(ns).some((p) => p.metadata.name === name),
    10_000,
    20,
  );
}

/** Waits until the watch has seen a change past `gen`, then explains. */
async function afterChange(gen: number, from: string, to: string, proto: string, port: number): Promise<Explanation> {
  await waitFor(`policy generation past ${gen}`, () => policies.state().generation > gen, 10_000, 20);
  return ex.explain(from, to, proto, port);
}

test.before(async () => {
  cp = await startControlPlane({ users: [{ name: COLLECTOR_USER }] });
  await grantCollector(cp); // the collector's test role includes networkpolicies and namespaces
  await eventually(
    async () => {
      const c = await cp.kubectl(['auth', 'can-i', 'watch', 'networkpolicies', '--as', COLLECTOR_USER, '-A']);
      if (c.stdout.trim() !== 'yes') throw new Error(`not yet: ${c.stdout}${c.stderr}`);
    },
    { timeoutMs: 15_000 },
  );
  for (const ns of ['shop', 'payments']) await cp.createNamespace(ns);
  await createPod('shop', 'web-0', { app: 'web' }, '10.244.0.4');
  await createPod('shop', 'db-0', { app: 'db' }, '10.244.1.6', [{ name: 'pg', containerPort: 5432 }]);
  await createPod('kube-system', 'coredns-x2x4q', { 'k8s-app': 'kube-dns' }, '10.244.2.3', [
    { name: 'dns', containerPort: 53, protocol: 'UDP' },
    { name: 'dns-tcp', containerPort: 53 },
  ]);
  await createPod('payments', 'api-7c4b', { app: 'api' }, '10.244.3.8', [
    { name: 'metrics', containerPort: 9090 },
    { name: 'http', containerPort: 8080 },
  ]);
  const client = new KubeClient(loadKubeconfig(cp.kubeconfig(COLLECTOR_USER)));
  // one registry for both, as in the collector: their metric names must not clash
  pods = new PodWatch(client, testLog(), { graceMs: 5000, watchTimeoutS: 60, registry });
  policies = new PolicyWatch(client, testLog(), {
    pageSize: 2,
    watchTimeoutS: 60,
    backoffMinMs: 100,
    backoffMaxMs: 500,
    registry,
  });
  pods.start();
  policies.start();
  await Promise.all([pods.waitReady(15_000), policies.waitReady(15_000)]);
  ex = explainExtension(pods, policies, { podCidrs: ['10.244.0.0/16'] });
});

test.after(async () => {
  await pods?.stop();
  await policies?.stop();
  await cp?.stop();
});

test('no policies: allowed (the drop has another cause), stamped with the policy state; pod labels and ports came from the watch', () => {
  const owner = pods.resolve('10.244.1.6');
  assert.ok(owner?.kind === 'pod' && owner.meta, JSON.stringify(owner));
  assert.equal(owner.meta.labels, { app: 'db' });
  assert.equal(owner.meta.ports, [{ name: 'pg', port: 5432, protocol: 'TCP' }]);
  const e = ex.explain('10.244.0.4', '10.244.1.6', 'TCP', 5432);
  assert.is(e.verdict, 'allowed');
  assert.match(e.summary, /^Current NetworkPolicies allow TCP\/5432 from shop\/web-0 to shop\/db-0/);
  assert.match(e.policyState.resourceVersion, /^\d+$/);
  assert.ok(Date.parse(e.policyState.at) > 0);
  assert.is(e.notEvaluated, undefined, 'no other policy kinds are served');
  assert.equal(
    e.sides.map((s) => s.direction),
    ['egress', 'ingress'],
  );
  assert.ok(policies.namespaceLabels('shop')?.['kubernetes.io/metadata.name'] === 'shop');
});

test('seed incident deny-wip: egress of shop/web-0 isolated, no rule allows UDP/53 to CoreDNS', async () => {
  const gen = policies.state().generation,
    rv = policies.state().resourceVersion;
  await applyNetworkPolicy(cp, 'shop', 'deny-wip', { podSelector: {}, policyTypes: ['Egress'] });
  const e = await afterChange(gen, '10.244.0.4', '10.244.2.3', 'UDP', 53);
  assert.is(e.verdict, 'denied');
  assert.is(
    e.summary,
    'Egress of shop/web-0 is isolated by shop/deny-wip; no rule allows UDP/53 to kube-system/coredns-x2x4q (DNS).',
  );
  assert.match(e.fix!, /k8s-app=kube-dns on UDP and TCP 53/);
  assert.equal(e.sides[0], {
    direction: 'egress',
    pod: { namespace: 'shop', name: 'web-0' },
    verdict: 'denies',
    isolatedBy: ['shop/deny-wip'],
  });
  assert.is(e.sides[1].verdict, 'not-isolated');
  assert.is.not(e.policyState.resourceVersion, rv, 'the stamp moved with the change');
  // by name gives the same verdict
  assert.is(ex.explain('shop/web-0', 'kube-system/coredns-x2x4q', 'UDP', 53).verdict, 'denied');
});

test('seed incident deny-all in kube-system: both sides reported, egress first', async () => {
  const gen = policies.state().generation;
  await applyNetworkPolicy(cp, 'kube-system', 'deny-all', { podSelector: {}, policyTypes: ['Ingress', 'Egress'] });
  const e = await afterChange(gen, '10.244.0.4', '10.244.2.3', 'UDP', 53);
  assert.equal(
    e.sides.map((s) => `${s.direction}:${s.verdict}:${s.isolatedBy.join()}`),
    ['egress:denies:shop/deny-wip', 'ingress:denies:kube-system/deny-all'],
  );
  assert.match(
    e.summary,
    /^Egress of shop\/web-0 is isolated by shop\/deny-wip; .*; and Ingress of kube-system\/coredns-x2x4q is isolated by kube-system\/deny-all; no rule allows UDP\/53 from shop\/web-0\.$/,
  );
  await remove('kube-system', 'deny-all');
  await remove('shop', 'deny-wip');
  await waitFor(
    'policies gone',
    () => ex.explain('10.244.0.4', '10.244.2.3', 'UDP', 53).verdict === 'allowed',
    10_000,
    20,
  );
});

test('a port mistake gives the nearest miss; editing the policy is seen, the explanation follows (generation, stamp, recomputation)', async () => {
  let gen = policies.state().generation;
  await applyNetworkPolicy(cp, 'shop', 'allow-db', {
    podSelector: { matchLabels: { app: 'db' } },
    ingress: [{ from: [{ podSelector: { matchLabels: { app: 'web' } } }], ports: [{ protocol: 'TCP', port: 5433 }] }],
  });
  const miss = await afterChange(gen, '10.244.0.4', '10.244.1.6', 'TCP', 5432);
  assert.is(miss.verdict, 'denied');
  assert.equal(miss.sides[1].nearestMiss, {
    policy: 'shop/allow-db',
    rule: 0,
    why: 'rule 0 of shop/allow-db allows TCP/5433, not TCP/5432',
  });
  assert.is(miss.fix, 'Rule 0 of shop/allow-db allows TCP/5433, not TCP/5432.');
  // unchanged policies: the cached explanation is served, not recomputed
  const computed = ex.stats.computed;
  assert.is(ex.explain('10.244.0.4', '10.244.1.6', 'TCP', 5432), miss);
  assert.is(ex.stats.computed, computed);
  gen = policies.state().generation;
  await applyNetworkPolicy(cp, 'shop', 'allow-db', {
    podSelector: { matchLabels: { app: 'db' } },
    ingress: [{ from: [{ podSelector: { matchLabels: { app: 'web' } } }], ports: [{ protocol: 'TCP', port: 5432 }] }],
  });
  const fixed = await afterChange(gen, '10.244.0.4', '10.244.1.6', 'TCP', 5432);
  assert.is(fixed.verdict, 'allowed');
  assert.equal(fixed.sides[1].allowedBy, { policy: 'shop/allow-db', rule: 0 });
  assert.is(ex.stats.computed, computed + 1);
  assert.ok(BigInt(fixed.policyState.resourceVersion) > BigInt(miss.policyState.resourceVersion));
  assert.ok(fixed.policyState.at >= miss.policyState.at);
});

test('a pod relabelled out of the peer selector: the explanation follows the pod watch', async () => {
  const r = await cp.request('PATCH', '/api/v1/namespaces/shop/pods/web-0', {
    metadata: { labels: { app: 'web-canary' } },
  });
  assert.is(r.status, 200);
  await waitFor(
    'relabel seen',
    () => ex.explain('10.244.0.4', '10.244.1.6', 'TCP', 5432).verdict === 'denied',
    10_000,
    20,
  );
  const e = ex.explain('10.244.0.4', '10.244.1.6', 'TCP', 5432);
  assert.match(e.sides[1].nearestMiss!.why, /shop\/web-0 does not match its podSelector app=web/);
  await cp.request('PATCH', '/api/v1/namespaces/shop/pods/web-0', { metadata: { labels: { app: 'web' } } });
  await waitFor(
    'label back',
    () => ex.explain('10.244.0.4', '10.244.1.6', 'TCP', 5432).verdict === 'allowed',
    10_000,
    20,
  );
});

test('named ports resolve on the destination pod from the watch', async () => {
  const gen = policies.state().generation;
  await applyNetworkPolicy(cp, 'payments', 'allow-metrics', {
    podSelector: { matchLabels: { app: 'api' } },
    ingress: [
      {
        from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'shop' } } }],
        ports: [{ port: 'metrics' }],
      },
    ],
  });
  const ok = await afterChange(gen, 'shop/web-0', '10.244.3.8', 'TCP', 9090);
  assert.is(ok.verdict, 'allowed');
  assert.equal(ok.sides[1].allowedBy, { policy: 'payments/allow-metrics', rule: 0 });
  const no = ex.explain('shop/web-0', '10.244.3.8', 'TCP', 8080);
  assert.is(no.verdict, 'denied');
  assert.is(
    no.sides[1].nearestMiss?.why,
    'rule 0 of payments/allow-metrics allows TCP/metrics (= 9090 on payments/api-7c4b), not TCP/8080',
  );
});

test('a namespace relabel moves the generation and the namespaceSelector verdict', async () => {
  await remove('payments', 'allow-metrics'); // its rule admits shop on 9090: it would be the nearer miss
  let gen = policies.state().generation;
  await applyNetworkPolicy(cp, 'payments', 'allow-team', {
    podSelector: { matchLabels: { app: 'api' } },
    ingress: [{ from: [{ namespaceSelector: { matchLabels: { team: 'shop' } } }], ports: [{ port: 8080 }] }],
  });
  const before = await afterChange(gen, 'shop/web-0', 'payments/api-7c4b', 'TCP', 8080);
  assert.is(before.verdict, 'denied');
  assert.match(before.fix!, /namespace shop does not match its namespaceSelector team=shop/);
  gen = policies.state().generation;
  const r = await cp.request('PATCH', '/api/v1/namespaces/shop', { metadata: { labels: { team: 'shop' } } });
  assert.is(r.status, 200);
  const after = await afterChange(gen, 'shop/web-0', 'payments/api-7c4b', 'TCP', 8080);
  assert.is(after.verdict, 'allowed');
  assert.equal(after.sides[1].allowedBy, { policy: 'payments/allow-team', rule: 0 });
});

test('ipBlock: against a pod IP undecidable, against an external IP decided', async () => {
  const gen = policies.state().generation;
  await applyNetworkPolicy(cp, 'shop', 'egress-cidr', {
    podSelector: { matchLabels: { app: 'web' } },
    policyTypes: ['Egress'],
    egress: [
      {
        to: [
          { ipBlock: { cidr: '10.244.0.0/16', except: ['10.244.3.0/24'] } },
          { ipBlock: { cidr: '203.0.113.0/24' } },
        ],
      },
    ],
  });
  const u = await afterChange(gen, '10.244.0.4', '10.244.1.6', 'TCP', 5432);
  assert.is(u.verdict, 'undecidable');
  assert.match(
    u.sides[0].reason!,
    /ipBlock 10\.244\.0\.0\/16 contains pod IP 10\.244\.1\.6; whether ipBlock matches pod IPs depends on the CNI/,
  );
  assert.match(u.summary, /^Cannot tell whether NetworkPolicy allows TCP\/5432/);
  assert.is(ex.explain('10.244.0.4', '203.0.113.9', 'TCP', 443).verdict, 'allowed');
  const out = ex.explain('10.244.0.4', '198.51.100.1', 'TCP', 443);
  assert.is(out.verdict, 'denied', JSON.stringify(out));
  assert.is(out.sides[0].verdict, 'denies');
  // an unresolved IP inside the pod network may be a pod we do not know
  assert.is(ex.explain('10.244.0.4', '10.244.200.1', 'TCP', 443).verdict, 'undecidable');
  await remove('shop', 'egress-cidr');
});

test('apiserver restart: the policy watch gets 410, relists, and sees a change made meanwhile; metrics are served', async () => {
  const relists = policies.policies.stats.relists410;
  // As in kube-watch.test.ts: writes the policy watch does not see move etcd's revision past its
  // resourceVersion; the restarted apiserver's watch cache starts there, so resuming is "too old".
  for (let i = 0; i < 5; i++)
    assert.is(
      (await cp.request('POST', '/api/v1/namespaces/default/configmaps', { metadata: { name: `np-rv-bump-${i}` } }))
        .status,
      201,
    );
  await cp.restartApiserver();
  await applyNetworkPolicy(cp, 'shop', 'during-relist', { podSelector: { matchLabels: { app: 'db' } }, ingress: [] });
  await waitFor('410 relist', () => policies.policies.stats.relists410 > relists, 30_000, 50);
  await waitFor(
    'policy seen',
    () => policies.policiesIn('shop').some((p) => p.metadata.name === 'during-relist'),
    10_000,
    20,
  );
  assert.ok(policies.ready());
  await remove('shop', 'during-relist');
  await waitFor(
    'removal seen',
    () => !policies.policiesIn('shop').some((p) => p.metadata.name === 'during-relist'),
    10_000,
    20,
  );
  const text = await registry.metrics();
  assert.match(text, /nodewarden_collector_kube_lists_total\{resource="networkpolicy",reason="expired"\} [1-9]/);
  assert.match(text, /nodewarden_collector_kube_watch_events_total\{resource="namespace",type="ADDED"\} \d+/);
  assert.match(text, /nodewarden_collector_kube_lists_total\{resource="pod",reason="initial"\} [1-9]/);
  assert.match(text, /nodewarden_collector_kube_networkpolicies \d+/);
});

test('route GET /api/v1/explain through createApi on loopback: 200 object, 400 bad input, 404 unknown pod', async () => {
  const stores = { drops: new DropStore(pods), findings: new FindingStore(pods), nodes: new NodeStore(60_000) };
  const server = createApi({ stores, registry: new Registry(), ready: () => ({ ok: true }), routes: ex.routes });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    const r = await fetch(`${base}/api/v1/explain?from=shop/web-0&to=shop/db-0&port=5432&proto=TCP`);
    assert.is(r.status, 200);
    const body = (await r.json()) as Explanation;
    assert.is(body.verdict, 'allowed');
    assert.equal(Object.keys(body).sort(), ['policyState', 'sides', 'summary', 'verdict']);
    assert.is((await fetch(`${base}/api/v1/explain?from=shop/web-0&to=shop/db-0&port=5432&proto=ICMP`)).status, 400);
    assert.is((await fetch(`${base}/api/v1/explain?from=shop/web-0&port=5432`)).status, 400);
    assert.is((await fetch(`${base}/api/v1/explain?from=shop/web-0&to=shop/db-0&port=5432&bogus=1`)).status, 400);
    const nf = await fetch(`${base}/api/v1/explain?from=shop/nope&to=shop/db-0&port=5432`);
    assert.is(nf.status, 404);
    assert.match(((await nf.json()) as { error: string }).error, /no pod shop\/nope/);
  } finally {
    await new Promise<void>((r) => server.close(() => r()));
  }
});

test('discovery: a served Cilium policy CRD is listed as notEvaluated', async () => {
  const crd = {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: 'ciliumnetworkpolicies.cilium.io' },
    spec: {
      group: 'cilium.io',
      scope: 'Namespaced',
      names: { plural: 'ciliumnetworkpolicies', singular: 'ciliumnetworkpolicy', kind: 'CiliumNetworkPolicy' },
      versions: [
        {
          name: 'v2',
          served: true,
          storage: true,
          schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } },
        },
      ],
    },
  };
  const r = await cp.request('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', crd);
  assert.is(r.status, 201, JSON.stringify(r.body));
  await waitFor(
    'CRD discovered',
    async () => {
      await policies.discover();
      return policies.notEvaluated().includes('CiliumNetworkPolicy');
    },
    20_000,
    250,
  );
  const e = ex.explain('10.244.0.4', '10.244.1.6', 'TCP', 5432); // cached before: the new kind list invalidates it
  assert.equal(e.notEvaluated, ['CiliumNetworkPolicy']);
  assert.is(e.verdict, 'allowed');
  assert.match(e.summary, /the drop has CiliumNetworkPolicy \(not evaluated here\), a non-policy cause/);
});

test.run();
