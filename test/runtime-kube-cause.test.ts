// The seed incident end to end, with real parts: a static kube-apiserver pod runs in a REAL containerd
// on node-a, and the REAL kube-apiserver's Pod Security admission (namespace enforce=baseline) refuses
// its mirror pod. The kubelet's create is made here as the node user, exactly as the kubelet sends it,
// and its answer is logged the way kubelet 1.36 logs it (klog, SYSLOG_IDENTIFIER=kubelet) into the
// journal the agent reads: no kubelet binary runs (it would take the machine over, and kubelet 1.36
// refuses this cgroup v1 host by default: failCgroupV1). Agent and collector are
// the real CLI processes over NATS. The collector raises StaticPodNotMirrored on the node after the grace
// period, then — once the kubelet's error is read — names the cause: in its API, in `nodewarden
// findings`, and as a Warning Event on the Node. It clears once the namespace allows the pod and the
// mirror pod exists.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createTestJournal, journalRemoteAvailable, type TestJournal } from './support/journal.js';
import { startControlPlane, type ControlPlane } from './support/kube.js';
import { getJson, runCli } from './support/procs.js';
import { startStack, type Stack } from './support/stack.js';
import { labUnavailable, startCriLab, type CriLab } from './runtime/containerd-lab.js';
import { waitFor } from './support/wait.js';

const NODE = 'node-a';
const NODE_USER = `system:node:${NODE}`;
const HASH = '0a7d2bbd8c3c4c6f9e1b5a3d7f2e4c81';
const POD = `kube-apiserver-${NODE}`;

/** kubelet 1.36's line for a failed mirror pod create (pkg/kubelet/kubelet.go tryReconcileMirrorPods, klog text). */
function kubeletLine(err: string, pid: number): string {
  const d = new Date();
  const p2 = (n: number) => String(n).padStart(2, '0');
  const head = `E${p2(d.getUTCMonth() + 1)}${p2(d.getUTCDate())} ${p2(d.getUTCHours())}:${p2(d.getUTCMinutes())}:${p2(d.getUTCSeconds())}.${String(d.getUTCMilliseconds() * 1000).padStart(6, '0')} ${String(pid).padStart(7)} kubelet.go:3501]`;
  // klog quotes values with Go's strconv.Quote; for this ASCII text JSON's quoting is the same.
  return `${head} "Failed creating a mirror pod" err=${JSON.stringify(err)} pod="kube-system/${POD}"`;
}

const skip = labUnavailable() ?? (journalRemoteAvailable() ? undefined : 'systemd-journal-remote missing');
if (skip) throw new Error(`runtime-kube-cause needs: ${skip}`);
let cp: ControlPlane;
let lab: CriLab;
let journal: TestJournal;
let stack: Stack | undefined;
let nodeUid = '';

/** The mirror pod the kubelet would create for the static pod (mirror_client.go CreateMirrorPod). */
const mirrorPod = () => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: {
    name: POD,
    namespace: 'kube-system',
    labels: { component: 'kube-apiserver', tier: 'control-plane' },
    annotations: {
      'kubernetes.io/config.hash': HASH,
      'kubernetes.io/config.mirror': HASH,
      'kubernetes.io/config.source': 'file',
      'kubernetes.io/config.seen': '2026-11-23T15:25:49.904417213Z',
    },
    ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name: NODE, uid: nodeUid, controller: true }],
  },
  spec: {
    nodeName: NODE,
    hostNetwork: true,
    priorityClassName: 'system-node-critical',
    containers: [
      {
        name: 'kube-apiserver',
        image: 'registry.k8s.io/kube-apiserver:v1.36.3',
        securityContext: { privileged: true },
      },
    ],
  },
});
const createMirror = () => cp.request('POST', '/api/v1/namespaces/kube-system/pods', mirrorPod(), { user: NODE_USER });
const finding = async () =>
  (await getJson<{ items: any[] }>(`${stack!.api}/api/v1/findings?kind=StaticPodNotMirrored`)).items.find(
    (f) => f.evidence?.pod === `kube-system/${POD}`,
  );

test.before(async () => {
  cp = await startControlPlane({ users: [{ name: NODE_USER, groups: ['system:nodes'] }] });
  nodeUid = (await cp.createNode(NODE, '10.4.0.4')).uid;
  // what the Node authorizer grants a kubelet, as plain RBAC (this harness runs RBAC only)
  for (const args of [
    ['create', 'clusterrolebinding', 'kubelet-node-a', '--clusterrole=system:node', `--user=${NODE_USER}`],
    ['label', 'namespace', 'kube-system', 'pod-security.kubernetes.io/enforce=baseline'],
  ]) {
    const r = await cp.kubectl(args);
    assert.is(r.code, 0, r.stderr);
  }
  lab = await startCriLab('nwcause');
  const sb = await lab.runPod(lab.staticApiserverSandbox(POD, HASH));
  await lab.startContainer(sb, 'kube-apiserver', 0);
  journal = createTestJournal();
  await journal.append(['Linux version 6.1 (boot banner)']);
  stack = await startStack({
    node: NODE,
    journalDir: journal.dir,
    agentArgs: [
      '--probes',
      'none',
      '--container-log-dir',
      '',
      '--runtime-endpoint',
      lab.endpoint,
      '--runtime-poll',
      '200ms',
    ],
    collectorArgs: ['--kubeconfig', cp.kubeconfig(), '--static-pod-grace', '1s'],
  });
});

