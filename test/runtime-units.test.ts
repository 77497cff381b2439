// Pure parts of the runtime view: endpoint choice as crictl makes it, snapshot building/digest/gate,
// crictl JSON parsers, the CLI's crictl-style rendering.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  chooseEndpoint,
  crictlYamlEndpoint,
  findWellKnown,
  grpcTarget,
  normalizeEndpoint,
} from '../agent/cri/endpoint.js';
import { jsonValues, parseCrictlInspectp, parseCrictlVersion, toNanos } from '../agent/cri/crictl-reader.js';
import { buildSnapshot, sandboxesToInspect, snapshotDigest, SnapshotGate } from '../agent/cri/snapshot.js';
import { runtimeConfig } from '../agent/cri/index.js';
import type { Container, Sandbox } from '../agent/cri/types.js';
import { humanDuration, renderRuntime } from '../cli/commands/runtime.js';
import { ConfigError } from '../common/flags.js';
import { RestartCheck, staticPods } from '../collector/runtime/checks.js';
import type { NodeRuntime, RuntimePodView } from '../collector/runtime/store.js';

const env = (vars: Record<string, string>, files: Record<string, string> = {}) => ({
  env: vars,
  readFile: (p: string) => files[p],
});

test('endpoint: flag > $CONTAINER_RUNTIME_ENDPOINT > crictl.yaml ($CRI_CONFIG_FILE) > well-known sockets', () => {
  const yaml =
    'runtime-endpoint: unix:///run/k3s/containerd/containerd.sock\nimage-endpoint: unix:///run/k3s/containerd/containerd.sock\ntimeout: 10\n';
  assert.equal(
    chooseEndpoint(
      '/run/x.sock',
      env({ CONTAINER_RUNTIME_ENDPOINT: 'unix:///env.sock' }, { '/etc/crictl.yaml': yaml }),
    ),
    { endpoint: 'unix:///run/x.sock', from: '--runtime-endpoint' },
  );
  assert.equal(
    chooseEndpoint(undefined, env({ CONTAINER_RUNTIME_ENDPOINT: 'unix:///env.sock' }, { '/etc/crictl.yaml': yaml }))
      .endpoint,
    'unix:///env.sock',
  );
  assert.equal(chooseEndpoint(undefined, env({}, { '/etc/crictl.yaml': yaml })), {
    endpoint: 'unix:///run/k3s/containerd/containerd.sock',
    from: '/etc/crictl.yaml',
  });
  assert.equal(
    chooseEndpoint(
      undefined,
      env({ CRI_CONFIG_FILE: '/x/crictl.yaml' }, { '/x/crictl.yaml': 'runtime-endpoint: /run/crio/crio.sock' }),
    ).endpoint,
    'unix:///run/crio/crio.sock',
  );
  assert.equal(chooseEndpoint(undefined, env({}, { '/etc/crictl.yaml': 'debug: true\n' })), {
    from: 'well-known sockets',
  });
  assert.equal(chooseEndpoint(undefined, env({}, { '/etc/crictl.yaml': ':: not yaml [' })).endpoint, undefined);
  assert.is(crictlYamlEndpoint('runtime-endpoint: ""\n'), undefined);
  // crictl's order: containerd, CRI-O, cri-dockerd; the first socket that exists wins
  assert.is(
    findWellKnown((ep) => ep.includes('crio')),
    'unix:///run/crio/crio.sock',
  );
  assert.is(
    findWellKnown((ep) => ep.includes('crio') || ep.includes('containerd')),
    'unix:///run/containerd/containerd.sock',
  );
  assert.is(
    findWellKnown(() => false),
    undefined,
  );
  assert.is(grpcTarget('tcp://10.0.0.1:1234'), '10.0.0.1:1234');
  assert.is(normalizeEndpoint('tcp://10.0.0.1:1234/', 'x'), 'tcp://10.0.0.1:1234');
  assert.throws(
    () => normalizeEndpoint('npipe:////./pipe/containerd', '--runtime-endpoint'),
    (e: Error) => e instanceof ConfigError && /not a runtime endpoint/.test(e.message),
  );
});

