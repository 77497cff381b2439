// APIServerEgressBlocked (collector/explain/apiserver-egress.ts) over the real pieces it runs with:
// the PodCache fed pod JSON, a PolicyCache, the explain extension and the finding store. What the
// end-to-end test (apiserver-egress-e2e.test.ts, a real kube-apiserver) cannot set up: the
// in-cluster config, whose address is the default/kubernetes Service IP (pre-DNAT), a hostname in
// the kubeconfig, and evaluation only when a generation moves.
// Run: node --import tsx test/apiserver-egress.test.ts
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import pino from 'pino';
import { PodCache, type PodJson } from '../collector/kube/pod-cache.js';
import { PolicyCache } from '../collector/kube/policy-cache.js';
import { cacheSource } from '../collector/kube/policy-watch.js';
import { explainExtension } from '../collector/explain/index.js';
import { apiServerEgressCheck, configAddress } from '../collector/explain/apiserver-egress.js';
import { DropStore } from '../collector/store/drops.js';
import { FindingStore } from '../collector/store/findings.js';
import { NodeStore } from '../collector/store/nodes.js';
import type { Stores } from '../collector/ingest/apply.js';
import { listInto } from './support/pods.js';

const pod = (name: string, node: string, ip: string, labels: Record<string, string>, hostNetwork = false): PodJson => ({
  metadata: { namespace: 'kube-system', name, uid: `uid-${name}`, labels, creationTimestamp: '2026-01-01T00:00:00Z' },
  spec: { nodeName: node, hostNetwork, containers: [] },
  status: {
    phase: 'Running',
    podIP: ip,
    podIPs: [{ ip }],
    hostIP: hostNetwork ? ip : '192.0.2.10',
    hostIPs: [{ ip: hostNetwork ? ip : '192.0.2.10' }],
  },
});

function setup(server: string, inCluster: boolean) {
  const pods = new PodCache(60_000);
  listInto(pods, [pod('coredns-1', 'node-a', '10.244.2.3', { 'k8s-app': 'kube-dns' })]);
  const cache = new PolicyCache();
  cache.namespaceSink.upsert({
    metadata: { name: 'kube-system', labels: { 'kubernetes.io/metadata.name': 'kube-system' } },
  });
  const policies = cacheSource(cache);
  const lines: string[] = [];
  const log = pino(
    { level: 'info' },
    {
      write: (l: string) => {
        lines.push(l);
      },
    },
  );
  const stores: Stores = {
    drops: new DropStore(pods, {}),
    findings: new FindingStore(pods),
    nodes: new NodeStore(60_000),
  };
  const notified: string[] = [];
  const check = apiServerEgressCheck(
    pods,
    policies,
    explainExtension(pods, policies, { podCidrs: ['10.244.0.0/16'] }),
    { server, inCluster },
    log,
    {
      checkMs: 0,
      onFinding: (_n, f, notify) => {
        if (notify) notified.push(`${f.active ? 'raise' : 'clear'} ${f.pod?.name}`);
      },
    },
  );
  check.attach(stores);
  const policy = (name: string, spec: unknown) =>
    cache.policySink.upsert({ metadata: { namespace: 'kube-system', name }, spec } as never);
  const found = () => stores.findings.page({ kind: 'APIServerEgressBlocked' }, 100).items;
  return { pods, cache, check, policy, found, lines, notified };
}

test('configAddress: a kubeconfig IP; the in-cluster Service IP; a hostname is left out, saying why', () => {
  assert.equal(configAddress({ server: 'https://10.0.0.5:6443' }), {
    ip: '10.0.0.5',
    port: 6443,
    source: 'kubeconfig',
  });
  assert.equal(configAddress({ server: 'https://10.96.0.1:443', inCluster: true }), {
    ip: '10.96.0.1',
    port: 443,
    source: 'in-cluster Service',
    service: true,
  });
  assert.equal(configAddress({ server: 'https://[fd00::1]' }), { ip: 'fd00::1', port: 443, source: 'kubeconfig' });
  assert.match(
    configAddress({ server: 'https://api.example.com:6443' }) as string,
    /api\.example\.com:6443 is a hostname/,
  );
});

