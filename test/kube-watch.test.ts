// The collector's pod list+watch (collector/kube) against a REAL kube-apiserver + etcd
// (test/support/kube.ts), as the least-privileged collector user: paged list, watch of
// create/update/delete, the deleted-pod grace period, 410 relist after an apiserver restart, the
// watchdog on a silent connection, and kubeconfig/in-cluster loading.
// Run: node --import tsx test/kube-watch.test.ts
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, mkdirSync, writeFileSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startControlPlane, type ControlPlane } from './support/kube.js';
import { waitFor } from './support/wait.js';
import { startNats } from './support/nats.js';
import { KubeClient } from '../collector/kube/client.js';
import { loadKubeconfig, loadInCluster } from '../collector/kube/config.js';
import { PodWatch } from '../collector/kube/pod-watch.js';
import { grantCollector, tcpProxy, testLog, COLLECTOR_USER } from './fixtures/kube/helpers.js';
import { runCli, spawnCollector } from './support/procs.js';

let cp: ControlPlane;
let dir: string;
const NS = 'watch';
const watches: PodWatch[] = [];

const kubeconfigFor = (name: string, cluster: Record<string, unknown>, user: Record<string, unknown>) => {
  const f = join(dir, name);
  writeFileSync(
    f,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'c', cluster }],
      users: [{ name: 'u', user }],
      contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }],
      'current-context': 'x',
    }),
  );
  return f;
};

const startWatch = (server = cp.url, opts: Partial<ConstructorParameters<typeof PodWatch>[2]> = {}) => {
  const cfg = loadKubeconfig(cp.kubeconfig(COLLECTOR_USER));
  const w = new PodWatch(new KubeClient({ ...cfg, server }), testLog(), {
    graceMs: 3000,
    pageSize: 2,
    watchTimeoutS: 60,
    ...opts,
  });
  watches.push(w);
  w.start();
  return w;
};
const podName = (w: PodWatch, ip: string) => {
  const o = w.resolve(ip);
  return o?.kind === 'pod' ? o.name : o?.kind === 'node' ? `node/${o.name}` : undefined;
};

test.before(async () => {
  cp = await startControlPlane({ users: [{ name: COLLECTOR_USER }, { name: 'nobody' }] });
  dir = mkdtempSync(join(tmpdir(), 'nw-kube-watch-'));
  await grantCollector(cp);
  await cp.createNamespace(NS);
  for (let i = 1; i <= 5; i++)
    await cp.createPod(NS, `pre-${i}`, { nodeName: 'node-a', podIP: `10.244.0.${i}`, hostIP: '192.0.2.10' });
});