test.after(async () => {
  await stack?.stop();
  journal?.remove();
  await lab?.down();
  await cp?.stop();
});

const nodeEvents = async () => {
  const r = await cp.kubectl([
    'get',
    'events',
    '-A',
    '--field-selector',
    `involvedObject.kind=Node,involvedObject.name=${NODE},reason=StaticPodNotMirrored`,
    '-o',
    'json',
  ]);
  return JSON.parse(r.stdout || '{"items":[]}').items as any[];
};

test('no mirror pod for the grace period: raised, and the finding says where to look (no kubelet line read yet)', async () => {
  const f = await waitFor(
    'StaticPodNotMirrored',
    async () => {
      const x = await finding();
      return x?.active ? x : undefined;
    },
    20_000,
  );
  assert.equal([f.node, f.severity, f.evidence.cause], [NODE, 'critical', undefined]);
  assert.match(f.message, /the kubelet's log on the node says which\)$/);
  await waitFor('the first Node Event', async () => (await nodeEvents()).length === 1, 20_000);
});

test("the API server refuses the mirror pod; the raised finding learns the cause, with the API server's words, and a new Event says it", async () => {
  const refused = await createMirror();
  assert.is(refused.status, 403);
  const answer: string = refused.body.message;
  assert.match(
    answer,
    /^pods "kube-apiserver-node-a" is forbidden: violates PodSecurity "baseline:latest": host namespaces \(hostNetwork=true\), privileged/,
  );
  // the kubelet logs it, and retries (and logs it again) on every sync of the pod
  await journal.append([kubeletLine(answer, 4242)], { transport: 'stdout', identifier: 'kubelet' });
  await journal.append(
    ['I1123 17:40:02.000000    4242 kubelet.go:2527] "SyncLoop (PLEG): event for pod" pod="default/web-0"'],
    { transport: 'stdout', identifier: 'kubelet' },
  );
  await journal.append([kubeletLine(answer, 4242)], { transport: 'stdout', identifier: 'kubelet' });

  const f = await waitFor(
    'StaticPodNotMirrored with its cause',
    async () => {
      const x = await finding();
      return x?.active && x.evidence?.cause ? x : undefined;
    },
    20_000,
    undefined,
    async () => JSON.stringify(await finding()),
  );
  assert.equal(
    [f.node, f.severity, f.evidence.cause, f.evidence.kubeletError],
    [NODE, 'critical', 'PodSecurity', answer],
  );
  assert.ok(
    f.message.includes(
      `Likely cause: Pod Security admission rejects it: the namespace enforces "baseline:latest" (host namespaces (hostNetwork=true), privileged (container "kube-apiserver" must not set securityContext.privileged=true)). The kubelet got: ${answer}`,
    ),
    f.message,
  );

  const cli = await runCli(['findings', '-A', '--collector', stack!.api, '--kind', 'StaticPodNotMirrored']);
  assert.is(cli.code, 0, cli.stderr);
  assert.match(cli.stdout, /Pod Security admission rejects it/);

  const rt = await getJson(`${stack!.api}/api/v1/nodes/${NODE}/runtime`);
  const sp = rt.pods.find((p: any) => p.name === POD).staticPod;
  assert.equal([sp.mirrorPod, sp.kubeletError.error], [false, answer]);

  // kubectl describe node shows it: a Warning Event on the Node, in the real API server
  const ev = await waitFor(
    'the Node Event naming the cause',
    async () => (await nodeEvents()).find((e) => e.message.includes('Pod Security admission rejects it')),
    20_000,
  );
  assert.equal([ev.type, ev.involvedObject.uid], ['Warning', nodeUid]);
  const described = await cp.kubectl(['describe', 'node', NODE]);
  assert.match(described.stdout, /StaticPodNotMirrored/);
});

test("the namespace allows it again; the kubelet's next create succeeds -> cleared", async () => {
  const r = await cp.kubectl(['label', 'namespace', 'kube-system', 'pod-security.kubernetes.io/enforce-']);
  assert.is(r.code, 0, r.stderr);
  const created = await createMirror();
  assert.is(created.status, 201, JSON.stringify(created.body));
  const cleared = await waitFor(
    'cleared',
    async () => {
      const x = await finding();
      return x && !x.active ? x : undefined;
    },
    20_000,
  );
  assert.is(cleared.message, `mirror pod kube-system/${POD} is in the API now`);
});

test.run();
