// The Event writer (collector/events/writer.ts) against a REAL kube-apiserver that pushes back:
// 429 Too Many Requests from its max-inflight limit (APF off, one mutating request at a time), and
// 403 Forbidden for a collector identity without RBAC that is granted later.
// Run: node --import tsx test/kube-events-faults.test.ts
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import pino from 'pino';
import { startControlPlane, type ControlPlane } from './support/kube.js';
import { waitFor } from './support/wait.js';
import { KubeClient } from '../collector/kube/client.js';
import { loadKubeconfig } from '../collector/kube/config.js';
import { EventWriter } from '../collector/events/writer.js';
import type { Observation } from '../collector/events/messages.js';
import { grantCollector, listEvents, auditWrites, COLLECTOR_USER } from './fixtures/kube/helpers.js';

let cp: ControlPlane;
const pods: Record<string, string> = {};
const writers: EventWriter[] = [];

const capture = () => {
  const lines: { msg: string; [k: string]: unknown }[] = [];
  const log = pino(
    { level: 'info' },
    {
      write: (s: string) => {
        lines.push(JSON.parse(s));
      },
    },
  );
  return { log, lines };
};
const obs = (pod: string, message: string, count: number): Observation => ({
  object: { kind: 'Pod', namespace: 'faults', name: pod, uid: pods[pod] },
  type: 'Warning',
  reason: 'PacketDrop',
  message,
  host: 'node-a',
  count,
  firstMs: Date.now(),
  lastMs: Date.now(),
});

test.before(async () => {
  cp = await startControlPlane({
    users: [{ name: COLLECTOR_USER }, { name: 'late-rbac' }],
    apiserverArgs: [
      '--enable-priority-and-fairness=false',
      '--max-mutating-requests-inflight=1',
      '--max-requests-inflight=400',
    ],
  });
  await grantCollector(cp);
  await cp.createNamespace('faults');
  for (let i = 0; i < 4; i++)
    pods[`p${i}`] = (await cp.createPod('faults', `p${i}`, { nodeName: 'node-a', podIP: `10.244.9.${i + 1}` })).uid;
});

test.after(async () => {
  for (const w of writers) await w.stop(0);
  await cp?.stop();
});

test('429 from the apiserver: retried after Retry-After, every count arrives, nothing duplicated', async () => {
  const { log, lines } = capture();
  const w = new EventWriter(new KubeClient(loadKubeconfig(cp.kubeconfig(COLLECTOR_USER))), log, {
    qps: 1000,
    burst: 1000,
    objectBurst: 1000,
    objectRefillMs: 1000,
    updateIntervalMs: 0,
    concurrency: 16,
  });
  writers.push(w);
  // 4 pods x 10 messages, each observed 3 times, rounds 100 ms apart (creates, then patches in flight)
  for (let round = 0; round < 3; round++) {
    for (let m = 0; m < 10; m++)
      for (const p of Object.keys(pods))
        w.observe(obs(p, `Packet dropped when sending traffic to 192.0.2.${m} on port 80/TCP`, 1));
    await new Promise((r) => setTimeout(r, 100));
  }
  const t0 = Date.now();
  assert.ok(await w.flush(90_000), `not done in 90 s: ${JSON.stringify(w.stats)}`);
  const events = (await listEvents(cp, 'faults')).filter((e) => e.reason === 'PacketDrop');
  assert.is(events.length, 40);
  assert.ok(
    events.every((e) => e.count === 3),
    JSON.stringify(events.filter((e) => e.count !== 3).map((e) => e.count)),
  );
  const writes = auditWrites(cp);
  const throttled = writes.filter((x) => x.code === 429).length;
  console.log(
    `    ${writes.length} writes, ${throttled} answered 429, writer retries ${w.stats.retries}, all counts in after ${Date.now() - t0} ms`,
  );
  assert.ok(throttled > 0, 'the apiserver did push back (else this test proves nothing)');
  assert.ok(w.stats.retries > 0);
  assert.ok(throttled < writes.length / 2, 'backs off instead of hammering');
  assert.is(w.correlator.pendingTotal(), 0);
  assert.not.ok(lines.some((l) => /forbidden/.test(l.msg)));
});

test('403: logged once with the missing permission, counted; counts kept and written once RBAC allows it', async () => {
  const { log, lines } = capture();
  const w = new EventWriter(new KubeClient(loadKubeconfig(cp.kubeconfig('late-rbac'))), log, {
    qps: 100,
    burst: 100,
    objectBurst: 100,
    objectRefillMs: 1000,
    updateIntervalMs: 0,
  });
  writers.push(w);
  w.observe(obs('p0', 'Packet dropped when receiving traffic from 203.0.113.7 on port 443/TCP', 5));
  w.observe(obs('p1', 'Packet dropped when receiving traffic from 203.0.113.7 on port 443/TCP', 2));
  await waitFor('two refusals', () => w.stats.forbidden >= 2, 15_000, 50);
  const warned = lines.filter((l) => /missing permission: events create in namespace faults/.test(l.msg));
  assert.is(warned.length, 1, JSON.stringify(lines));
  w.observe(obs('p0', 'Packet dropped when receiving traffic from 203.0.113.7 on port 443/TCP', 1));
  // the operator fixes RBAC: the kept counts arrive
  const b = await cp.kubectl([
    'create',
    'rolebinding',
    'late',
    '--clusterrole=nodewarden-collector-test',
    '--user=late-rbac',
    '-n',
    'faults',
  ]);
  assert.is(b.code, 0, b.stderr);
  const counts = async () =>
    (await listEvents(cp, 'faults'))
      .filter((e) => e.message.includes('203.0.113.7'))
      .map((e) => `${e.involvedObject.name}=${e.count}`)
      .sort()
      .join(',');
  await waitFor('Events after the grant', async () => (await counts()) === 'p0=6,p1=2', 60_000, 250).catch(
    async (err) => {
      throw new Error(`${err.message}: ${await counts()}`);
    },
  );
  assert.is(lines.filter((l) => /missing permission/.test(l.msg)).length, 1, 'still logged once');
  assert.is(w.correlator.stats.discarded, 0);
});

test.run();
