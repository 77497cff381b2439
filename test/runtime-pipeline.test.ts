// The runtime view end to end, in one process: runAgent with the runtime Detector (against an
// in-process CRI server) -> outbox -> a real nats-server (JetStream) -> runCollector with the runtime
// extension (listener, routes, hinted resolver) over a --pods-file IpIndex -> HTTP API. Exactly the
// entry points cli/commands/agent.ts and collector.ts wire.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runAgent, type RunningAgent } from '../agent/agent.js';
import { startRuntime } from '../agent/cri/index.js';
import { runCollector, type RunningCollector } from '../collector/collector.js';
import { loadPodsFile } from '../collector/resolve/pods-file.js';
import { runtimeExtension, type RuntimeExtension } from '../collector/runtime/index.js';
import { createTestJournal, journalRemoteAvailable, type TestJournal } from './support/journal.js';
import { startNats, type NatsServer } from './support/nats.js';
import { FakeCri } from './runtime/fake-cri.js';
import { testLog } from './support/log.js';
import { waitFor } from './support/wait.js';
import { collectorTestConfig } from './support/stack.js';

const NODE = 'node-a';
const HASH = '9d0c5e5d4c0a6e0f3b9e2c1a7f4d8b21';

if (!journalRemoteAvailable())
  throw new Error('runtime-pipeline needs systemd-journal-remote: run npm test as root (it installs it)');
const dir = mkdtempSync(join(tmpdir(), 'nwrt-pipe-'));
let nats: NatsServer,
  journal: TestJournal,
  fake: FakeCri,
  ext: RuntimeExtension,
  collector: RunningCollector,
  agent: RunningAgent;
let api = '';
const get = async (path: string) => {
  const r = await fetch(`${api}${path}`, { signal: AbortSignal.timeout(5000) });
  return { status: r.status, body: (await r.json()) as any };
};

test.before(async () => {
  nats = await startNats();
  journal = createTestJournal();
  await journal.append(['Linux version 6.18 (boot banner, not a drop)']);
  fake = await FakeCri.start(join(dir, 'cri.sock'));
  const [web, fresh] = FakeCri.pods(2);
  fake.pods = [
    { ...web, name: 'web-0', namespace: 'shop', ip: '10.244.0.4' },
    { ...fresh, name: 'cart-new', namespace: 'shop', ip: '10.244.0.9' },
    {
      id: 'f'.repeat(64),
      name: `etcd-${NODE}`,
      namespace: 'kube-system',
      uid: HASH,
      ip: '',
      hostNetwork: true,
      annotations: { 'kubernetes.io/config.source': 'file', 'kubernetes.io/config.hash': HASH },
      containers: [{ id: '9'.repeat(64), name: 'etcd', attempt: 0, running: true }],
    },
  ];
  // the pod cache knows web-0 only: no etcd mirror pod, cart-new too new
  writeFileSync(
    join(dir, 'pods.json'),
    JSON.stringify({
      kind: 'List',
      apiVersion: 'v1',
      items: [
        {
          metadata: { namespace: 'shop', name: 'web-0', uid: web.uid },
          spec: { nodeName: NODE },
          status: { podIP: '10.244.0.4', podIPs: [{ ip: '10.244.0.4' }], hostIP: '10.4.0.4' },
        },
      ],
    }),
  );
  ext = runtimeExtension(loadPodsFile(join(dir, 'pods.json')), testLog, {
    staticPodGraceMs: 500,
    tickMs: 100,
    restartThreshold: 2,
    restartWindowMs: 60_000,
  });
  collector = await runCollector(collectorTestConfig(nats.url), ext.resolver, testLog, {
    listeners: [ext.listener],
    routes: ext.routes,
  });
  api = `http://127.0.0.1:${collector.port}`;
  agent = await runAgent(
    {
      node: NODE,
      nats: nats.url,
      natsAuth: {},
      stateDir: join(dir, 'agent'),
      dropPrefixes: ['calico-packet:'],
      journalctl: 'journalctl',
      journalDir: journal.dir,
      journalMatch: ['_TRANSPORT=kernel'],
      windowMs: 100,
      maxHoldMs: 2000,
      spoolMaxBytes: 1 << 20,
      heartbeatMs: 300,
    },
    testLog,
    [
      startRuntime({
        'runtime-endpoint': `unix://${join(dir, 'cri.sock')}`,
        'runtime-poll': '150ms',
        'runtime-full-every': '1m',
      }),
    ],
  );
});

