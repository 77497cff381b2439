// Against a REAL containerd (Debian 1.6) running REAL pods from a locally built image, in its own
// network namespace (test/runtime/containerd-lab.ts): a "static control-plane pod" (sandbox
// annotations kubernetes.io/config.source=file and config.hash, node network), an ordinary pod with a
// real CNI IP, and its container killed and re-created with a higher attempt the way the kubelet does.
// The agent's CRI client and poller read all of it; its snapshots flow into the collector extension.
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { GrpcRuntimeReader } from '../agent/cri/grpc-reader.js';
import { runRuntimeLoop, runtimeConfig, type RunningRuntime } from '../agent/cri/index.js';
import { applyEnvelope, SeenSet, type Stores } from '../collector/ingest/apply.js';
import { loadPodsFile } from '../collector/resolve/pods-file.js';
import { runtimeExtension } from '../collector/runtime/index.js';
import { DropStore } from '../collector/store/drops.js';
import { FindingStore } from '../collector/store/findings.js';
import { NodeStore } from '../collector/store/nodes.js';
import { labUnavailable, startCriLab, IMAGE, type CriLab, type Pod } from './runtime/containerd-lab.js';
import { recordingDeps, runtimeEnvelope } from './runtime/support.js';
import { RecordingSink } from './support/sink.js';
import { sleep, waitFor } from './support/wait.js';
import { testLog } from './support/log.js';

const NODE = 'node-a';
const HASH = '9d0c5e5d4c0a6e0f3b9e2c1a7f4d8b21';
const WEB_UID = '7b1d2c3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e';

/** The pod cache as --pods-file: web-0 with its real IP, no mirror pod for kube-apiserver-node-a. */
function writePods(lab: CriLab): string {
  const path = join(lab.dir, 'pods.json');
  const pod = (ns: string, name: string, uid: string, ip: string) => ({
    metadata: { namespace: ns, name, uid },
    spec: { nodeName: NODE },
    status: { podIP: ip, podIPs: [{ ip }], hostIP: '10.4.0.4' },
  });
  writeFileSync(
    path,
    JSON.stringify({ kind: 'List', apiVersion: 'v1', items: [pod('default', 'web-0', WEB_UID, webIp)] }),
  );
  return path;
}
let webIp = '';

const why = labUnavailable();
if (why) throw new Error(`runtime-containerd needs: ${why}`);
let lab: CriLab;
let apiserver: Pod, web: Pod;
let app0: string;
const rec = recordingDeps();
const sink = new RecordingSink();
let loop: RunningRuntime | undefined;

test.before(async () => {
  const t0 = Date.now();
  lab = await startCriLab();
  // what the kubelet does for /etc/kubernetes/manifests/kube-apiserver.yaml on node-a
  apiserver = await lab.runPod(lab.staticApiserverSandbox(`kube-apiserver-${NODE}`, HASH));
  await lab.startContainer(apiserver, 'kube-apiserver', 0);
  // an ordinary pod (API source) with a CNI address
  web = await lab.runPod(
    lab.sandbox('web-0', 'default', WEB_UID, {
      labels: { app: 'web' },
      annotations: { 'kubernetes.io/config.source': 'api' },
    }),
  );
  app0 = await lab.startContainer(web, 'app', 0);
  testLog.info({ ms: Date.now() - t0 }, 'lab up');
});

test.after(async () => {
  await loop?.stop();
  await lab?.down();
});