test('flags: durations, endpoint and on/off are checked up front (ConfigError)', () => {
  const c = runtimeConfig({
    'runtime-poll': '10s',
    'runtime-full-every': '5m',
    'runtime-endpoint': '/run/containerd/containerd.sock',
  });
  assert.equal(
    [c.pollMs, c.fullEveryMs, c.timeoutMs, c.endpoint, c.enabled],
    [10_000, 300_000, 2000, 'unix:///run/containerd/containerd.sock', true],
  );
  assert.throws(
    () => runtimeConfig({ 'runtime-poll': 'often' }),
    (e: Error) => e instanceof ConfigError,
  );
  assert.throws(() => runtimeConfig({ 'runtime-poll': '10m', 'runtime-full-every': '5m' }), /must not be shorter/);
  assert.throws(
    () => runtimeConfig({ runtime: 'maybe' }),
    (e: Error) => e instanceof ConfigError,
  );
  assert.throws(
    () => runtimeConfig({ 'runtime-endpoint': 'containerd' }),
    (e: Error) => e instanceof ConfigError,
  );
  assert.is(c.kubeletMatch, 'SYSLOG_IDENTIFIER=kubelet', "the kubelet's journal records are read by default");
  assert.is(
    runtimeConfig({ 'kubelet-journal-match': '_SYSTEMD_UNIT=kubelet.service' }).kubeletMatch,
    '_SYSTEMD_UNIT=kubelet.service',
  );
  assert.is(runtimeConfig({ 'kubelet-journal-match': 'off' }).kubeletMatch, undefined);
  assert.is(runtimeConfig({ 'kubelet-journal-match': '' }).kubeletMatch, undefined);
  assert.throws(
    () => runtimeConfig({ 'kubelet-journal-match': 'kubelet' }),
    (e: Error) => e instanceof ConfigError && /FIELD=value/.test(e.message),
  );
});

const sb = (id: string, name: string, extra: Partial<Sandbox> = {}): Sandbox => ({
  id,
  name,
  namespace: 'default',
  uid: `uid-${name}`,
  attempt: 0,
  state: 'SANDBOX_READY',
  createdNs: 1_795_447_550_938_286_811,
  runtimeHandler: '',
  labels: {
    app: name,
    'io.kubernetes.pod.name': name,
    'io.kubernetes.pod.namespace': 'default',
    'io.kubernetes.pod.uid': `uid-${name}`,
  },
  annotations: {
    'kubernetes.io/config.source': 'api',
    'kubectl.kubernetes.io/last-applied-configuration': 'x'.repeat(5000),
  },
  ...extra,
});
const ctr = (
  id: string,
  sandbox: string,
  name: string,
  attempt: number,
  state: Container['state'] = 'CONTAINER_RUNNING',
): Container => ({
  id,
  podSandboxId: sandbox,
  name,
  attempt,
  image: 'img',
  state,
  createdNs: 1_795_447_551_000_000_000 + attempt,
  labels: {},
});

