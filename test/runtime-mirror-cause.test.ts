// Why a static pod has no mirror pod: the kubelet's log line (every format it has used) -> the agent's
// MirrorErrorBook -> the snapshot -> StaticPodNotMirrored naming the likely cause; and the CRI Status
// conditions -> RuntimeNotReady / RuntimeNetworkNotReady. Pure parts; the real-component paths are in
// runtime-kube-cause.test.ts (real API server answer) and runtime-containerd.test.ts (real containerd).
import { readFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { klogPairs, MAX_ERROR, parseMirrorPodFailure, unquoteGo } from '../agent/cri/kubelet-log.js';
import { MirrorErrorBook } from '../agent/cri/mirror-errors.js';
import { StaticPodCheck } from '../collector/runtime/checks.js';
import { RuntimeConditionCheck } from '../collector/runtime/condition-check.js';
import { mirrorCause } from '../collector/runtime/mirror-cause.js';
import type { MirrorPodErrorView, RuntimeConditionView } from '../proto/codec.js';
import type { NodeRuntime, RuntimePodView } from '../collector/runtime/store.js';

const PSA =
  'pods "kube-apiserver-node-a" is forbidden: violates PodSecurity "baseline:latest": host namespaces (hostNetwork=true), privileged (container "kube-apiserver" must not set securityContext.privileged=true)';

test('kubelet lines of every era -> pod and error; other lines -> nothing', () => {
  const lines = readFileSync(new URL('./fixtures/runtime/kubelet-mirror.txt', import.meta.url), 'utf8')
    .trim()
    .split('\n');
  assert.equal(lines.map(parseMirrorPodFailure), [
    {
      namespace: 'kube-system',
      name: 'kube-scheduler-localhost.localdomain',
      error: 'pods "kube-scheduler-localhost.localdomain" already exists',
    },
    {
      namespace: 'kube-system',
      name: 'etcd-kubedev-10-64-33-199',
      error:
        'Post https://10.64.33.199:443/api/v1/namespaces/kube-system/pods: dial tcp 10.64.33.199:443: getsockopt: connection refused',
    },
    {
      namespace: 'kube-system',
      name: 'kube-apiserver-172.17.8.101',
      error:
        'Post http://127.0.0.1:8080/api/v1/namespaces/kube-system/pods: dial tcp 127.0.0.1:8080: connection refused',
    },
    {
      namespace: 'kube-system',
      name: 'kube-apiserver-minikube',
      error: 'pods "kube-apiserver-minikube" is forbidden: no providers available to validate pod request',
    },
  ]);
  // 1.36 (tryReconcileMirrorPods), klog text
  const now = `E1123 17:40:01.123456   12345 kubelet.go:3501] "Failed creating a mirror pod" err=${JSON.stringify(PSA)} pod="kube-system/kube-apiserver-node-a"`;
  assert.equal(parseMirrorPodFailure(now), { namespace: 'kube-system', name: 'kube-apiserver-node-a', error: PSA });
  // klog's multi-line value form and JSON logging
  assert.equal(
    parseMirrorPodFailure(
      'E1123 17:40:01.123456 1 kubelet.go:3501] "Failed creating a mirror pod" err=<\n\tadmission webhook "deny.example.com" denied the request:\n\tno static pods here\n > pod="kube-system/etcd-n1"',
    ),
    {
      namespace: 'kube-system',
      name: 'etcd-n1',
      error: 'admission webhook "deny.example.com" denied the request:\nno static pods here',
    },
  );
  assert.equal(
    parseMirrorPodFailure(
      JSON.stringify({
        ts: 1795447550.9,
        caller: 'kubelet/kubelet.go:3501',
        msg: 'Failed creating a mirror pod',
        pod: { name: 'etcd-n1', namespace: 'kube-system' },
        err: 'exceeded quota: pods-cap',
      }),
    ),
    { namespace: 'kube-system', name: 'etcd-n1', error: 'exceeded quota: pods-cap' },
  );
  // node-wide: the kubelet cannot read its Node, so no static pod gets a mirror
  assert.equal(
    parseMirrorPodFailure(
      'E1123 17:40:01.1 1 kubelet.go:3495] "No need to create a mirror pod, since failed to get node info from the cluster" err="node \\"n1\\" not found" node="n1"',
    ),
    { namespace: '', name: '', error: 'node "n1" not found' },
  );
  for (const junk of [
    '',
    'I1123 kubelet.go:1] "Creating a mirror pod for static pod" pod="kube-system/x"',
    '"Failed creating a mirror pod" pod="kube-system/x"',
    '"Failed creating a mirror pod" err="e" pod="nopath"',
    '"Failed creating a mirror pod',
    '{"msg":"Failed creating a mirror pod","err":"x"}',
    '{not json "Failed creating a mirror pod"',
    '\u0000\u00ff Failed creating a mirror pod \u0001',
  ]) {
    assert.is(parseMirrorPodFailure(junk), undefined, JSON.stringify(junk));
  }
  const huge = parseMirrorPodFailure(
    `"Failed creating a mirror pod" err="${'x'.repeat(100_000)}" pod="kube-system/a"`,
  )!;
  assert.is(huge.error.length, MAX_ERROR + 1, 'cut, with an ellipsis');
});

test('Go quoting and klog pairs', () => {
  assert.is(unquoteGo('a\\"b\\\\c\\n\\t\\x41\\u00e9\\U0001F600\\q'), 'a"b\\c\n\tAé😀\\q');
  assert.equal(
    [...klogPairs(' err="x \\"y\\"" pod="ns/p" n=3 empty=""')],
    [
      ['err', 'x "y"'],
      ['pod', 'ns/p'],
      ['n', '3'],
      ['empty', ''],
    ],
  );
});

test('the book: repeats keep the first date (no snapshot churn), a new text restarts it, silence expires it', () => {
  const b = new MirrorErrorBook(60_000);
  b.record({ namespace: 'kube-system', name: 'a', error: 'e1' }, 1000);
  b.record({ namespace: 'kube-system', name: 'a', error: 'e1' }, 50_000);
  b.record({ namespace: '', name: '', error: 'node "n" not found' }, 2000);
  assert.equal(b.current(60_000), [
    { namespace: '', name: '', error: 'node "n" not found', sinceMs: 2000 },
    { namespace: 'kube-system', name: 'a', error: 'e1', sinceMs: 1000 },
  ]);
  b.record({ namespace: 'kube-system', name: 'a', error: 'e2' }, 70_000);
  assert.equal(
    b.current(100_000),
    [{ namespace: 'kube-system', name: 'a', error: 'e2', sinceMs: 70_000 }],
    'the node-wide one expired; a new text has its own date',
  );
  assert.equal(b.current(131_000), []);
  const heard: boolean[] = [];
  const c = b.consumer(
    'SYSLOG_IDENTIFIER=kubelet',
    (_line, understood) => heard.push(understood),
    () => 5,
  );
  assert.ok(
    c.literals.every(
      (l) => 'E1 x.go:1] "Failed creating a mirror pod" err="e" pod="ns/p"'.includes(l) || l.startsWith('No need'),
    ),
  );
  c.onEntry({ message: 'E1 x.go:1] "Failed creating a mirror pod" err="e" pod="ns/p"' });
  c.onEntry({ message: 'garbage Failed creating a mirror pod' });
  assert.equal(b.current(6), [{ namespace: 'ns', name: 'p', error: 'e', sinceMs: 5 }]);
  assert.equal(heard, [true, false], 'an unrecognised line is reported (counted and logged once by the agent)');
});

test("likely causes from the API server's wording", () => {
  const kinds = [
    PSA,
    'pods "x" is forbidden: unable to validate against any pod security policy: []',
    'admission webhook "policy.example.com" denied the request: privileged pods are not allowed',
    'Internal error occurred: failed calling webhook "validate.kyverno.svc": Post "https://kyverno-svc.kyverno.svc:443/validate?timeout=10s": context deadline exceeded',
    "pods \"x\" is forbidden: ValidatingAdmissionPolicy 'no-host-network' with binding 'all' denied request: hostNetwork is not allowed",
    'pods "x" is forbidden: exceeded quota: compute, requested: pods=1, used: pods=10, limited: pods=10',
    'namespaces "kube-system" not found',
    'failed to get node UID: nodes "node-a" not found',
    'Unauthorized',
    'pods is forbidden: User "system:node:node-a" cannot create resource "pods" in API group "" in the namespace "kube-system"',
    'Post "https://10.0.0.1:6443/api/v1/namespaces/kube-system/pods": dial tcp 10.0.0.1:6443: connect: connection refused',
    'the server was unable to return a response in the time allotted, but may still be processing the request (post pods)',
    'something else entirely',
  ].map((e) => mirrorCause(e).kind);
  assert.equal(kinds, [
    'PodSecurity',
    'PodSecurityPolicy',
    'AdmissionWebhook',
    'AdmissionWebhook',
    'AdmissionPolicy',
    'ResourceQuota',
    'NamespaceMissing',
    'NodeNotRegistered',
    'Unauthorized',
    'Forbidden',
    'APIUnreachable',
    'APIOverloaded',
    'Rejected',
  ]);
  assert.is(
    mirrorCause(PSA).summary,
    'Pod Security admission rejects it: the namespace enforces "baseline:latest" (host namespaces (hostNetwork=true), privileged (container "kube-apiserver" must not set securityContext.privileged=true))',
  );
});

const pod: RuntimePodView = {
  id: 'sb1',
  namespace: 'kube-system',
  name: 'kube-apiserver-node-a',
  uid: 'h',
  state: 'SANDBOX_READY',
  ips: [],
  createdMs: 1,
  attempt: 0,
  runtimeHandler: '',
  hostNetwork: true,
  labels: {},
  annotations: { 'kubernetes.io/config.source': 'file', 'kubernetes.io/config.hash': 'h' },
  containers: [],
};
const view = (
  observedMs: number,
  mirrorPodErrors: MirrorPodErrorView[] = [],
  conditions: RuntimeConditionView[] = [],
): NodeRuntime => ({
  node: 'node-a',
  runtimeName: 'containerd',
  runtimeVersion: '1.6.20',
  endpoint: 'unix:///s',
  full: false,
  observedMs,
  receivedMs: observedMs,
  pods: [pod],
  conditions,
  mirrorPodErrors,
});

test('StaticPodNotMirrored names the cause when the kubelet logged one; a new error refreshes the raised finding', () => {
  const c = new StaticPodCheck(1000);
  const none = () => undefined;
  assert.equal(c.evaluate(0, [view(0)], none), []);
  const [plain] = c.evaluate(1500, [view(1500)], none);
  assert.match(plain.finding.message!, /the kubelet's log on the node says which\)$/);
  assert.is(plain.finding.evidence!.cause, undefined);
  const psa = { namespace: 'kube-system', name: 'kube-apiserver-node-a', error: PSA, sinceMs: 1200 };
  const [refresh] = c.evaluate(2000, [view(2000, [psa])], none);
  assert.equal(
    [plain.news, refresh.news, refresh.finding.active],
    [false, true, true],
    'the raise, then news worth an Event',
  );
  assert.match(
    refresh.finding.message!,
    /Likely cause: Pod Security admission rejects it: the namespace enforces "baseline:latest" .*\. The kubelet got: pods "kube-apiserver-node-a" is forbidden: violates PodSecurity/,
  );
  assert.equal(
    [
      refresh.finding.evidence!.cause,
      refresh.finding.evidence!.kubeletError,
      refresh.finding.evidence!.kubeletErrorSince,
    ],
    ['PodSecurity', PSA, new Date(1200).toISOString()],
  );
  assert.equal(c.evaluate(3000, [view(3000, [psa])], none), [], 'the same error again: nothing new');
  // another static pod's error does not apply; a node-wide one does
  const c2 = new StaticPodCheck(1000);
  const etcdOnly = [{ ...psa, name: 'etcd-node-a' }];
  c2.evaluate(0, [view(0, etcdOnly)], none);
  const [own] = c2.evaluate(1500, [view(1500, etcdOnly)], none);
  assert.is(own.finding.evidence!.cause, undefined, "etcd's error is not kube-apiserver's");
  const [other] = c2.evaluate(
    2000,
    [
      view(2000, [
        ...etcdOnly,
        { namespace: '', name: '', error: 'failed to get node UID: nodes "node-a" not found', sinceMs: 1 },
      ]),
    ],
    none,
  );
  assert.equal(other.finding.evidence!.cause, 'NodeNotRegistered');
  assert.match(other.finding.message!, /The kubelet \(for every static pod\) got: failed to get node UID/);
  // the mirror pod appears: cleared
  const [cleared] = c.evaluate(4000, [view(4000, [psa])], () => ({
    kind: 'pod' as const,
    namespace: 'kube-system',
    name: 'kube-apiserver-node-a',
    uid: 'u',
  }));
  assert.is(cleared.finding.active, false);
});

test('CRI conditions: NetworkReady=false raises RuntimeNetworkNotReady, a new message refreshes it, true clears; no conditions: no judgement', () => {
  const c = new RuntimeConditionCheck();
  const ok = [
    { type: 'RuntimeReady', status: true, reason: '', message: '' },
    { type: 'NetworkReady', status: true, reason: '', message: '' },
  ];
  assert.equal(c.evaluate(1, view(1, [], ok)), []);
  assert.equal(c.evaluate(2, view(2, [], [])), [], 'an agent that sends no conditions');
  const bad = [
    ok[0],
    {
      type: 'NetworkReady',
      status: false,
      reason: 'NetworkPluginNotReady',
      message: 'Network plugin returns error: cni plugin not initialized',
    },
  ];
  const [raised] = c.evaluate(3, view(3, [], bad));
  assert.equal(
    [raised.node, raised.finding.kind, raised.finding.severity, raised.finding.active, raised.finding.key],
    ['node-a', 'RuntimeNetworkNotReady', 'critical', true, 'NetworkReady'],
  );
  assert.is(
    raised.finding.message,
    'container runtime containerd reports NetworkReady=false (NetworkPluginNotReady): Network plugin returns error: cni plugin not initialized; new pods on this node get no pod network (check the CNI config and plugin)',
  );
  assert.equal(c.evaluate(4, view(4, [], bad)), [], 'unchanged: nothing');
  const [again] = c.evaluate(
    5,
    view(5, [], [ok[0], { ...bad[1], message: 'cni config load failed: no network config found in /etc/cni/net.d' }]),
  );
  assert.equal(
    [again.finding.active, again.finding.evidence!.conditionMessage],
    [true, 'cni config load failed: no network config found in /etc/cni/net.d'],
  );
  const down = c.evaluate(
    6,
    view(6, [], [{ type: 'RuntimeReady', status: false, reason: 'ContainerdNotReady', message: 'x' }, ok[1]]),
  );
  assert.equal(
    down.map((d) => [d.finding.kind, d.finding.active]),
    [
      ['RuntimeNotReady', true],
      ['RuntimeNetworkNotReady', false],
    ],
  );
  assert.equal(
    c.evaluate(7, view(7, [], ok)).map((d) => [d.finding.kind, d.finding.active]),
    [['RuntimeNotReady', false]],
  );
});

test.run();