test('the CRI client lists the static pod (node network, config annotations) and the pod with its real IP', async () => {
  const r = new GrpcRuntimeReader({ endpoint: lab.endpoint, timeoutMs: 2000 });
  try {
    const v = await r.version();
    assert.is(v.runtimeName, 'containerd');
    assert.match(v.runtimeVersion, /^1\.6\./);
    assert.is(v.runtimeApiVersion, 'v1');
    const sandboxes = await r.listSandboxes();
    const st = sandboxes.find((s) => s.id === apiserver.id)!;
    assert.equal(
      [st.name, st.namespace, st.uid, st.state],
      [`kube-apiserver-${NODE}`, 'kube-system', HASH, 'SANDBOX_READY'],
    );
    assert.is(st.annotations['kubernetes.io/config.source'], 'file');
    assert.is(st.annotations['kubernetes.io/config.hash'], HASH);
    assert.is(st.labels.tier, 'control-plane');
    const nets = await r.sandboxNetworks([apiserver.id, web.id]);
    assert.equal(
      nets.get(apiserver.id),
      { ips: [], hostNetwork: true },
      'containerd reports no IP for a node-network sandbox',
    );
    const w = nets.get(web.id)!;
    assert.is(w.hostNetwork, false);
    assert.is(w.ips.length, 1);
    webIp = w.ips[0];
    assert.match(webIp, /^10\.89\.0\.\d+$/);
    // the address is real: host-local reserved it for this very sandbox, and it answers from the node's network
    const reservation = readFileSync(join(lab.ipamDir, lab.network, webIp), 'utf8');
    assert.ok(reservation.startsWith(web.id), `host-local's ${webIp} belongs to ${reservation.split('\n')[0]}`);
    assert.match(lab.inNetns(['busybox', 'ping', '-c', '1', '-W', '2', webIp]), /1 packets received/);
    const containers = await r.listContainers();
    assert.equal(
      containers.filter((c) => c.podSandboxId === web.id).map((c) => [c.name, c.attempt, c.state, c.image]),
      [['app', 0, 'CONTAINER_RUNNING', IMAGE]],
    );
    assert.equal(
      containers.filter((c) => c.podSandboxId === apiserver.id).map((c) => [c.name, c.state]),
      [['kube-apiserver', 'CONTAINER_RUNNING']],
    );
  } finally {
    r.close();
  }
});