test.after(async () => {
  for (const w of watches) await w.stop();
  await cp?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('first sync: paged list (5 pods, pages of 2) makes ready(); pod IPs and host IPs resolve', async () => {
  const w = startWatch();
  assert.not.ok(w.ready());
  await w.waitReady(15_000);
  for (let i = 1; i <= 5; i++) assert.is(podName(w, `10.244.0.${i}`), `pre-${i}`);
  assert.is(podName(w, '192.0.2.10'), 'node/node-a');
  const o = w.resolve('10.244.0.1');
  assert.ok(o?.kind === 'pod' && o.uid && o.namespace === NS && o.node === 'node-a');
  assert.is(w.podByUid((o as { uid: string }).uid)?.name, 'pre-1');
  assert.is(w.stats.lists, 1);
});

test('watch: created, updated (new IP) and deleted pods are seen; a deleted pod resolves for the grace period only', async () => {
  const w = startWatch();
  await w.waitReady(15_000);
  const { uid } = await cp.createPod(NS, 'late', { nodeName: 'node-b', podIP: '10.244.1.50', hostIP: '192.0.2.11' });
  await waitFor('late pod in the cache', () => podName(w, '10.244.1.50') === 'late', 10_000, 20);
  assert.is(podName(w, '192.0.2.11'), 'node/node-b');
  assert.is(w.podByUid(uid)?.node, 'node-b');
  // update: the pod's IP changes (status patch) -> the new IP names it
  const r = await cp.request('PATCH', `/api/v1/namespaces/${NS}/pods/late/status`, {
    status: { podIP: '10.244.1.51', podIPs: [{ ip: '10.244.1.51' }] },
  });
  assert.is(r.status, 200);
  await waitFor('updated IP', () => podName(w, '10.244.1.51') === 'late', 10_000, 20);
  await cp.deletePod(NS, 'late');
  const deletedAt = Date.now();
  await waitFor('deletion seen', () => w.cache.tombstones >= 1, 10_000, 20);
  assert.is(podName(w, '10.244.1.51'), 'late', 'still named during the grace period');
  assert.is(w.podByUid(uid)?.name, 'late');
  await waitFor('grace period over', () => podName(w, '10.244.1.51') === undefined, 10_000, 100);
  assert.ok(Date.now() - deletedAt >= 2500, 'not forgotten before the grace period');
  assert.is(w.podByUid(uid), undefined);
});

test('apiserver restart: the watch reconnects, 410 Gone -> relist, changes made meanwhile are seen', async () => {
  const w = startWatch(cp.url, { backoffMinMs: 200, backoffMaxMs: 1000 });
  await w.waitReady(15_000);
  // Writes the pod watch does not see move etcd's revision past the watch's resourceVersion; the
  // restarted apiserver's watch cache starts at the new revision, so resuming is "too old" -> 410.
  for (let i = 0; i < 5; i++) {
    const r = await cp.request('POST', '/api/v1/namespaces/default/configmaps', {
      metadata: { name: `rv-bump-${i}` },
      data: { i: String(i) },
    });
    assert.is(r.status, 201, JSON.stringify(r.body));
  }
  const listsBefore = w.stats.lists;
  await cp.restartApiserver();
  await cp.createPod(NS, 'after-restart', { nodeName: 'node-a', podIP: '10.244.0.77', hostIP: '192.0.2.10' });
  await cp.deletePod(NS, 'pre-5');
  await waitFor('pod created after the restart', () => podName(w, '10.244.0.77') === 'after-restart', 30_000, 50);
  await waitFor('pre-5 deletion seen', () => w.cache.tombstones >= 1, 30_000, 50);
  assert.ok(w.ready());
  assert.ok(w.stats.relists410 >= 1, `no 410 relist: ${JSON.stringify(w.stats)}`);
  assert.ok(w.stats.lists > listsBefore, 'a relist happened');
  console.log(`    after restart: ${JSON.stringify(w.stats)}`);
});

test('watchdog: a watch whose connection goes silent is aborted and restarted; no update is missed', async () => {
  const proxy = await tcpProxy(Number(new URL(cp.url).port));
  try {
    const w = startWatch(`https://127.0.0.1:${proxy.port}`, { silenceMs: 2000, backoffMinMs: 100, backoffMaxMs: 500 });
    await w.waitReady(15_000);
    await waitFor('watch open', () => w.stats.watches >= 1, 5000, 20);
    assert.ok(proxy.freeze() >= 1);
    await cp.createPod(NS, 'during-freeze', { nodeName: 'node-a', podIP: '10.244.0.88', hostIP: '192.0.2.10' });
    await waitFor(
      'pod created while the watch was silent',
      () => podName(w, '10.244.0.88') === 'during-freeze',
      15_000,
      50,
    );
    assert.ok(w.stats.watchdogAborts >= 1, JSON.stringify(w.stats));
  } finally {
    await proxy.stop();
  }
});

test('no permission: the watch keeps retrying, ready() stays false (and /readyz with it)', async () => {
  const cfg = loadKubeconfig(cp.kubeconfig('nobody'));
  const w = new PodWatch(new KubeClient(cfg), testLog(), { graceMs: 1000, backoffMinMs: 100, backoffMaxMs: 200 });
  watches.push(w);
  w.start();
  await waitFor('a few failed attempts', () => w.stats.errors >= 2, 10_000, 50);
  assert.not.ok(w.ready());
});

test('CLI: /readyz answers 503 "pod cache not synced" while the pod list is refused, 200 once RBAC allows it', async () => {
  const nats = await startNats();
  const c = await spawnCollector(nats.url, ['--kubeconfig', cp.kubeconfig('nobody'), '--events=off']);
  try {
    await c.waitForLog(/collector: consuming/);
    await c.waitForLog(/pod list\/watch forbidden/);
    const r = await fetch(`${c.api}/readyz`);
    assert.is(r.status, 503);
    assert.match(await r.text(), /pod cache not synced/);
    const b = await cp.kubectl([
      'create',
      'clusterrolebinding',
      'nobody-pods',
      '--clusterrole=nodewarden-collector-test',
      '--user=nobody',
    ]);
    assert.is(b.code, 0, b.stderr);
    await waitFor(
      '/readyz 200 after the grant',
      async () => (await fetch(`${c.api}/readyz`)).status === 200,
      45_000,
      200,
    );
  } finally {
    await c.stop('SIGTERM');
    await nats.stop();
  }
});

test('config: CA data, insecure-skip-tls-verify, tokenFile (re-read), wrong CA fails; in-cluster config', async () => {
  const token = cp.token(COLLECTOR_USER);
  const ca = readFileSync(cp.caFile);
  const list = async (file: string) =>
    (await new KubeClient(loadKubeconfig(file)).request('GET', `/api/v1/namespaces/${NS}/pods?limit=1`)).status;
  assert.is(
    await list(
      kubeconfigFor('ca-data', { server: cp.url, 'certificate-authority-data': ca.toString('base64') }, { token }),
    ),
    200,
  );
  assert.is(
    await list(kubeconfigFor('insecure', { server: cp.url, 'insecure-skip-tls-verify': true }, { token })),
    200,
  );
  writeFileSync(join(dir, 'token'), 'wrong-token');
  const tf = kubeconfigFor('tokenfile', { server: cp.url, 'certificate-authority': cp.caFile }, { tokenFile: 'token' });
  const client = new KubeClient(loadKubeconfig(tf));
  assert.is((await client.request('GET', '/api/v1/pods?limit=1')).status, 401);
  writeFileSync(join(dir, 'token'), token); // rotated: a 401 makes the client re-read it
  assert.is((await client.request('GET', '/api/v1/pods?limit=1')).status, 200);
  await new KubeClient(loadKubeconfig(kubeconfigFor('no-ca', { server: cp.url }, { token })))
    .request('GET', '/version')
    .then(
      () => assert.unreachable('TLS must fail without the CA'),
      (err: Error) => assert.match(err.message, /self[- ]signed|certificate/i),
    );
  // in-cluster: KUBERNETES_SERVICE_HOST/PORT + token and ca.crt in the service-account dir
  const sa = join(dir, 'sa');
  mkdirSync(sa);
  writeFileSync(join(sa, 'token'), token);
  writeFileSync(join(sa, 'ca.crt'), ca);
  const ic = loadInCluster({ KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: new URL(cp.url).port }, sa);
  assert.is((await new KubeClient(ic).request('GET', `/api/v1/namespaces/${NS}/pods?limit=1`)).status, 200);
});

test('CLI: invalid Kubernetes config exits 2 with one line', async () => {
  const cases: [string[], RegExp][] = [
    [['--kubeconfig', join(dir, 'missing.yaml')], /--kubeconfig .*missing\.yaml: no such file/],
    [
      ['--kubeconfig', kubeconfigFor('exec', { server: cp.url }, { exec: { command: 'x' } })],
      /exec\/auth-provider plugin, which is not supported/,
    ],
    [['--events=on'], /--events=on needs a cluster/],
    [['--events=maybe'], /--events must be on or off/],
    [['--kubeconfig', cp.kubeconfig(COLLECTOR_USER), '--pods-file', 'x.json'], /exclude each other/],
    [['--event-qps', '0'], /--event-qps must be a positive number/],
    [['--event-object-burst', '2.5'], /--event-object-burst must be a positive integer/],
    [['--pod-grace', 'soon'], /--pod-grace: "soon" is not a duration/],
  ];
  for (const [args, re] of cases) {
    const r = await runCli(['collector', '--listen', '127.0.0.1:0', ...args], undefined, 15_000);
    assert.is(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.is(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, re);
  }
});

test.run();
