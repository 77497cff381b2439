// Collector side of the runtime view: the runtime store per node cross-checked with the pod cache
// (an IpIndex from a PodList file, as `--pods-file`): mirror pod present -> nothing; absent past the
// grace period -> StaticPodNotMirrored on the node; it appears -> cleared; restart attempts rising ->
// ContainerRestarting on the pod, cleared after a quiet window; runtime pod IPs name drops the pod
// cache cannot; GET /api/v1/nodes/{node}/runtime and `nodewarden runtime`.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createApi } from '../collector/api/server.js';
import { applyEnvelope, SeenSet, type Stores } from '../collector/ingest/apply.js';
import { loadPodsFile, podInfoFromJson } from '../collector/resolve/pods-file.js';
import { IpIndex } from '../collector/resolve/resolver.js';
import { runtimeExtension, type RuntimeExtension } from '../collector/runtime/index.js';
import { DropStore } from '../collector/store/drops.js';
import { FindingStore } from '../collector/store/findings.js';
import { NodeStore } from '../collector/store/nodes.js';
import { run as runtimeCli } from '../cli/commands/runtime.js';
import { decodeEnvelope, encodeEnvelope, type RuntimeSnapshot } from '../proto/codec.js';
import { runtimeEnvelope } from './runtime/support.js';
import { testLog } from './support/log.js';

const tmp = mkdtempSync(join(tmpdir(), 'nwrt-coll-'));
test.after(() => rmSync(tmp, { recursive: true, force: true }));

const NODE = 'node-a';
const T0 = Date.parse('2026-11-23T15:00:00Z');
const HASH = '9d0c5e5d4c0a6e0f3b9e2c1a7f4d8b21';
const WEB_UID = '7b1d2c3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e';