test('the agent loop: a full snapshot first, nothing while unchanged, a killed and re-created container (attempt 1) is sent', async () => {
  loop = runRuntimeLoop(
    runtimeConfig({ 'runtime-endpoint': lab.endpoint, 'runtime-poll': '200ms', 'runtime-full-every': '1h' }),
    sink,
    rec.deps,
  );
  await waitFor('the first snapshot', () => rec.snapshots.length === 1, 5000);
  const s = rec.snapshots[0].snapshot;
  assert.equal([s.full, s.runtimeName, s.endpoint], [true, 'containerd', lab.endpoint]);
  const by = Object.fromEntries(s.pods!.map((p) => [p.name, p]));
  assert.equal([by[`kube-apiserver-${NODE}`].hostNetwork, by[`kube-apiserver-${NODE}`].ips], [true, []]);
  assert.equal(by[`kube-apiserver-${NODE}`].annotations, {
    'kubernetes.io/config.hash': HASH,
    'kubernetes.io/config.seen': '2026-11-23T15:25:49.904417213Z',
    'kubernetes.io/config.source': 'file',
  });
  assert.equal(by['web-0'].ips, [webIp]);
  assert.equal(
    by['web-0'].containers!.map((c: { attempt?: number | null; state?: string | null }) => [c.attempt, c.state]),
    [[0, 'CONTAINER_RUNNING']],
  );
  await sleep(1000);
  assert.is(rec.snapshots.length, 1, 'five unchanged polls, no snapshot');

  // the container dies (SIGKILL from outside, as an OOM kill would) and the kubelet re-creates it as attempt 1
  await lab.killContainer(app0);
  const st = await lab.admin.containerStatus(app0);
  assert.equal([st.state, st.exitCode, st.reason], [2, 137, 'Error']);
  await lab.startContainer(web, 'app', 1);
  await waitFor(
    'a snapshot with attempt 1 running',
    () =>
      rec.snapshots
        .at(-1)!
        .snapshot.pods!.find((p) => p.name === 'web-0')!
        .containers!.some((c) => c.attempt === 1 && c.state === 'CONTAINER_RUNNING'),
    5000,
    undefined,
    () => rec.snapshots.length,
  );
  const last = rec.snapshots.at(-1)!.snapshot;
  assert.equal(
    last.pods!.find((p) => p.name === 'web-0')!.containers!.map((c) => [c.name, c.attempt, c.state]),
    [
      ['app', 0, 'CONTAINER_EXITED'],
      ['app', 1, 'CONTAINER_RUNNING'],
    ],
  );
  // the exit, possibly attempt 1 still CREATED, then RUNNING: one snapshot per change, nothing else
  assert.ok(
    rec.snapshots.length >= 2 && rec.snapshots.length <= 4 && rec.snapshots.slice(1).every((x) => !x.snapshot.full),
    `${rec.snapshots.length} snapshots`,
  );
  assert.equal(
    sink.statuses.map((x) => [x.name, x.ok]),
    [['runtime', true]],
  );
  assert.match(sink.statuses[0].detail, /^containerd 1\.6\.\S+ via unix:\/\//);
  assert.is(sink.findings.length, 0, 'the agent raises nothing itself: the collector judges');
});

test('into the collector: StaticPodNotMirrored without the mirror pod, cleared when it appears; ContainerRestarting; the real pod IP names drops', async () => {
  // the pod cache as --pods-file: web-0 with its real IP, no mirror pod for kube-apiserver-node-a
  const index = loadPodsFile(writePods(lab));
  const ext = runtimeExtension(index, testLog, {
    staticPodGraceMs: 800,
    restartThreshold: 2,
    restartWindowMs: 60_000,
    tickMs: 0,
  });
  const stores: Stores = {
    drops: new DropStore(ext.resolver),
    findings: new FindingStore(ext.resolver),
    nodes: new NodeStore(60_000),
  };
  const seen = new SeenSet();
  let fed = 0;
  const feed = () => {
    for (; fed < rec.snapshots.length; fed++) {
      const env = runtimeEnvelope(NODE, rec.snapshots[fed].snapshot, rec.snapshots[fed].atMs, 'lab-agent');
      ext.listener(env, applyEnvelope(env, stores, seen, Date.now()), stores);
    }
  };
  feed();
  assert.equal(stores.findings.query({ kind: 'StaticPodNotMirrored' }), [], 'within the grace period');
  await sleep(900);
  ext.tick();
  const [f] = stores.findings.query({ kind: 'StaticPodNotMirrored' });
  assert.equal(
    [f?.active, f?.severity, f?.node, f?.evidence?.pod, f?.evidence?.configHash, f?.evidence?.sandbox],
    [true, 'critical', NODE, `kube-system/kube-apiserver-${NODE}`, HASH, apiserver.id],
  );

  // one restart so far (attempt 0 -> 1); the kubelet restarts it once more: attempt 2
  assert.equal(stores.findings.query({ kind: 'ContainerRestarting' }), []);
  const app1 = await lab.admin.containerStatus(
    rec.snapshots
      .at(-1)!
      .snapshot.pods!.find((p) => p.name === 'web-0')!
      .containers!.find((c) => c.attempt === 1)!.id!,
  );
  assert.is(app1.state, 1);
  const id1 = rec.snapshots
    .at(-1)!
    .snapshot.pods!.find((p) => p.name === 'web-0')!
    .containers!.find((c) => c.attempt === 1)!.id!;
  await lab.killContainer(id1);
  await lab.startContainer(web, 'app', 2);
  // (a poll may catch attempt 2 between CreateContainer and StartContainer: CONTAINER_CREATED, then a RUNNING one)
  await waitFor(
    'attempt 2 running in a snapshot',
    () =>
      rec.snapshots
        .at(-1)!
        .snapshot.pods!.find((p) => p.name === 'web-0')!
        .containers!.some((c) => c.attempt === 2 && c.state === 'CONTAINER_RUNNING'),
    5000,
  );
  feed();
  const [r] = stores.findings.query({ kind: 'ContainerRestarting' });
  assert.equal(
    [r?.active, r?.severity, r?.pod, r?.evidence?.attempts],
    [true, 'warning', { namespace: 'default', name: 'web-0', uid: WEB_UID, container: 'app' }, '0→2'],
  );

  // GET /api/v1/nodes/node-a/runtime shows what containerd has
  const view = ext.routes['/api/v1/nodes/:node/runtime'](new URLSearchParams(), { node: NODE }) as any;
  assert.equal(view.pods.find((p: any) => p.name === `kube-apiserver-${NODE}`).staticPod, {
    configHash: HASH,
    mirrorPod: false,
  });
  assert.equal(
    view.containers.filter((c: any) => c.podName === 'web-0').map((c: any) => [c.attempt, c.state]),
    [
      [2, 'CONTAINER_RUNNING'],
      [1, 'CONTAINER_EXITED'],
      [0, 'CONTAINER_EXITED'],
    ],
  );

  // the mirror pod appears in the API (pods file refreshed): cleared
  index.replace([
    {
      namespace: 'default',
      name: 'web-0',
      uid: WEB_UID,
      node: NODE,
      hostNetwork: false,
      podIPs: [webIp],
      hostIPs: ['10.4.0.4'],
    },
    {
      namespace: 'kube-system',
      name: `kube-apiserver-${NODE}`,
      uid: 'f00dbabe-0000-4000-8000-000000000001',
      node: NODE,
      hostNetwork: true,
      podIPs: ['10.4.0.4'],
      hostIPs: ['10.4.0.4'],
    },
  ]);
  ext.tick();
  assert.equal(
    stores.findings.query({ kind: 'StaticPodNotMirrored' }).map((x) => x.active),
    [false],
  );
  // a pod the cache does not know yet is named by the runtime's own address for it
  index.replace([]);
  assert.equal(ext.resolver.resolve(webIp), {
    kind: 'pod',
    namespace: 'default',
    name: 'web-0',
    uid: WEB_UID,
    node: NODE,
  });
  ext.stop();
});

test('CRI Status: containerd with its CNI config removed reports NetworkReady=false -> RuntimeNetworkNotReady; config back -> cleared', async () => {
  const conf = join(lab.dir, 'cni', '10-nw.conflist');
  const aside = join(lab.dir, 'cni-conf.aside');
  const ext = runtimeExtension(loadPodsFile(writePods(lab)), testLog, { tickMs: 0 });
  const stores: Stores = {
    drops: new DropStore(ext.resolver),
    findings: new FindingStore(ext.resolver),
    nodes: new NodeStore(60_000),
  };
  const seen = new SeenSet();
  let fed = rec.snapshots.length - 1; // the latest view, then every one after it
  const feed = () => {
    for (; fed < rec.snapshots.length; fed++) {
      const env = runtimeEnvelope(NODE, rec.snapshots[fed].snapshot, rec.snapshots[fed].atMs, 'lab-agent');
      ext.listener(env, applyEnvelope(env, stores, seen, Date.now()), stores);
    }
  };
  const network = () => rec.snapshots.at(-1)!.snapshot.conditions!.find((c) => c.type === 'NetworkReady');
  feed();
  assert.equal(
    rec.snapshots.at(-1)!.snapshot.conditions!.map((c) => [c.type, !!c.status]),
    [
      ['NetworkReady', true],
      ['RuntimeReady', true],
    ],
  );
  assert.equal(stores.findings.query({ kind: 'RuntimeNetworkNotReady' }), []);
  const before = rec.snapshots.length;
  renameSync(conf, aside);
  try {
    await waitFor('a snapshot with NetworkReady=false', () => network()?.status === false, 5000);
    assert.is(rec.snapshots.length, before + 1, 'one change snapshot, not one per poll');
    feed();
    const [f] = stores.findings.query({ kind: 'RuntimeNetworkNotReady' });
    assert.equal(
      [f?.active, f?.severity, f?.node, f?.evidence?.reason],
      [true, 'critical', NODE, 'NetworkPluginNotReady'],
    );
    assert.match(
      f!.message,
      /^container runtime containerd reports NetworkReady=false \(NetworkPluginNotReady\): .*cni plugin not initialized/,
    );
    const api = ext.routes['/api/v1/nodes/:node/runtime'](new URLSearchParams(), { node: NODE }) as any;
    assert.equal(api.conditions.find((c: any) => c.type === 'NetworkReady').status, false);
  } finally {
    // containerd reloads on a file written into the directory (a rename into it goes unnoticed)
    writeFileSync(conf, readFileSync(aside));
  }
  await waitFor('NetworkReady=true again', () => network()?.status === true, 10_000);
  feed();
  assert.equal(
    stores.findings.query({ kind: 'RuntimeNetworkNotReady' }).map((x) => x.active),
    [false],
  );
  ext.stop();
});

test('teardown leaves nothing behind (sandboxes, shims, mounts, netns, cgroups, /var/lib/cni, temp dir)', async () => {
  await loop?.stop();
  loop = undefined;
  const t0 = Date.now();
  await lab.down();
  assert.equal(lab.leftovers(), []);
  assert.ok(Date.now() - t0 < 15_000);
});

test.run();
