// The pure parts around the evaluator: PolicyCache (what counts as a change, resourceVersion
// stamps), PodMeta interning, CIDR matching, and the explain extension over a real pods-file resolver
// (IpIndex) — its endpoint resolution, its cache and when that cache must let go.
// Run: node --import tsx test/netpol-cache.test.ts
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { PolicyCache } from '../collector/kube/policy-cache.js';
import { cacheSource } from '../collector/kube/policy-watch.js';
import { internPodMeta, podMetaFromJson } from '../collector/resolve/pod-meta.js';
import { podInfoFromJson } from '../collector/resolve/pods-file.js';
import { IpIndex } from '../collector/resolve/resolver.js';
import { cidrContains, parseCidr } from '../collector/explain/cidr.js';
import { explainExtension } from '../collector/explain/index.js';
import { BadRequest, NotFound } from '../collector/api/query.js';
import { explainOpenApiPaths } from '../collector/explain/openapi.js';

const pol = (ns: string, name: string, spec: unknown, rv = '1', extra: Record<string, unknown> = {}) =>
  ({ metadata: { namespace: ns, name, resourceVersion: rv, ...extra }, spec }) as never;

test('PolicyCache: only relevant changes move the generation; the resourceVersion stamp follows every event', () => {
  let t = 1000;
  const c = new PolicyCache(() => t);
  const g0 = c.generation;
  c.policySink.upsert(pol('shop', 'b', { podSelector: {} }, '10'));
  c.policySink.onResourceVersion!('10');
  assert.is(c.generation, g0 + 1);
  t = 2000;
  c.policySink.upsert(pol('shop', 'b', { podSelector: {} }, '11', { annotations: { x: 'y' } })); // metadata only
  c.policySink.onResourceVersion!('11');
  assert.is(c.generation, g0 + 1, 'annotation-only update');
  assert.is(c.state().changedAtMs, 1000);
  assert.is(c.state().resourceVersion, '11');
  c.namespaceSink.onResourceVersion!('9'); // the other watch lags: the stamp never goes back
  assert.is(c.state().resourceVersion, '11');
  c.policySink.onResourceVersion!('100');
  assert.is(c.state().resourceVersion, '100', 'numeric, not string, comparison');
  c.policySink.upsert(pol('shop', 'a', { podSelector: {}, policyTypes: ['Egress'] }, '12'));
  assert.equal(
    c.policiesIn('shop').map((p) => p.metadata.name),
    ['a', 'b'],
  );
  const list = c.policiesIn('shop');
  assert.is(c.policiesIn('shop'), list, 'stable until the namespace changes');
  c.policySink.upsert(pol('shop', 'b', { podSelector: { matchLabels: { app: 'x' } } }, '13'));
  assert.is.not(c.policiesIn('shop'), list);
  assert.is(c.generation, g0 + 3);
  assert.is(c.state().changedAtMs, 2000);
  // a relist without "a" removes it; a relist with the same content changes nothing
  const g = c.generation;
  c.policySink.relistFinish(new Set(['shop/b']));
  assert.is(c.generation, g + 1);
  assert.equal(
    c.policiesIn('shop').map((p) => p.metadata.name),
    ['b'],
  );
  c.policySink.upsert(pol('shop', 'b', { podSelector: { matchLabels: { app: 'x' } } }, '14'));
  c.policySink.relistFinish(new Set(['shop/b']));
  assert.is(c.generation, g + 1);
  c.policySink.remove(pol('shop', 'b', {}));
  assert.equal(c.policiesIn('shop'), []);
  assert.is(c.generation, g + 2);
  // the cache keeps only what the evaluator reads
  c.policySink.upsert({
    metadata: { namespace: 'q', name: 'p', resourceVersion: '1', managedFields: [{ big: 'x'.repeat(1000) }] },
    spec: { podSelector: {} },
    status: {},
  } as never);
  assert.equal(Object.keys(c.policiesIn('q')[0].metadata).sort(), ['name', 'namespace', 'resourceVersion']);
});

test('PolicyCache: namespaces count when added, removed or relabelled, not when resynced', () => {
  const c = new PolicyCache();
  const g0 = c.generation;
  c.namespaceSink.upsert({ metadata: { name: 'shop', labels: { a: '1', b: '2' } } });
  c.namespaceSink.upsert({ metadata: { name: 'shop', labels: { b: '2', a: '1' } } });
  assert.is(c.generation, g0 + 1);
  c.namespaceSink.upsert({ metadata: { name: 'shop', labels: { a: '1' } } });
  assert.is(c.generation, g0 + 2);
  assert.equal(c.namespaceLabels('shop'), { a: '1' });
  c.namespaceSink.relistFinish(new Set());
  assert.is(c.namespaceLabels('shop'), undefined);
  assert.is(c.generation, g0 + 3);
});

