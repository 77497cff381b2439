// The two findings of issue 11 that need no single drop to be explained, end to end with real
// components only: `nodewarden collector --kubeconfig` (least-privileged token user,
// test/fixtures/kube/collector-rbac.yaml: no endpoints rights) against a REAL kube-apiserver, and a
// real NATS JetStream for the drops.
//  - APIServerEgressBlocked: CoreDNS in kube-system + `deny-all` -> the finding in /api/v1/findings
//    and as an Event on the pod, without any drop; allowed by an ipBlock covering the API server
//    address or by a port rule -> none; an ipBlock against the host-network kube-apiserver pod only
//    -> undecidable: not raised, logged; the policy deleted -> cleared.
//  - Cluster-level DNSBlocked: drops from 12 pods in 3 namespaces -> one finding naming them.
// The API server address the collector judges is the kubeconfig's (https://127.0.0.1:<port>; with
// --pod-cidr 10.244.0.0/16 it is an address outside the pod network) plus the kube-apiserver pod's
// host IP (192.0.2.1, hostNetwork, label component=kube-apiserver) on the same port.
// Run: node --import tsx test/apiserver-egress-e2e.test.ts
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, type JetStreamClient } from '@nats-io/jetstream';
import { startControlPlane, type ControlPlane } from './support/kube.js';
import { startNats, type NatsServer } from './support/nats.js';
import { spawnCollector, getJson, type CollectorProc } from './support/procs.js';
import { sleep, waitFor } from './support/wait.js';
import { applyNetworkPolicy, grantCollector, listEvents, COLLECTOR_USER } from './fixtures/kube/helpers.js';
import { encodeEnvelope } from '../proto/codec.js';
import { subjectFor, messageId } from '../common/subjects.js';
import type { Explanation } from '../collector/explain/index.js';

const DNS = '10.244.2.3',
  APISERVER_HOST = '192.0.2.1';
let cp: ControlPlane, nats: NatsServer, nc: NatsConnection, js: JetStreamClient;
let collector: CollectorProc, api: string, apiPort: number;
const uids: Record<string, string> = {};

interface FindingView {
  kind: string;
  severity: string;
  active: boolean;
  message: string;
  node: string;
  pod?: { namespace: string; name: string; uid?: string };
  evidence?: Record<string, string>;
}
const findings = async (kind: string) =>
  (await getJson<{ items: FindingView[] }>(`${api}/api/v1/findings?kind=${kind}&limit=1000`)).items;
const egressOf = async (pod: string) => (await findings('APIServerEgressBlocked')).find((f) => f.pod?.name === pod);

const NP = '/apis/networking.k8s.io/v1/namespaces/kube-system/networkpolicies';
async function deletePolicy(name: string): Promise<void> {
  const r = await cp.request('DELETE', `${NP}/${name}`);
  assert.ok(r.status === 200 || r.status === 202, JSON.stringify(r.body));
}
/** Waits until the collector's policy view has the policy's current rule (the check runs right after). */
async function collectorSees(pred: (e: Explanation) => boolean, what: string): Promise<void> {
  await waitFor(
    what,
    async () =>
      pred(
        await getJson<Explanation>(
          `${api}/api/v1/explain?from=kube-system/coredns-x2x4q&to=127.0.0.1&port=${apiPort}&proto=TCP`,
        ),
      ),
    10_000,
  );
  await sleep(2500); // > 2 check intervals (1 s): a wrong raise would be in the store by now
}

test.before(async () => {
  cp = await startControlPlane({ users: [{ name: COLLECTOR_USER }] });
  apiPort = Number(new URL(cp.url).port);
  await grantCollector(cp);
  for (const [name, ip, labels] of [
    ['coredns-x2x4q', DNS, { 'k8s-app': 'kube-dns' }],
    ['metrics-server-0', '10.244.2.4', { 'k8s-app': 'metrics-server' }],
  ] as const)
    uids[name] = (
      await cp.createPod('kube-system', name, { nodeName: 'node-a', podIP: ip, hostIP: '192.0.2.10', labels })
    ).uid;
  await cp.createPod('kube-system', 'kube-apiserver-cp-1', {
    nodeName: 'cp-1',
    hostNetwork: true,
    hostIP: APISERVER_HOST,
    labels: { component: 'kube-apiserver', tier: 'control-plane' },
  });
  nats = await startNats();
  nc = await connect({ servers: nats.url });
  js = jetstream(nc);
  collector = await spawnCollector(nats.url, [
    '--kubeconfig',
    cp.kubeconfig(COLLECTOR_USER),
    '--pod-cidr',
    '10.244.0.0/16',
    '--event-update-interval',
    '1s',
    '--dns-blocked-clear',
    '1h',
  ]);
  api = collector.api;
  await waitFor(
    'collector /readyz 200',
    async () => (await fetch(`${api}/readyz`).catch(() => undefined))?.status === 200,
    30_000,
  );
  await collector.waitForLog(/events: consuming/);
});