// --- a PodList exactly as `kubectl get pods -A -o json` prints it (trimmed) ----------------------
const apiPod = (
  ns: string,
  name: string,
  uid: string,
  ip: string,
  extra: { hostNetwork?: boolean; annotations?: Record<string, string> } = {},
) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { namespace: ns, name, uid, annotations: extra.annotations ?? {} },
  spec: { nodeName: NODE, hostNetwork: extra.hostNetwork ?? false, containers: [{ name: 'c', image: 'x' }] },
  status: { phase: 'Running', hostIP: '10.4.0.4', hostIPs: [{ ip: '10.4.0.4' }], podIP: ip, podIPs: [{ ip }] },
});
const WEB = apiPod('default', 'web-0', WEB_UID, '10.89.0.2');
// the mirror pod: same name as the static pod, its own uid, annotation config.mirror = the hash
const MIRROR = apiPod('kube-system', `kube-apiserver-${NODE}`, 'f00dbabe-0000-4000-8000-000000000001', '10.4.0.4', {
  hostNetwork: true,
  annotations: {
    'kubernetes.io/config.mirror': HASH,
    'kubernetes.io/config.source': 'file',
    'kubernetes.io/config.hash': HASH,
  },
});
function podsFile(items: unknown[]): string {
  const p = join(tmp, `pods-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(p, JSON.stringify({ apiVersion: 'v1', kind: 'List', items, metadata: { resourceVersion: '' } }));
  return p;
}

// --- the runtime's view, as the agent sends it -------------------------------------------------
function snapshot(opts: { appAttempt?: number; withStatic?: boolean; extraPod?: boolean } = {}): RuntimeSnapshot {
  const attempt = opts.appAttempt ?? 0;
  const pods: RuntimeSnapshot['pods'] = [
    {
      id: '39287a20d07e81af1886a583a66bceb10330c8b35679d0f8c2485f939efcdfca',
      namespace: 'default',
      name: 'web-0',
      uid: WEB_UID,
      state: 'SANDBOX_READY',
      ips: ['10.89.0.2'],
      createdMs: T0 - 3_600_000,
      labels: { app: 'web' },
      annotations: { 'kubernetes.io/config.source': 'api' },
      containers: Array.from({ length: Math.min(attempt + 1, 2) }, (_, i) => {
        const a = attempt - (Math.min(attempt + 1, 2) - 1 - i);
        return {
          id: `c${a}`.padEnd(64, '0'),
          name: 'app',
          image: 'localhost/nw-app:1',
          state: a === attempt ? 'CONTAINER_RUNNING' : 'CONTAINER_EXITED',
          attempt: a,
          createdMs: T0 + a,
        };
      }),
    },
  ];
  if (opts.withStatic !== false) {
    pods.push({
      id: '0dff41f0099489dc46fbc33c0f691382c262fc6044d547a31d6efaf60abc4768',
      namespace: 'kube-system',
      name: `kube-apiserver-${NODE}`,
      uid: HASH,
      state: 'SANDBOX_READY',
      ips: [],
      hostNetwork: true,
      createdMs: T0 - 7_200_000,
      labels: { component: 'kube-apiserver', tier: 'control-plane' },
      annotations: { 'kubernetes.io/config.source': 'file', 'kubernetes.io/config.hash': HASH },
      containers: [
        {
          id: 'f458907b47545f03709aed4984a91cb7400a495f59bc2793df6b8eb518f4a443',
          name: 'kube-apiserver',
          image: 'registry.k8s.io/kube-apiserver:v1.31.2',
          state: 'CONTAINER_RUNNING',
          attempt: 0,
          createdMs: T0 - 7_100_000,
        },
      ],
    });
  }
  if (opts.extraPod) {
    // a pod seconds old: the pod cache does not have it yet
    pods.push({
      id: 'e'.repeat(64),
      namespace: 'shop',
      name: 'cart-5d8f9-abcde',
      uid: 'new-uid',
      state: 'SANDBOX_READY',
      ips: ['10.89.0.9'],
      createdMs: T0,
      containers: [],
    });
    pods.push({
      id: 'd'.repeat(64),
      namespace: 'batch',
      name: 'done-job',
      uid: 'old-uid',
      state: 'SANDBOX_NOTREADY',
      ips: ['10.89.0.8'],
      createdMs: T0 - 9e6,
      containers: [],
    });
  }
  return {
    full: false,
    runtimeName: 'containerd',
    runtimeVersion: '1.6.20~ds1',
    endpoint: 'unix:///run/containerd/containerd.sock',
    pods,
  };
}

interface Harness {
  ext: RuntimeExtension;
  stores: Stores;
  index: IpIndex;
  clock: { now: number };
  send(s: RuntimeSnapshot, sentMs?: number): void;
  findings(kind: string): ReturnType<FindingStore['query']>;
}

function harness(items: unknown[], o: { ready?: boolean; graceMs?: number } = {}): Harness {
  const clock = { now: T0 };
  // --pods-file's IpIndex; a not-ready one (a pod watch before its first list) from the same pods
  const loaded = loadPodsFile(podsFile(items));
  const index =
    o.ready === false
      ? new IpIndex(
          items.map((p) => podInfoFromJson(p as never)!),
          () => false,
        )
      : loaded;
  const ext = runtimeExtension(index, testLog, {
    staticPodGraceMs: o.graceMs ?? 60_000,
    restartThreshold: 3,
    restartWindowMs: 600_000,
    tickMs: 0,
    now: () => clock.now,
  });
  const stores: Stores = {
    drops: new DropStore(ext.resolver),
    findings: new FindingStore(ext.resolver),
    nodes: new NodeStore(60_000),
  };
  const seen = new SeenSet();
  return {
    ext,
    stores,
    index,
    clock,
    send(s, sentMs = clock.now) {
      const env = runtimeEnvelope(NODE, s, sentMs);
      ext.listener(env, applyEnvelope(env, stores, seen, clock.now), stores);
    },
    findings: (kind) => stores.findings.query({ kind }),
  };
}

test('mirror pod present: nothing, however long the static pod runs', () => {
  const h = harness([WEB, MIRROR]);
  h.send(snapshot());
  for (const m of [1, 5, 30]) {
    h.clock.now = T0 + m * 60_000;
    h.send(snapshot({ appAttempt: 0 }), h.clock.now);
    h.ext.tick();
  }
  assert.equal(h.findings('StaticPodNotMirrored'), []);
  assert.equal(h.stores.findings.query({}), []);
});

test('mirror pod absent past the grace period -> StaticPodNotMirrored on the node; it appears -> cleared', () => {
  const h = harness([WEB]);
  h.send(snapshot());
  h.clock.now = T0 + 59_000;
  h.ext.tick();
  assert.equal(h.findings('StaticPodNotMirrored'), [], 'within the grace period');
  h.clock.now = T0 + 61_000;
  h.ext.tick();
  const [f] = h.findings('StaticPodNotMirrored');
  assert.ok(f, 'raised');
  assert.equal(
    [f.node, f.severity, f.active, f.pod],
    [NODE, 'critical', true, undefined],
    'a node finding (the pod does not exist in the API)',
  );
  assert.match(
    f.message,
    /^static pod kube-system\/kube-apiserver-node-a runs on the node \(config hash 9d0c5e5d4c0a6e0f3b9e2c1a7f4d8b21\) but the API server has had no mirror pod for it for more than 1m/,
  );
  assert.equal(f.evidence, {
    pod: 'kube-system/kube-apiserver-node-a',
    mirrorPodName: 'kube-apiserver-node-a',
    configSource: 'file',
    configHash: HASH,
    sandbox: '0dff41f0099489dc46fbc33c0f691382c262fc6044d547a31d6efaf60abc4768',
    node: NODE,
    absentSince: new Date(T0).toISOString(),
  });
  // ticks and unchanged snapshots do not re-raise
  h.clock.now = T0 + 120_000;
  h.send(snapshot(), h.clock.now);
  h.ext.tick();
  assert.is(h.findings('StaticPodNotMirrored').length, 1);
  // the kubelet finally creates the mirror pod (the admission policy was fixed): the pod cache has it
  h.index.replace(
    [WEB, MIRROR].map((p) => ({
      namespace: p.metadata.namespace,
      name: p.metadata.name,
      uid: p.metadata.uid,
      node: NODE,
      hostNetwork: p.spec.hostNetwork,
      podIPs: [p.status.podIP],
      hostIPs: ['10.4.0.4'],
    })),
  );
  h.clock.now = T0 + 130_000;
  h.ext.tick();
  const [c] = h.findings('StaticPodNotMirrored');
  assert.equal([c.active, c.message], [false, 'mirror pod kube-system/kube-apiserver-node-a is in the API now']);
  assert.is(c.evidence!.mirrorUid, 'f00dbabe-0000-4000-8000-000000000001');
});

test('no judgement while the pod cache is not synced; a static pod that stops running clears its finding', () => {
  const h = harness([WEB], { ready: false });
  h.send(snapshot());
  h.clock.now = T0 + 10 * 60_000;
  h.send(snapshot(), h.clock.now);
  h.ext.tick();
  assert.equal(h.findings('StaticPodNotMirrored'), [], 'an unsynced cache proves nothing');

  const g = harness([WEB]);
  g.send(snapshot());
  g.clock.now = T0 + 61_000;
  g.ext.tick();
  assert.is(g.findings('StaticPodNotMirrored')[0].active, true);
  g.clock.now = T0 + 70_000;
  g.send(snapshot({ withStatic: false }), g.clock.now); // the manifest was removed from /etc/kubernetes/manifests
  const [c] = g.findings('StaticPodNotMirrored');
  assert.equal(
    [c.active, c.message],
    [false, 'static pod kube-system/kube-apiserver-node-a no longer runs on the node'],
  );
});

test('restart attempts rising 3 times in 10m -> ContainerRestarting on the pod; quiet for 10m -> cleared', () => {
  const h = harness([WEB, MIRROR]);
  h.send(snapshot({ appAttempt: 0 }));
  for (const a of [1, 2]) {
    h.clock.now = T0 + a * 60_000;
    h.send(snapshot({ appAttempt: a }), h.clock.now);
  }
  assert.equal(h.findings('ContainerRestarting'), [], 'two restarts are below the threshold');
  h.clock.now = T0 + 3 * 60_000;
  h.send(snapshot({ appAttempt: 3 }), h.clock.now);
  const [f] = h.findings('ContainerRestarting');
  assert.equal([f.node, f.severity, f.active], [NODE, 'warning', true]);
  assert.equal(f.pod, { namespace: 'default', name: 'web-0', uid: WEB_UID, container: 'app' });
  assert.equal(f.message, 'container app of default/web-0 restarted 3 times in the last 10m (attempt 3, now running)');
  assert.equal(
    [f.evidence!.container, f.evidence!.attempts, f.evidence!.restartsInWindow, f.evidence!.window],
    ['app', '0→3', '3', '10m'],
  );
  // still restarting: evidence follows, no second raise
  h.clock.now = T0 + 8 * 60_000;
  h.send(snapshot({ appAttempt: 4 }), h.clock.now);
  assert.equal(
    h.findings('ContainerRestarting').map((x) => [x.active, x.evidence!.attempts]),
    [[true, '0→4']],
  );
  // quiet: the last restart leaves the 10m window at T0+18m
  h.clock.now = T0 + 17 * 60_000;
  h.ext.tick();
  assert.is(h.findings('ContainerRestarting')[0].active, true);
  h.clock.now = T0 + 18 * 60_000 + 1;
  h.ext.tick();
  const [c] = h.findings('ContainerRestarting');
  assert.equal([c.active, c.message], [false, 'container app of default/web-0 has not restarted for 10m (attempt 4)']);
});

test('restarts seen long ago (a collector replaying its stream) raise nothing', () => {
  const h = harness([WEB, MIRROR]);
  h.clock.now = T0 + 3 * 3_600_000;
  const old = T0;
  for (let a = 0; a <= 6; a++) h.send(snapshot({ appAttempt: a }), old + a * 30_000);
  h.ext.tick();
  assert.equal(h.findings('ContainerRestarting'), []);
});

test("runtime pod IPs name what the pod cache cannot, below the API; podByName is the API's alone", () => {
  const h = harness([WEB]);
  h.send(snapshot({ extraPod: true }));
  const r = h.ext.resolver;
  assert.equal(
    r.resolve('10.89.0.9'),
    { kind: 'pod', namespace: 'shop', name: 'cart-5d8f9-abcde', uid: 'new-uid', node: NODE },
    'a pod the cache lacks',
  );
  assert.is((r.resolve('10.89.0.2') as { uid?: string }).uid, WEB_UID, 'the API answers first');
  assert.equal(
    r.resolve('10.4.0.4'),
    { kind: 'node', name: NODE },
    'host-network sandboxes give no pod hint for the node IP',
  );
  assert.is(r.resolve('10.89.0.8'), undefined, 'a NOTREADY sandbox has released its IP');
  assert.is(r.podByUid('new-uid')?.name, 'cart-5d8f9-abcde');
  assert.is(r.podByName!('shop', 'cart-5d8f9-abcde'), undefined, 'never answered from the runtime view');
  assert.is(r.podByName!('default', 'web-0')?.uid, WEB_UID);
  // a drop to the new pod is named through the hint (the drop store resolves with this resolver)
  const env = decodeEnvelope(
    encodeEnvelope({
      node: NODE,
      agentId: 'a',
      seq: 999,
      sentMs: h.clock.now,
      agentVersion: 't',
      drops: {
        drops: [
          {
            prefix: 'calico-packet:',
            family: 4,
            proto: 'TCP',
            src: '10.89.0.2',
            dst: '10.89.0.9',
            dstPort: 8080,
            count: 2,
            firstSeenMs: h.clock.now,
            lastSeenMs: h.clock.now,
          },
        ],
      },
    }),
    { nowMs: h.clock.now },
  );
  applyEnvelope(env, h.stores, new SeenSet(), h.clock.now);
  const flow = h.stores.drops.query({ limit: 10 }).items[0];
  assert.equal([flow.src.pod?.name, flow.dst.pod?.name], ['web-0', 'cart-5d8f9-abcde']);
  // the node's agent goes quiet: its view stops naming anything after the staleness bound (11m)
  h.clock.now = T0 + 12 * 60_000;
  assert.is(r.resolve('10.89.0.9'), undefined);
});

test('GET /api/v1/nodes/{node}/runtime and `nodewarden runtime NODE`', async () => {
  const h = harness([WEB]);
  h.send(snapshot({ appAttempt: 1 }));
  const api = createApi({
    stores: h.stores,
    registry: new Registry(),
    ready: () => ({ ok: true }),
    routes: h.ext.routes,
    now: () => h.clock.now,
  });
  await new Promise<void>((r) => api.listen(0, '127.0.0.1', () => r()));
  const base = `http://127.0.0.1:${(api.address() as AddressInfo).port}`;
  try {
    const res = await fetch(`${base}/api/v1/nodes/${NODE}/runtime`);
    assert.is(res.status, 200);
    const body = (await res.json()) as any;
    assert.equal(body.runtime, {
      name: 'containerd',
      version: '1.6.20~ds1',
      endpoint: 'unix:///run/containerd/containerd.sock',
    });
    assert.equal([body.node, body.stale, body.observedAt], [NODE, false, new Date(T0).toISOString()]);
    assert.equal(
      body.pods.map((p: any) => [p.name, p.state, p.ips, p.staticPod]),
      [
        ['web-0', 'SANDBOX_READY', ['10.89.0.2'], undefined],
        ['kube-apiserver-node-a', 'SANDBOX_READY', [], { configHash: HASH, mirrorPod: false }],
      ],
    );
    assert.equal(
      body.containers.map((c: any) => [c.name, c.attempt, c.state, c.podName]),
      [
        ['app', 1, 'CONTAINER_RUNNING', 'web-0'],
        ['app', 0, 'CONTAINER_EXITED', 'web-0'],
        ['kube-apiserver', 0, 'CONTAINER_RUNNING', 'kube-apiserver-node-a'],
      ],
    );
    const missing = await fetch(`${base}/api/v1/nodes/node-z/runtime`);
    assert.is(missing.status, 404);
    assert.match(((await missing.json()) as any).error, /no agent has reported from node "node-z"/);
    assert.is((await fetch(`${base}/api/v1/nodes/${NODE}/runtime?all=1`)).status, 400, 'unknown parameters are a 400');

    // the CLI, as `nodewarden runtime node-a -a` / `-o json`
    const out: string[] = [];
    const write = process.stdout.write.bind(process.stdout);
    (process.stdout as any).write = (s: string) => {
      out.push(String(s));
      return true;
    };
    try {
      assert.is(await runtimeCli({ collector: base, output: 'table', all: true }, [NODE]), 0);
      assert.is(await runtimeCli({ collector: base, output: 'json' }, [NODE]), 0);
    } finally {
      (process.stdout as any).write = write;
    }
    const [table, json] = out;
    assert.match(
      table,
      /^Node node-a: containerd 1\.6\.20~ds1 \(unix:\/\/\/run\/containerd\/containerd\.sock\), observed /,
    );
    const rows = table.split('\n').map((l) => l.split(/ {3,}/));
    assert.ok(
      rows.some((r) => r.join('|') === 'POD ID|CREATED|STATE|NAME|NAMESPACE|ATTEMPT|RUNTIME'),
      table,
    );
    assert.ok(
      rows.some((r) => r.join('|') === 'CONTAINER|IMAGE|CREATED|STATE|NAME|ATTEMPT|POD ID|POD|NAMESPACE'),
      table,
    );
    assert.ok(
      rows.some(
        (r) =>
          r[0] === 'c100000000000' &&
          r
            .slice(1)
            .filter((x) => !/ ago$/.test(x))
            .join('|') === 'localhost/nw-app:1|Running|app|1|39287a20d07e8|web-0|default',
      ),
      table,
    );
    assert.ok(
      rows.some((r) => r[0] === 'c000000000000' && r[3] === 'Exited' && r[5] === '0'),
      'exited attempts with -a',
    );
    assert.ok(
      rows.some(
        (r) => r[0] === '0dff41f009948' && r[2] === 'Ready' && r[3] === 'kube-apiserver-node-a' && r[6] === '(default)',
      ),
      table,
    );
    assert.match(
      table,
      /Static pods with no mirror pod in the API \(kubectl does not show them\): kube-system\/kube-apiserver-node-a/,
    );
    assert.equal(JSON.parse(json).pods.length, 2);
    await runtimeCli({ collector: base, output: 'table' }, []).then(
      () => assert.unreachable(),
      (e: Error) => assert.match(e.message, /exactly one NODE/),
    );
    await runtimeCli({ collector: base, output: 'table' }, ['node-z']).then(
      () => assert.unreachable(),
      (e: Error) => assert.match(e.message, /collector answered 404: no agent has reported from node "node-z"/),
    );
  } finally {
    await new Promise<void>((r) => api.close(() => r()));
  }
});

test.run();