test('snapshot: containers nested, big annotations dropped, deterministic order, digest ignores order and "full"', () => {
  const version = { runtimeName: 'containerd', runtimeVersion: '1.6.20', runtimeApiVersion: 'v1' };
  const sandboxes = [sb('b', 'web-1'), sb('a', 'web-0')];
  const containers = [
    ctr('c2', 'a', 'app', 1),
    ctr('c1', 'a', 'app', 0, 'CONTAINER_EXITED'),
    ctr('c3', 'b', 'app', 0),
    ctr('orphan', 'zz', 'x', 0),
  ];
  const networks = new Map([['a', { ips: ['10.89.0.2'], hostNetwork: false }]]);
  const s1 = buildSnapshot({ endpoint: 'unix:///s', version, sandboxes, containers, networks, conditions: [] });
  assert.equal(
    s1.pods!.map((p) => p.name),
    ['web-0', 'web-1'],
  );
  assert.equal(
    s1.pods![0].containers!.map((c) => [c.id, c.attempt, c.state]),
    [
      ['c1', 0, 'CONTAINER_EXITED'],
      ['c2', 1, 'CONTAINER_RUNNING'],
    ],
  );
  assert.equal(s1.pods![0].ips, ['10.89.0.2']);
  assert.equal(s1.pods![1].ips, [], 'addresses not known yet');
  assert.equal(
    s1.pods![0].annotations,
    { 'kubernetes.io/config.source': 'api' },
    'only the kubelet config.* annotations travel',
  );
  assert.equal(s1.pods![0].labels, { app: 'web-0' }, 'io.kubernetes.pod.* labels repeat the metadata');
  assert.is(s1.pods![0].createdMs, 1_795_447_550_938);
  assert.ok(!JSON.stringify(s1).includes('orphan'), 'a container without its sandbox waits for the next poll');
  const s2 = buildSnapshot({
    endpoint: 'unix:///s',
    version,
    sandboxes: [...sandboxes].reverse(),
    containers: [...containers].reverse(),
    networks,
    conditions: [],
  });
  assert.is(snapshotDigest(s2), snapshotDigest(s1));
  assert.is(snapshotDigest({ ...s1, full: true }), snapshotDigest(s1));
  const s3 = buildSnapshot({
    endpoint: 'unix:///s',
    version,
    sandboxes,
    containers: [...containers, ctr('c4', 'a', 'app', 2)],
    networks,
    conditions: [],
  });
  assert.is.not(snapshotDigest(s3), snapshotDigest(s1), 'a new attempt is a change');
  assert.equal(sandboxesToInspect(sandboxes, networks), ['b']);
});

test('snapshot gate: first is full, unchanged polls send nothing, a change is sent, a full one at least every fullEvery', () => {
  const g = new SnapshotGate(1000);
  const seq: (string | undefined)[] = [];
  const step = (d: string, t: number) => {
    const why = g.decide(d, t);
    if (why) g.sent(d, t);
    seq.push(why);
  };
  step('A', 0);
  step('A', 100);
  step('A', 200);
  step('B', 300);
  step('B', 400);
  step('B', 1299);
  step('B', 1300);
  step('B', 1400);
  assert.equal(seq, ['full', undefined, undefined, 'change', undefined, undefined, 'full', undefined]);
});

test('crictl parsing: 64-bit strings, RFC3339Nano, concatenated or array inspectp output, version text or JSON', () => {
  assert.is(toNanos('1795447550938286811'), 1795447550938286811);
  assert.is(toNanos('2026-11-23T13:20:12.3456789Z'), Date.parse('2026-11-23T13:20:12Z') * 1e6 + 345678900);
  assert.is(toNanos('2022-11-29T12:07:44.196650393-06:00'), Date.parse('2022-11-29T18:07:44Z') * 1e6 + 196650393);
  assert.is(toNanos('0001-01-01T00:00:00Z') < 0, true);
  assert.is(toNanos(''), 0);
  assert.equal(jsonValues('{"a":"}{"}\n{"b":[1,{"c":2}]}').length, 2);
  const one =
    '{"status":{"id":"x","network":{"ip":"10.0.0.1","additionalIps":[]},"linux":{"namespaces":{"options":{"network":"POD"}}}}}';
  const two = '{"status":{"id":"y","network":{"ip":""},"linux":{"namespaces":{"options":{"hostNetwork":true}}}}}';
  for (const text of [`${one}\n${two}`, `[${one},${two}]`]) {
    const m = parseCrictlInspectp(text);
    assert.equal(m.get('x'), { ips: ['10.0.0.1'], hostNetwork: false });
    assert.equal(m.get('y'), { ips: [], hostNetwork: true }, 'v1alpha1-era hostNetwork:true is understood too');
  }
  assert.equal(
    parseCrictlVersion('Version:  0.1.0\nRuntimeName:  cri-o\nRuntimeVersion:  1.30.1\nRuntimeApiVersion:  v1\n'),
    { runtimeName: 'cri-o', runtimeVersion: '1.30.1', runtimeApiVersion: 'v1' },
  );
  assert.equal(
    parseCrictlVersion(
      '{"version":"0.1.0","runtimeName":"containerd","runtimeVersion":"v2.0.0","runtimeApiVersion":"v1"}',
    ).runtimeVersion,
    'v2.0.0',
  );
});