test.after(async () => {
  await nc?.close();
  await collector?.stop('SIGKILL');
  await nats?.stop();
  await cp?.stop();
});

test('no policy in kube-system: no APIServerEgressBlocked', async () => {
  await sleep(2000);
  assert.equal(await findings('APIServerEgressBlocked'), []);
});

test('deny-all in kube-system: CoreDNS (and every other non-host-network pod) gets APIServerEgressBlocked without any drop', async () => {
  await applyNetworkPolicy(cp, 'kube-system', 'deny-all', { podSelector: {}, policyTypes: ['Ingress', 'Egress'] });
  const f = await waitFor('APIServerEgressBlocked on coredns', () => egressOf('coredns-x2x4q'), 10_000);
  assert.is(f.active, true);
  assert.is(f.severity, 'critical');
  assert.is(f.node, 'node-a');
  assert.equal(f.pod, { namespace: 'kube-system', name: 'coredns-x2x4q', uid: uids['coredns-x2x4q'] });
  const summary = `Egress of kube-system/coredns-x2x4q is isolated by kube-system/deny-all; no rule allows TCP/${apiPort} to 127.0.0.1.`;
  assert.is(f.evidence?.explanation, summary);
  assert.is(f.evidence?.apiServer, `127.0.0.1:${apiPort} (kubeconfig)`);
  assert.is(
    f.evidence?.apiServers,
    `127.0.0.1:${apiPort} (kubeconfig), ${APISERVER_HOST}:${apiPort} (kube-apiserver pod)`,
  );
  assert.is(f.evidence?.isolatedBy, 'kube-system/deny-all');
  assert.is(
    f.message,
    `kube-system/coredns-x2x4q cannot reach the API server (127.0.0.1:${apiPort}, ${APISERVER_HOST}:${apiPort}): ${summary}`,
  );
  assert.ok(await waitFor('metrics-server too', () => egressOf('metrics-server-0'), 5000));
  assert.is(await egressOf('kube-apiserver-cp-1'), undefined, 'a host-network pod: NetworkPolicy does not apply');
  assert.equal((await getJson<{ items: unknown[] }>(`${api}/api/v1/drops`)).items, [], 'not one drop was published');
  await waitFor(
    'the Event on the CoreDNS pod',
    async () =>
      (
        await listEvents(
          cp,
          'kube-system',
          `involvedObject.name=coredns-x2x4q,involvedObject.uid=${uids['coredns-x2x4q']}`,
        )
      ).some((e) => e.reason === 'APIServerEgressBlocked' && e.type === 'Warning' && e.message === f.message),
    15_000,
  );
});

test('an ipBlock covering the API server address on its port: CoreDNS cleared, metrics-server (not selected) stays', async () => {
  await applyNetworkPolicy(cp, 'kube-system', 'allow-apiserver', {
    podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } },
    policyTypes: ['Egress'],
    egress: [{ to: [{ ipBlock: { cidr: '127.0.0.1/32' } }], ports: [{ protocol: 'TCP', port: apiPort }] }],
  });
  const f = await waitFor(
    'coredns cleared',
    async () => {
      const x = await egressOf('coredns-x2x4q');
      return x && !x.active && x;
    },
    10_000,
  );
  assert.match(f.message, /may reach the API server again/);
  assert.is((await egressOf('metrics-server-0'))?.active, true);
});

test('a port rule (any destination, TCP/<apiserver port>): no finding', async () => {
  await applyNetworkPolicy(cp, 'kube-system', 'allow-apiserver', {
    podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } },
    policyTypes: ['Egress'],
    egress: [{ ports: [{ protocol: 'TCP', port: apiPort }] }],
  });
  await collectorSees(
    (e) => e.sides[0].allowedBy?.policy === 'kube-system/allow-apiserver' && e.sides[0].allowedBy.rule === 0,
    'collector sees the port rule',
  );
  assert.is((await egressOf('coredns-x2x4q'))?.active, false);
});

test('the wrong port: raised again (the rule allows TCP/443, the API server listens elsewhere)', async () => {
  await applyNetworkPolicy(cp, 'kube-system', 'allow-apiserver', {
    podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } },
    policyTypes: ['Egress'],
    egress: [{ ports: [{ protocol: 'TCP', port: 443 }] }],
  });
  const f = await waitFor(
    'coredns raised again',
    async () => {
      const x = await egressOf('coredns-x2x4q');
      return x?.active && x;
    },
    10_000,
  );
  assert.is(f.evidence?.isolatedBy, 'kube-system/allow-apiserver, kube-system/deny-all');
  assert.match(f.evidence?.fix ?? '', new RegExp(`allows TCP/443, not TCP/${apiPort}`));
});

