// StaticPodNotMirrored against a REAL kube-apiserver (test/support/kube.ts) through the collector's
// real pod watch (collector/kube PodWatch, podByName): mirror pod present -> nothing; absent for the
// grace period -> raised; the kubelet's mirror pod appears -> cleared; deleted again -> raised again.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { applyEnvelope, SeenSet, type Stores } from '../collector/ingest/apply.js';
import { KubeClient } from '../collector/kube/client.js';
import { loadKubeconfig } from '../collector/kube/config.js';
import { PodWatch } from '../collector/kube/pod-watch.js';
import { runtimeExtension, type RuntimeExtension } from '../collector/runtime/index.js';
import { DropStore } from '../collector/store/drops.js';
import { FindingStore } from '../collector/store/findings.js';
import { NodeStore } from '../collector/store/nodes.js';
import type { RuntimeSnapshot } from '../proto/codec.js';
import { startControlPlane, type ControlPlane } from './support/kube.js';
import { runtimeEnvelope } from './runtime/support.js';
import { testLog } from './support/log.js';
import { waitFor } from './support/wait.js';

const NODE = 'node-a';
const APISERVER_HASH = '9d0c5e5d4c0a6e0f3b9e2c1a7f4d8b21';
const ETCD_HASH = '1f2e3d4c5b6a79880f1e2d3c4b5a6978';
const GRACE = 1000;

const staticPod = (name: string, hash: string, id: string) => ({
  id: id.repeat(64).slice(0, 64),
  namespace: 'kube-system',
  name: `${name}-${NODE}`,
  uid: hash,
  state: 'SANDBOX_READY',
  ips: [],
  hostNetwork: true,
  createdMs: Date.now() - 3_600_000,
  labels: { component: name, tier: 'control-plane' },
  annotations: { 'kubernetes.io/config.source': 'file', 'kubernetes.io/config.hash': hash },
  containers: [
    {
      id: id.repeat(64).slice(0, 64).replace(/^./, '9'),
      name,
      image: `registry.k8s.io/${name}:v1.31.2`,
      state: 'CONTAINER_RUNNING',
      attempt: 0,
      createdMs: Date.now() - 3_500_000,
    },
  ],
});
const view = (): RuntimeSnapshot => ({
  full: true,
  runtimeName: 'containerd',
  runtimeVersion: '1.7.22',
  endpoint: 'unix:///run/containerd/containerd.sock',
  pods: [staticPod('kube-apiserver', APISERVER_HASH, 'a'), staticPod('etcd', ETCD_HASH, 'b')],
});
const mirror = (cp: ControlPlane, name: string, hash: string) =>
  cp.createPod('kube-system', `${name}-${NODE}`, {
    nodeName: NODE,
    hostNetwork: true,
    hostIP: '10.4.0.4',
    labels: { component: name, tier: 'control-plane' },
    // what the kubelet puts on a mirror pod
    annotations: {
      'kubernetes.io/config.mirror': hash,
      'kubernetes.io/config.hash': hash,
      'kubernetes.io/config.source': 'file',
      'kubernetes.io/config.seen': '2026-11-23T15:25:49.904417213Z',
    },
  });

let cp: ControlPlane | undefined;
let watch: PodWatch | undefined;
let client: KubeClient | undefined;
let ext: RuntimeExtension | undefined;
let stores: Stores;
const seen = new SeenSet();
const send = () => {
  const env = runtimeEnvelope(NODE, view(), Date.now());
  ext!.listener(env, applyEnvelope(env, stores, seen, Date.now()), stores);
};
const finding = (pod: string) =>
  stores.findings.query({ kind: 'StaticPodNotMirrored' }).find((f) => f.evidence?.pod === `kube-system/${pod}-${NODE}`);

test.before(async () => {
  cp = await startControlPlane();
  await cp.createNode(NODE, '10.4.0.4');
  await mirror(cp, 'etcd', ETCD_HASH); // etcd's mirror pod is there all along
  client = new KubeClient(loadKubeconfig(cp.kubeconfig()));
  watch = new PodWatch(client, testLog, { graceMs: 5000 });
  watch.start();
  await watch.waitReady(20_000);
  ext = runtimeExtension(watch, testLog, { staticPodGraceMs: GRACE, tickMs: 100 });
  stores = {
    drops: new DropStore(ext.resolver),
    findings: new FindingStore(ext.resolver),
    nodes: new NodeStore(60_000),
  };
});

test.after(async () => {
  ext?.stop();
  await watch?.stop();
  client?.close();
  await cp?.stop();
});

test('etcd (mirror pod in the API) never raises; kube-apiserver (none) raises after the grace period', async () => {
  const t0 = Date.now();
  send();
  assert.is(finding('kube-apiserver'), undefined, 'not before the grace period');
  const f = await waitFor('StaticPodNotMirrored for kube-apiserver', () => finding('kube-apiserver'), 5000);
  assert.ok(Date.now() - t0 >= GRACE);
  assert.equal([f.node, f.severity, f.active, f.evidence!.configHash], [NODE, 'critical', true, APISERVER_HASH]);
  assert.is(finding('etcd'), undefined);
  const api = ext!.routes['/api/v1/nodes/:node/runtime'](new URLSearchParams(), { node: NODE }) as {
    pods: { name: string; staticPod?: { mirrorPod: boolean | null } }[];
  };
  assert.equal(api.pods.map((p) => [p.name, p.staticPod?.mirrorPod]).sort(), [
    [`etcd-${NODE}`, true],
    [`kube-apiserver-${NODE}`, false],
  ]);
});

test('the mirror pod appears in the API -> cleared; deleted -> raised again after the grace period', async () => {
  await mirror(cp!, 'kube-apiserver', APISERVER_HASH);
  const cleared = await waitFor(
    'cleared',
    () => (finding('kube-apiserver')?.active === false ? finding('kube-apiserver') : undefined),
    5000,
  );
  assert.is(cleared.message, `mirror pod kube-system/kube-apiserver-${NODE} is in the API now`);
  assert.ok(cleared.evidence!.mirrorUid, "the mirror pod's own uid, from the API");
  await cp!.deletePod('kube-system', `kube-apiserver-${NODE}`);
  const again = await waitFor(
    'raised again',
    () => (finding('kube-apiserver')?.active ? finding('kube-apiserver') : undefined),
    5000,
  );
  assert.is(again.severity, 'critical');
  assert.is(finding('etcd'), undefined);
});

test.run();