test('CLI: crictl-style columns, relative times, truncated ids and image IDs, running only unless -a', () => {
  assert.equal(
    [
      humanDuration(500),
      humanDuration(1000),
      humanDuration(42_000),
      humanDuration(90_000),
      humanDuration(5 * 60_000),
      humanDuration(3_600_000),
      humanDuration(5 * 3_600_000),
      humanDuration(3 * 86_400_000),
    ],
    [
      'Less than a second',
      '1 second',
      '42 seconds',
      'About a minute',
      '5 minutes',
      'About an hour',
      '5 hours',
      '3 days',
    ],
  );
  const now = Date.parse('2026-11-23T15:30:00Z');
  const r = {
    node: 'node-a',
    runtime: { name: 'containerd', version: '1.6.20~ds1', endpoint: 'unix:///run/containerd/containerd.sock' },
    observedAt: '2026-11-23T15:29:55Z',
    receivedAt: '2026-11-23T15:29:55Z',
    stale: false,
    conditions: [
      {
        type: 'NetworkReady',
        status: false,
        reason: 'NetworkPluginNotReady',
        message: 'Network plugin returns error: cni plugin not initialized',
      },
      { type: 'RuntimeReady', status: true, reason: '', message: '' },
    ],
    pods: [
      {
        id: '0dff41f0099489dc46fbc33c0f691382c262fc6044d547a31d6efaf60abc4768',
        name: 'kube-apiserver-node-a',
        namespace: 'kube-system',
        uid: 'h',
        state: 'SANDBOX_READY',
        attempt: 0,
        createdAt: '2026-11-23T15:25:50Z',
        ips: [],
        hostNetwork: true,
        runtimeHandler: '',
        labels: {},
        annotations: {},
        staticPod: {
          configHash: 'h',
          mirrorPod: false,
          kubeletError: {
            error:
              'pods "kube-apiserver-node-a" is forbidden: violates PodSecurity "baseline:latest": host namespaces (hostNetwork=true)',
            cause:
              'Pod Security admission rejects it: the namespace enforces "baseline:latest" (host namespaces (hostNetwork=true))',
            since: '2026-11-23T15:26:00Z',
          },
        },
      },
    ],
    containers: [
      {
        id: '2bca66e07b8d4c43847be46b393fc4577dd4a51d013fd99026a32dcac8e0e782',
        name: 'app',
        image: 'sha256:9499c9960544e80a96c223cdc5d3059dd7c2cc37ea20e7138af4a6e415a49173',
        state: 'CONTAINER_EXITED',
        attempt: 1,
        createdAt: '2026-11-23T15:28:00Z',
        podId: '39287a20d07e81af1886a583a66bceb10330c8b35679d0f8c2485f939efcdfca',
        podName: 'web-0',
        podNamespace: 'default',
        podUid: 'u',
      },
    ],
  };
  const out = renderRuntime(r, { all: false, noTrunc: false, nowMs: now });
  assert.match(
    out,
    /^Node node-a: containerd 1\.6\.20~ds1 \(unix:\/\/\/run\/containerd\/containerd\.sock\), observed 5 seconds ago\n/,
  );
  assert.ok(
    out.includes(
      [
        'POD ID          CREATED         STATE   NAME                    NAMESPACE     ATTEMPT   RUNTIME',
        '0dff41f009948   4 minutes ago   Ready   kube-apiserver-node-a   kube-system   0         (default)',
      ].join('\n'),
    ),
    out,
  );
  assert.not.match(out, /2bca66e07b8d4/, 'exited containers only with -a');
  assert.match(
    out,
    /Static pods with no mirror pod in the API \(kubectl does not show them\): kube-system\/kube-apiserver-node-a/,
  );
  assert.ok(
    out.includes(
      '\nStatus: NetworkReady=false (NetworkPluginNotReady: Network plugin returns error: cni plugin not initialized), RuntimeReady=true\n',
    ),
    out,
  );
  assert.ok(
    out.includes(
      '\n  kube-system/kube-apiserver-node-a: Pod Security admission rejects it: the namespace enforces "baseline:latest" (host namespaces (hostNetwork=true))\n    kubelet: pods "kube-apiserver-node-a" is forbidden: violates PodSecurity',
    ),
    out,
  );
  const all = renderRuntime(r, { all: true, noTrunc: false, nowMs: now });
  assert.ok(
    all.includes(
      [
        'CONTAINER       IMAGE           CREATED         STATE    NAME   ATTEMPT   POD ID          POD     NAMESPACE',
        '2bca66e07b8d4   9499c9960544e   2 minutes ago   Exited   app    1         39287a20d07e8   web-0   default',
      ].join('\n'),
    ),
    all,
  );
});