test('an ipBlock against the host-network kube-apiserver only: undecidable, so not raised, and logged', async () => {
  await applyNetworkPolicy(cp, 'kube-system', 'allow-apiserver', {
    podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } },
    policyTypes: ['Egress'],
    egress: [{ to: [{ ipBlock: { cidr: `${APISERVER_HOST}/32` } }] }],
  });
  await collector.waitForLog(
    /coredns-x2x4q.*cannot tell whether NetworkPolicies let this pod reach the API server|cannot tell whether NetworkPolicies let this pod reach the API server.*coredns-x2x4q/,
    10_000,
  );
  await waitFor(
    'coredns cleared (no longer decidable)',
    async () => (await egressOf('coredns-x2x4q'))?.active === false,
    10_000,
  );
  await sleep(2500);
  assert.is((await egressOf('coredns-x2x4q'))?.active, false);
  assert.is((await egressOf('metrics-server-0'))?.active, true);
});

test('deny-all and the allow deleted: cleared', async () => {
  await deletePolicy('allow-apiserver');
  await deletePolicy('deny-all');
  await waitFor('metrics-server cleared', async () => (await egressOf('metrics-server-0'))?.active === false, 10_000);
  assert.ok((await findings('APIServerEgressBlocked')).every((f) => !f.active));
});

test('cluster-level DNSBlocked: drops from 12 pods in 3 namespaces through NATS -> one finding on the DNS pod naming the 3 namespaces', async () => {
  const pods: { ns: string; name: string; ip: string }[] = [];
  for (const [i, ns] of ['shop', 'billing', 'search'].entries()) {
    await cp.createNamespace(ns);
    for (let j = 0; j < 4; j++) {
      const p = { ns, name: `app-${j}`, ip: `10.244.${10 + i}.${j + 1}` };
      await cp.createPod(ns, p.name, { nodeName: 'node-b', podIP: p.ip, hostIP: '192.0.2.11', labels: { app: 'x' } });
      pods.push(p);
    }
  }
  await waitFor(
    'the collector knows the 12 pods',
    async () => {
      const e = await fetch(`${api}/api/v1/explain?from=${pods[11].ip}&to=${DNS}&port=53&proto=UDP`);
      return e.status === 200 && ((await e.json()) as Explanation).sides[0].pod?.name === 'app-3';
    },
    15_000,
  );
  const now = Date.now();
  const drops = pods.map((p) => ({
    prefix: 'calico-packet:',
    family: 4,
    proto: 'UDP',
    src: p.ip,
    dst: DNS,
    dstPort: 53,
    count: 3,
    firstSeenMs: now - 500,
    lastSeenMs: now,
    sample: 'x',
  }));
  const ack = await js.publish(
    subjectFor('node-b', 'drops'),
    encodeEnvelope({
      node: 'node-b',
      agentId: 'c1c1c1c1c1c1',
      seq: 1,
      sentMs: now,
      agentVersion: 'test',
      drops: { drops },
    }),
    { msgID: messageId('node-b', 'c1c1c1c1c1c1', 1) },
  );
  assert.not.ok(ack.duplicate);
  const all = await waitFor(
    '12 per-pod DNSBlocked and the cluster one',
    async () => {
      const x = await findings('DNSBlocked');
      return x.length === 13 && x;
    },
    15_000,
  );
  const cluster = all.filter((f) => f.evidence?.scope === 'cluster');
  assert.is(cluster.length, 1);
  const [c] = cluster;
  assert.is(c.active, true);
  assert.is(c.evidence?.namespaces, 'billing,search,shop');
  assert.is(c.evidence?.pods, '12');
  assert.is(c.node, 'node-a', 'on the node of the DNS pod');
  assert.equal(c.pod, { namespace: 'kube-system', name: 'coredns-x2x4q', uid: uids['coredns-x2x4q'] });
  assert.match(
    c.message,
    /^DNS is dropped for 10 or more pods in 3 namespaces \(billing, search, shop\) towards kube-system\/coredns-x2x4q/,
  );
  // the cluster finding's Event on the DNS pod; per-pod Events only for the pods before the threshold
  await waitFor(
    'the cluster DNSBlocked Event on coredns',
    async () =>
      (await listEvents(cp, 'kube-system', `involvedObject.name=coredns-x2x4q`)).some(
        (e) => e.reason === 'DNSBlocked' && e.message === c.message,
      ),
    15_000,
  );
  await sleep(1500);
  let perPod = 0;
  for (const ns of ['shop', 'billing', 'search'])
    perPod += (await listEvents(cp, ns)).filter((e) => e.reason === 'DNSBlocked').length;
  assert.is(perPod, 9, 'one Event per pod for the first 9, none for the rest');
});

test.run();