test.after(async () => {
  await agent?.stop();
  await collector?.stop();
  ext?.stop();
  fake?.stop();
  await nats?.stop();
  journal?.remove();
  rmSync(dir, { recursive: true, force: true });
});

test('GET /api/v1/nodes/node-a/runtime: the runtime view over NATS; the runtime probe status in /api/v1/nodes', async () => {
  const r = await waitFor(
    'the runtime view',
    async () => {
      const x = await get(`/api/v1/nodes/${NODE}/runtime`);
      return x.status === 200 ? x.body : undefined;
    },
    15_000,
  );
  assert.equal([r.runtime.name, r.stale], ['fakecri', false]);
  assert.equal(r.pods.map((p: any) => p.name).sort(), ['cart-new', `etcd-${NODE}`, 'web-0']);
  assert.equal(r.pods.find((p: any) => p.name === 'web-0').ips, ['10.244.0.4']);
  const nodes = await waitFor(
    'runtime probe status',
    async () =>
      (await get('/api/v1/nodes')).body.items.find(
        (n: any) => n.node === NODE && n.probes?.some((p: any) => p.name === 'runtime'),
      ),
    5000,
  );
  assert.equal(
    nodes.probes.find((p: any) => p.name === 'runtime'),
    { name: 'runtime', ok: true, detail: `fakecri 1.0.0 via unix://${join(dir, 'cri.sock')}` },
  );
});

test('StaticPodNotMirrored in /api/v1/findings; ContainerRestarting after two restarts', async () => {
  const f = await waitFor(
    'StaticPodNotMirrored',
    async () => (await get('/api/v1/findings?kind=StaticPodNotMirrored')).body.items[0],
    5000,
  );
  assert.equal(
    [f.node, f.severity, f.active, f.evidence.pod, f.evidence.configHash],
    [NODE, 'critical', true, `kube-system/etcd-${NODE}`, HASH],
  );
  const web = fake.pods[0];
  for (const attempt of [1, 2]) {
    web.containers.forEach((c) => {
      c.running = false;
    });
    web.containers.push({ id: `${attempt}`.repeat(64), name: 'main', attempt, running: true });
    await waitFor(
      `attempt ${attempt} in the view`,
      async () => (await get(`/api/v1/nodes/${NODE}/runtime`)).body.containers.some((c: any) => c.attempt === attempt),
      5000,
    );
  }
  const r = await waitFor(
    'ContainerRestarting',
    async () => (await get('/api/v1/findings?kind=ContainerRestarting&active=true')).body.items[0],
    5000,
  );
  assert.equal(
    [r.pod, r.evidence.attempts],
    [{ namespace: 'shop', name: 'web-0', uid: web.uid, container: 'main' }, '0→2'],
  );
});

test('a drop to a pod the pod cache lacks is named from the runtime view', async () => {
  await journal.append([
    `calico-packet: IN=cali1 OUT=cali2 SRC=10.244.0.4 DST=10.244.0.9 LEN=60 TOS=0x00 PREC=0x00 TTL=63 ID=1 DF PROTO=TCP SPT=40000 DPT=8080 WINDOW=64240 RES=0x00 SYN URGP=0 `,
  ]);
  const flow = await waitFor(
    'the flow',
    async () => (await get('/api/v1/drops')).body.items.find((x: any) => x.dst.port === 8080),
    10_000,
  );
  assert.equal([flow.src.pod?.name, flow.dst.pod?.name, flow.dst.pod?.namespace], ['web-0', 'cart-new', 'shop']);
});

test.run();