test('PodMeta: interned by content (label order irrelevant), unnamed ports dropped', () => {
  const a = podMetaFromJson({
    metadata: { labels: { app: 'web', tier: 'fe' } },
    spec: { containers: [{ ports: [{ name: 'http', containerPort: 8080 }, { containerPort: 9 }] }] },
  });
  const b = podMetaFromJson({
    metadata: { labels: { tier: 'fe', app: 'web' } },
    spec: { containers: [{ ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }] }] },
  });
  assert.is(a, b);
  assert.equal(a.ports, [{ name: 'http', port: 8080, protocol: 'TCP' }]);
  assert.is.not(a, internPodMeta({ app: 'web', tier: 'fe' }, true, [{ name: 'http', port: 8080, protocol: 'TCP' }]));
  const side = podMetaFromJson({ spec: { initContainers: [{ ports: [{ name: 'proxy', containerPort: 15001 }] }] } });
  assert.equal(
    side.ports.map((p) => p.name),
    ['proxy'],
    'sidecar (init) containers serve named ports too',
  );
  assert.ok(Object.isFrozen(a) && Object.isFrozen(a.labels));
});

test('CIDR: IPv4, IPv6, embedded IPv4, /0 and /128, family mismatch, malformed', () => {
  const c = (cidr: string, ip: string) => cidrContains(parseCidr(cidr)!, ip);
  assert.ok(c('10.244.0.0/16', '10.244.255.1'));
  assert.not.ok(c('10.244.0.0/16', '10.245.0.1'));
  assert.ok(c('0.0.0.0/0', '203.0.113.1'));
  assert.ok(c('10.1.2.3/32', '10.1.2.3'));
  assert.not.ok(c('10.1.2.3/32', '10.1.2.4'));
  assert.ok(c('2001:db8::/32', '2001:db8:ffff::1'));
  assert.not.ok(c('2001:db8::/32', '2001:db9::1'));
  assert.ok(c('::/0', 'fd00::1'));
  assert.ok(c('fd00::5/128', 'fd00::5'));
  assert.ok(c('::ffff:10.0.0.0/104', '::ffff:10.1.2.3'));
  assert.not.ok(c('10.0.0.0/8', 'fd00::1'), 'IPv4 block never holds an IPv6 address');
  assert.not.ok(c('::/0', '10.0.0.1'));
  for (const bad of ['10.0.0.0', '10.0.0.0/33', 'x/8', '10.0.0.0/-1', '2001:db8::/129'])
    assert.is(parseCidr(bad), undefined, bad);
});

// ---- the extension over a pods-file resolver --------------------------------------------------

const podJson = (
  ns: string,
  name: string,
  ip: string,
  labels: Record<string, string>,
  ports: { name: string; containerPort: number }[] = [],
) => ({
  metadata: { namespace: ns, name, uid: `${ns}-${name}`, labels },
  spec: { nodeName: 'n1', containers: [{ ports }] },
  status: { podIP: ip, hostIP: '192.0.2.1' },
});

function setup() {
  const index = new IpIndex(
    [
      podJson('shop', 'web-0', '10.244.0.4', { app: 'web' }),
      podJson('shop', 'db-0', '10.244.1.6', { app: 'db' }, [{ name: 'pg', containerPort: 5432 }]),
    ].map((p) => podInfoFromJson(p)!),
  );
  const cache = new PolicyCache();
  cache.namespaceSink.upsert({ metadata: { name: 'shop', labels: { 'kubernetes.io/metadata.name': 'shop' } } });
  cache.policySink.upsert(
    pol('shop', 'allow-db', {
      podSelector: { matchLabels: { app: 'db' } },
      ingress: [{ from: [{ podSelector: { matchLabels: { app: 'web' } } }], ports: [{ port: 'pg' }] }],
    }),
  );
  let kinds: string[] = [];
  const source = { ...cacheSource(cache), notEvaluated: () => kinds };
  const ex = explainExtension(index, source, { podCidrs: ['10.244.0.0/16'], serviceCidrs: ['10.96.0.0/12'] });
  return {
    index,
    cache,
    ex,
    setKinds: (k: string[]) => {
      kinds = k;
    },
  };
}

test('extension: IPs and names resolve to the same pods; the cache serves repeats and lets go on every relevant change', () => {
  const { index, cache, ex, setKinds } = setup();
  const a = ex.explain('10.244.0.4', '10.244.1.6', 'tcp', 5432);
  assert.is(a.verdict, 'allowed');
  assert.equal(a.sides[1].allowedBy, { policy: 'shop/allow-db', rule: 0 });
  assert.is(ex.explain('shop/web-0', 'shop/db-0', 'TCP', 5432).verdict, 'allowed');
  assert.is(ex.explain('10.244.0.4', '10.244.1.6', 'TCP', 5432), a, 'cached');
  const computed = ex.stats.computed;
  // a pod relabelled: IpIndex builds new owners, so the cached answer is not reused
  index.replace(
    [
      podJson('shop', 'web-0', '10.244.0.4', { app: 'web2' }),
      podJson('shop', 'db-0', '10.244.1.6', { app: 'db' }, [{ name: 'pg', containerPort: 5432 }]),
    ].map((p) => podInfoFromJson(p)!),
  );
  const b = ex.explain('10.244.0.4', '10.244.1.6', 'TCP', 5432);
  assert.is(b.verdict, 'denied');
  assert.is(ex.stats.computed, computed + 1);
  // a policy change
  cache.policySink.upsert(pol('shop', 'allow-db', { podSelector: { matchLabels: { app: 'db' } }, ingress: [{}] }, '2'));
  assert.is(ex.explain('10.244.0.4', '10.244.1.6', 'TCP', 5432).verdict, 'allowed');
  // the not-evaluated kinds change
  setKinds(['AdminNetworkPolicy']);
  assert.equal(ex.explain('10.244.0.4', '10.244.1.6', 'TCP', 5432).notEvaluated, ['AdminNetworkPolicy']);
});