test('in-cluster (managed control plane: only the Service IP is known): deny-all raises, since no rule exists to admit any backend', () => {
  const s = setup('https://10.96.0.1:443', true);
  s.check.evaluate();
  assert.equal(s.found(), [], 'no policy');
  s.policy('deny-all', { podSelector: {}, policyTypes: ['Ingress', 'Egress'] });
  s.check.evaluate();
  const [f] = s.found();
  assert.is(f.active, true);
  assert.is(f.severity, 'critical');
  assert.is(f.evidence?.apiServer, '10.96.0.1:443 (in-cluster Service)');
  assert.is(
    f.evidence?.explanation,
    'Egress of kube-system/coredns-1 is isolated by kube-system/deny-all; no rule allows TCP/443 to 10.96.0.1.',
  );
  assert.equal(s.notified, ['raise coredns-1']);
});

test('in-cluster with a rule that might admit the backend (ipBlock of the Service IP): undecidable — not raised, logged once', () => {
  const s = setup('https://10.96.0.1:443', true);
  s.policy('deny-all', { podSelector: {}, policyTypes: ['Ingress', 'Egress'] });
  s.policy('allow-api', {
    podSelector: {},
    policyTypes: ['Egress'],
    egress: [{ to: [{ ipBlock: { cidr: '10.96.0.1/32' } }] }],
  });
  s.check.evaluate();
  assert.equal(s.found(), []);
  s.check.evaluate(true);
  const said = s.lines.filter((l) => l.includes('cannot tell whether'));
  assert.is(said.length, 1, 'once per pod and reason');
  assert.match(said[0], /Service IP seen before DNAT/);
});

test('in-cluster, a kube-apiserver pod on the same node as CoreDNS: the own-node exception makes it undecidable', () => {
  const s = setup('https://10.96.0.1:443', true);
  s.pods.upsert(pod('kube-apiserver-node-a', 'node-a', '192.0.2.10', { component: 'kube-apiserver' }, true));
  s.policy('deny-all', { podSelector: {}, policyTypes: ['Ingress', 'Egress'] });
  s.check.evaluate();
  assert.equal(s.found(), []);
  assert.ok(
    s.lines.some((l) => l.includes("pod's own node")),
    s.lines.join('\n'),
  );
});

test('kube-apiserver pods elsewhere: their host IPs on 6443 in-cluster; evaluated only when a generation moves; a deleted pod is cleared', () => {
  const s = setup('https://10.96.0.1:443', true);
  s.pods.upsert(pod('kube-apiserver-cp-1', 'cp-1', '192.0.2.1', { component: 'kube-apiserver' }, true));
  s.policy('deny-all', { podSelector: {}, policyTypes: ['Ingress', 'Egress'] });
  s.check.evaluate();
  const [f] = s.found();
  assert.is(f.evidence?.apiServers, '10.96.0.1:443 (in-cluster Service), 192.0.2.1:6443 (kube-apiserver pod)');
  // a port rule for 6443 only: the host-network apiserver is allowed, so it is reachable
  s.policy('allow-6443', {
    podSelector: {},
    policyTypes: ['Egress'],
    egress: [{ ports: [{ protocol: 'TCP', port: 6443 }] }],
  });
  s.check.evaluate();
  assert.is(s.found()[0].active, false);
  s.cache.policySink.remove({ metadata: { namespace: 'kube-system', name: 'allow-6443' } });
  s.check.evaluate();
  assert.is(s.found()[0].active, true);
  const n = s.notified.length;
  s.check.evaluate(); // nothing moved: no work, no writes
  assert.is(s.notified.length, n);
  s.pods.remove('uid-coredns-1');
  s.check.evaluate();
  assert.is(s.found()[0].active, false);
  assert.equal(s.notified, ['raise coredns-1', 'clear coredns-1', 'raise coredns-1', 'clear coredns-1']);
});

test('a kubeconfig hostname and no kube-apiserver pod: nothing to judge, nothing raised', () => {
  const s = setup('https://api.example.com:6443', false);
  s.policy('deny-all', { podSelector: {}, policyTypes: ['Ingress', 'Egress'] });
  s.check.evaluate();
  assert.equal(s.found(), []);
  assert.ok(s.lines.some((l) => l.includes('is a hostname')));
});

test.run();