const rpod = (id: string, state: string, createdMs: number, extra: Partial<RuntimePodView> = {}): RuntimePodView => ({
  id,
  namespace: 'kube-system',
  name: 'etcd-node-a',
  uid: 'h',
  state,
  ips: [],
  createdMs,
  attempt: 0,
  runtimeHandler: '',
  hostNetwork: true,
  labels: {},
  annotations: { 'kubernetes.io/config.source': 'file', 'kubernetes.io/config.hash': 'h' },
  containers: [],
  ...extra,
});
const nview = (pods: RuntimePodView[], observedMs: number): NodeRuntime => ({
  node: 'n',
  runtimeName: 'c',
  runtimeVersion: '1',
  endpoint: 'e',
  full: false,
  observedMs,
  receivedMs: observedMs,
  pods,
  conditions: [],
  mirrorPodErrors: [],
});

test('static pods: one per name, the READY sandbox over older NOTREADY ones; API-source pods are not static', () => {
  const v = nview(
    [
      rpod('old', 'SANDBOX_NOTREADY', 1),
      rpod('new', 'SANDBOX_READY', 2),
      rpod('x', 'SANDBOX_READY', 3, { name: 'web', annotations: { 'kubernetes.io/config.source': 'api' } }),
    ],
    10,
  );
  assert.equal(
    staticPods(v).map((p) => p.id),
    ['new'],
  );
  assert.equal(
    staticPods(nview([rpod('old', 'SANDBOX_NOTREADY', 1)], 10)),
    [],
    'a static pod whose only sandbox is stopped does not run',
  );
});

test('restart check: a container that leaves the node clears its finding; a late older view changes nothing', () => {
  const c = new RestartCheck({ threshold: 2, windowMs: 60_000 });
  const withApp = (attempt: number) => [
    rpod('s', 'SANDBOX_READY', 1, {
      name: 'web',
      namespace: 'd',
      uid: 'u',
      containers: [
        { id: `c${attempt}`, name: 'app', image: 'i', state: 'CONTAINER_RUNNING', attempt, createdMs: attempt },
      ],
    }),
  ];
  c.observe(nview(withApp(0), 1000));
  c.observe(nview(withApp(2), 2000));
  assert.equal(
    c.evaluate(2000).map((x) => [x.finding.kind, x.finding.active, x.finding.evidence!.attempts]),
    [['ContainerRestarting', true, '0→2']],
  );
  c.observe(nview(withApp(1), 1500)); // redelivered older view
  assert.equal(c.evaluate(2500), []);
  c.observe(nview([], 3000)); // the pod was deleted
  assert.equal(
    c.evaluate(3000, 'n').map((x) => [x.finding.active, x.finding.message]),
    [[false, 'container app of d/web is gone from the node']],
  );
  assert.equal(c.evaluate(4000), [], 'forgotten');
});

test.run();