test('extension: unresolved IPs are external, unknown pods or Service IPs by the configured CIDRs; bad input is a BadRequest', () => {
  const { ex, cache } = setup();
  cache.policySink.upsert(pol('shop', 'deny-wip', { podSelector: {}, policyTypes: ['Egress'] }));
  const ext = ex.explain('10.244.0.4', '203.0.113.9', 'TCP', 443);
  assert.is(ext.verdict, 'denied');
  assert.is(ext.summary, 'Egress of shop/web-0 is isolated by shop/deny-wip; no rule allows TCP/443 to 203.0.113.9.');
  assert.is(
    ext.fix,
    'Add an egress rule allowing TCP/443 to 203.0.113.9 to one of shop/deny-wip, or remove the isolation.',
  );
  const svc = ex.explain('10.244.0.4', '10.96.0.10', 'UDP', 53);
  assert.is(svc.verdict, 'undecidable');
  assert.match(svc.sides[0].reason!, /Service IP seen before DNAT/);
  const unk = ex.explain('10.244.9.9', '10.244.1.6', 'TCP', 5432);
  assert.is(unk.sides[0].verdict, 'undecidable');
  assert.match(unk.sides[0].reason!, /not a known pod or node/);
  assert.equal(ex.explain('192.0.2.1', '10.244.1.6', 'TCP', 5432).sides[0].verdict, 'not-isolated', 'a node source');
  assert.throws(
    () => ex.explain('10.244.0.4', '10.244.1.6', 'ICMP', 0),
    (e: Error) => e instanceof BadRequest && /TCP, UDP or SCTP/.test(e.message),
  );
  assert.throws(
    () => ex.explain('10.244.0.4', '10.244.1.6', 'TCP', 70000),
    (e: Error) => e instanceof BadRequest,
  );
  assert.throws(
    () => ex.explain('not-an-ip', '10.244.1.6', 'TCP', 1),
    (e: Error) => e instanceof BadRequest,
  );
  assert.throws(
    () => ex.explain('shop/nope', '10.244.1.6', 'TCP', 1),
    (e: Error) => e instanceof NotFound,
  );
  assert.throws(
    () => explainExtension(new IpIndex(), cacheSource(cache), { podCidrs: ['10.0.0.0/40'] }),
    (e: Error) => /not a CIDR/.test(e.message),
  );
});

test('extension: the route reads from/to/port/proto and refuses anything else', () => {
  const { ex } = setup();
  const route = ex.routes['/api/v1/explain'];
  const r = route(new URLSearchParams({ from: 'shop/web-0', to: 'shop/db-0', port: '5432' }), {}) as {
    verdict: string;
  };
  assert.is(r.verdict, 'allowed', 'proto defaults to TCP');
  assert.throws(
    () => route(new URLSearchParams({ from: 'shop/web-0', to: 'shop/db-0' }), {}),
    (e: Error) => e instanceof BadRequest,
  );
  assert.throws(
    () => route(new URLSearchParams({ from: 'a', to: 'b', port: '1', extra: 'x' }), {}),
    (e: Error) => e instanceof BadRequest,
  );
});

test('OpenAPI fragment: every field an explanation carries is described, required ones present', () => {
  const { ex } = setup();
  const schema = explainOpenApiPaths['/api/v1/explain'].get.responses['200'].content['application/json'].schema;
  const e = ex.explain('10.244.0.4', '10.244.1.6', 'TCP', 5432) as unknown as Record<string, unknown>;
  for (const k of schema.required) assert.ok(k in e, k);
  for (const k of Object.keys(e)) assert.ok(k in schema.properties, `undocumented field ${k}`);
  const side = schema.properties.sides.items;
  for (const s of e.sides as Record<string, unknown>[])
    for (const k of Object.keys(s)) assert.ok(k in side.properties, `undocumented side field ${k}`);
});

test('extension: not ready until the policy source is (no confidently wrong answers at startup)', () => {
  const { index, cache } = setup();
  const ex = explainExtension(index, { ...cacheSource(cache), ready: () => false });
  assert.not.ok(ex.ready());
  assert.throws(
    () => ex.explain('10.244.0.4', '10.244.1.6', 'TCP', 5432),
    (e: Error) => e instanceof NotFound && /not synced/.test(e.message),
  );
});

test.run();
