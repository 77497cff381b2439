// NetworkPolicy explanations end to end, with real components only: drops published as agent
// envelopes through a real NATS JetStream -> `nodewarden collector --kubeconfig` (least-privileged
// token user, test/fixtures/kube/collector-rbac.yaml) -> a REAL kube-apiserver holding the pods and
// the seed incident's shop/deny-wip. Checked: the flow's `explanation` in /api/v1/drops, GET
// /api/v1/explain and /openapi.json, `nodewarden explain` and `drops -o wide`, the PacketDrop Events
// read back from the API server, an edit of the policy (the explanation follows), /readyz waiting
// for the policy caches, and a collector without a cluster (no explanation, a clear 404).
// Run: node --import tsx test/explain-e2e.test.ts
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, type JetStreamClient } from '@nats-io/jetstream';
import { startControlPlane, type ControlPlane } from './support/kube.js';
import { startNats, type NatsServer } from './support/nats.js';
import { spawnCollector, runCli, getJson, type CollectorProc } from './support/procs.js';
import { waitFor } from './support/wait.js';
import {
  applyNetworkPolicy,
  grantCollector,
  listEvents,
  COLLECTOR_USER,
  type K8sEvent,
} from './fixtures/kube/helpers.js';
import { encodeEnvelope, type Envelope } from '../proto/codec.js';
import { subjectFor, messageId } from '../common/subjects.js';
import type { Flow } from '../collector/store/drops.js';
import type { Explanation } from '../collector/explain/index.js';

const NO_POLICY_USER = 'collector-nopolicy';
const WEB = '10.244.0.4',
  DB = '10.244.1.6',
  DNS = '10.244.2.3';
const SUMMARY =
  'Egress of shop/web-0 is isolated by shop/deny-wip; no rule allows UDP/53 to kube-system/coredns-x2x4q (DNS).';
const SENDING = `Packet dropped when sending traffic to kube-system/coredns-x2x4q (${DNS}) on port 53/UDP`;
const RECEIVING = `Packet dropped when receiving traffic from shop/web-0 (${WEB}) on port 53/UDP`;

let cp: ControlPlane, nats: NatsServer, nc: NatsConnection, js: JetStreamClient;
let collector: CollectorProc, bare: CollectorProc | undefined, dir: string, api: string;
const uids: Record<string, string> = {};
let seq = 0;

async function publishDrops(drops: Record<string, unknown>[]): Promise<void> {
  const env: Envelope = {
    node: 'node-a',
    agentId: 'e2e0e2e0e2e0',
    seq: ++seq,
    sentMs: Date.now(),
    agentVersion: 'test',
    drops: { drops },
  };
  const ack = await js.publish(subjectFor('node-a', 'drops'), encodeEnvelope(env), {
    msgID: messageId('node-a', 'e2e0e2e0e2e0', seq),
  });
  assert.not.ok(ack.duplicate);
}
const drop = (over: Record<string, unknown> = {}) => {
  const now = Date.now();
  return {
    prefix: 'calico-packet:',
    family: 4,
    proto: 'UDP',
    src: WEB,
    dst: DNS,
    dstPort: 53,
    count: 1,
    firstSeenMs: now - 200,
    lastSeenMs: now,
    sample: `calico-packet: SRC=${WEB} DST=${DNS} PROTO=UDP DPT=53`,
    ...over,
  };
};

const flows = async (base = api) => (await getJson<{ items: Flow[] }>(`${base}/api/v1/drops?limit=100`)).items;
const dnsFlow = (items: Flow[]) => items.find((f) => f.proto === 'UDP' && f.dst.ip === DNS && f.dst.port === 53);
/** PacketDrop Events of a pod about the DNS flow (web-0 also has one about its ICMP drop). */
const eventsOf = async (ns: string, pod: string): Promise<K8sEvent[]> =>
  (await listEvents(cp, ns, `involvedObject.name=${pod},involvedObject.uid=${uids[pod]}`)).filter(
    (e) => e.reason === 'PacketDrop' && (e.message.startsWith(SENDING) || e.message.startsWith(RECEIVING)),
  );

test.before(async () => {
  cp = await startControlPlane({ users: [{ name: COLLECTOR_USER }, { name: NO_POLICY_USER }] });
  await grantCollector(cp);
  await cp.createNamespace('shop');
  for (const [ns, name, ip, labels] of [
    ['shop', 'web-0', WEB, { app: 'web' }],
    ['shop', 'db-0', DB, { app: 'db' }],
    ['kube-system', 'coredns-x2x4q', DNS, { 'k8s-app': 'kube-dns' }],
  ] as const) {
    uids[name] = (await cp.createPod(ns, name, { nodeName: 'node-a', podIP: ip, hostIP: '192.0.2.10', labels })).uid;
  }
  // the seed incident: an unfinished policy that isolates every shop pod's egress and allows nothing
  await applyNetworkPolicy(cp, 'shop', 'deny-wip', { podSelector: {}, policyTypes: ['Egress'] });
  nats = await startNats();
  nc = await connect({ servers: nats.url });
  js = jetstream(nc);
  dir = mkdtempSync(join(tmpdir(), 'nw-explain-e2e-'));
  collector = await spawnCollector(nats.url, [
    '--kubeconfig',
    cp.kubeconfig(COLLECTOR_USER),
    '--pod-cidr',
    '10.244.0.0/16',
    '--event-update-interval',
    '1s',
    '--dns-blocked-clear',
    '6s',
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
  await bare?.stop('SIGKILL');
  await collector?.stop('SIGKILL');
  await nats?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
  await cp?.stop();
});

test('a UDP/53 drop under shop/deny-wip: the flow in /api/v1/drops carries a denied explanation naming the policy; ICMP carries none', async () => {
  await publishDrops([
    drop(),
    drop({ proto: 'ICMP', dst: DB, dstPort: undefined, icmpType: 8, icmpCode: 0, sample: 'icmp' }),
  ]);
  const items = await waitFor(
    'both flows',
    async () => {
      const f = await flows();
      return f.length === 2 && f;
    },
    10_000,
  );
  const f = dnsFlow(items)!;
  assert.is(f.src.pod?.name, 'web-0');
  const e = f.explanation!;
  assert.ok(e, JSON.stringify(f));
  assert.is(e.verdict, 'denied');
  assert.is(e.summary, SUMMARY);
  assert.equal(e.sides[0], {
    direction: 'egress',
    pod: { namespace: 'shop', name: 'web-0' },
    verdict: 'denies',
    isolatedBy: ['shop/deny-wip'],
  });
  assert.match(e.policyState.resourceVersion, /^\d+$/);
  const icmp = items.find((x) => x.proto === 'ICMP')!;
  assert.is(icmp.explanation, undefined, 'NetworkPolicy defines no ICMP: no explanation');
});

interface FindingView {
  kind: string;
  severity: string;
  active: boolean;
  message: string;
  node: string;
  pod?: { namespace: string; name: string; uid?: string };
  evidence?: Record<string, string>;
}
const dnsBlocked = async () =>
  (await getJson<{ items: FindingView[] }>(`${api}/api/v1/findings?kind=DNSBlocked`)).items;

test('DNSBlocked: raised on the source pod by the drop towards the kube-dns pod, the explanation in message and evidence', async () => {
  const [f] = await waitFor(
    'DNSBlocked',
    async () => {
      const x = await dnsBlocked();
      return x.length > 0 && x;
    },
    10_000,
  );
  assert.is(f.active, true);
  assert.is(f.severity, 'warning');
  assert.equal(f.pod, { namespace: 'shop', name: 'web-0', uid: uids['web-0'] });
  assert.is(f.message, `DNS from shop/web-0 to kube-system/coredns-x2x4q (${DNS}) on 53/UDP is dropped. ${SUMMARY}`);
  assert.is(f.evidence?.explanation, SUMMARY);
  assert.is(f.evidence?.verdict, 'denied');
  assert.is(f.evidence?.dnsPod, 'kube-system/coredns-x2x4q');
  const cli = await runCli(['findings', '-A', '--collector', api, '--kind', 'DNSBlocked']);
  assert.match(cli.stdout, /DNSBlocked/);
  // and as an Event on the pod, read from the API server
  await waitFor(
    'DNSBlocked Event on web-0',
    async () =>
      (await listEvents(cp, 'shop', `involvedObject.name=web-0,involvedObject.uid=${uids['web-0']}`)).some(
        (e) => e.reason === 'DNSBlocked' && e.type === 'Warning' && e.message === f.message,
      ),
    15_000,
  );
});

test('GET /api/v1/explain answers the same object for a pair named by namespace/pod, and is in /openapi.json', async () => {
  const e = await getJson<Explanation>(
    `${api}/api/v1/explain?from=shop/web-0&to=kube-system/coredns-x2x4q&port=53&proto=UDP`,
  );
  assert.is(e.verdict, 'denied');
  assert.is(e.summary, SUMMARY);
  const bad = await fetch(`${api}/api/v1/explain?from=shop/web-0&to=${DNS}&port=53&proto=ICMP`);
  assert.is(bad.status, 400);
  const spec = await getJson<{
    paths: Record<
      string,
      {
        get: {
          responses: Record<
            string,
            { content: { 'application/json': { schema: { properties: Record<string, unknown> } } } }
          >;
        };
      }
    >;
  }>(`${api}/openapi.json`);
  assert.ok(spec.paths['/api/v1/explain'], 'explain path in OpenAPI');
  const dropItem = spec.paths['/api/v1/drops'].get.responses['200'].content['application/json'].schema.properties
    .items as { items: { properties: Record<string, unknown> } };
  assert.ok(dropItem.items.properties.explanation, 'flows document explanation');
});

test('nodewarden explain prints it readably (and -o json); nodewarden drops -o wide shows the summary', async () => {
  const r = await runCli(['explain', 'shop/web-0', 'kube-system/coredns-x2x4q', '53/UDP', '--collector', api]);
  assert.is(r.code, 0, r.stderr);
  assert.ok(
    r.stdout.startsWith(`DENIED: ${SUMMARY}\nFix: Allow egress to namespace kube-system pods k8s-app=kube-dns`),
    r.stdout,
  );
  assert.match(r.stdout, /^egress\s+shop\/web-0\s+denies\s+shop\/deny-wip\s+no rule comes close$/m);
  assert.match(r.stdout, /^ingress\s+kube-system\/coredns-x2x4q\s+not-isolated\s+-\s+-$/m);
  assert.match(r.stdout, /^Policy state: resourceVersion \d+, last change \d{4}-/m);
  const j = await runCli(['explain', WEB, DNS, '53/udp', '--collector', api, '-o', 'json']);
  assert.is(j.code, 0, j.stderr);
  assert.is((JSON.parse(j.stdout) as Explanation).verdict, 'denied');
  const wide = await runCli(['drops', '-A', '--collector', api, '-o', 'wide']);
  assert.is(wide.code, 0, wide.stderr);
  assert.match(wide.stdout, /^LAST SEEN .* PORT\s+WHY$/m);
  assert.ok(
    wide.stdout.split('\n').some((l) => l.includes('kube-system/coredns-x2x4q') && l.endsWith(SUMMARY)),
    wide.stdout,
  );
  const plain = await runCli(['drops', '-A', '--collector', api]);
  assert.not.match(plain.stdout, /WHY|isolated by/);
});

test('the PacketDrop Events on both pods end with the summary; a repeat raises the count of the same Event', async () => {
  const [sent] = await waitFor(
    'PacketDrop on web-0',
    async () => {
      const e = await eventsOf('shop', 'web-0');
      return e.length > 0 && e;
    },
    15_000,
  );
  assert.is(sent.message, `${SENDING}. ${SUMMARY}`);
  assert.ok(sent.message.length < 1024);
  const [recv] = await waitFor(
    'PacketDrop on coredns',
    async () => {
      const e = await eventsOf('kube-system', 'coredns-x2x4q');
      return e.length > 0 && e;
    },
    15_000,
  );
  assert.is(recv.message, `${RECEIVING}. ${SUMMARY}`);
  await publishDrops([drop({ count: 4 })]);
  const after = await waitFor(
    'count 5 on the same Event',
    async () => {
      const e = await eventsOf('shop', 'web-0');
      return e.length === 1 && e[0].count === 5 && e;
    },
    15_000,
  );
  assert.is(after[0].metadata.name, sent.metadata.name, 'one Event per (pod, reason, message)');
});

test('the policy is finished (egress to CoreDNS allowed): the explanation follows, and new Events carry no summary', async () => {
  const before = dnsFlow(await flows())!.explanation!;
  await applyNetworkPolicy(cp, 'shop', 'deny-wip', {
    podSelector: {},
    policyTypes: ['Egress'],
    egress: [
      {
        to: [
          {
            namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } },
            podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } },
          },
        ],
        ports: [{ protocol: 'UDP', port: 53 }],
      },
    ],
  });
  const e = await waitFor(
    'explanation allowed',
    async () => {
      const x = dnsFlow(await flows())!.explanation!;
      return x.verdict === 'allowed' && x;
    },
    10_000,
  );
  assert.equal(e.sides[0].allowedBy, { policy: 'shop/deny-wip', rule: 0 });
  assert.match(e.summary, /^Current NetworkPolicies allow UDP\/53 from shop\/web-0 to kube-system\/coredns-x2x4q/);
  assert.is.not(e.policyState.resourceVersion, before.policyState.resourceVersion, 'stamped with the new policy state');
  await publishDrops([drop()]);
  await waitFor(
    'a PacketDrop Event without the summary',
    async () => (await eventsOf('shop', 'web-0')).some((x) => x.message === SENDING),
    15_000,
  );
  const cli = await runCli(['explain', 'shop/web-0', 'kube-system/coredns-x2x4q', '53/UDP', '--collector', api]);
  assert.match(cli.stdout, /^ALLOWED: /);
  assert.match(cli.stdout, /allowed by shop\/deny-wip rule 0/);
});

test('DNSBlocked clears once no drop towards DNS was seen for --dns-blocked-clear (6s)', async () => {
  const [f] = await waitFor(
    'DNSBlocked cleared',
    async () => {
      const x = await dnsBlocked();
      return x.length === 1 && !x[0].active && x;
    },
    20_000,
  );
  assert.match(f.message, /^DNS from shop\/web-0 is no longer dropped/);
  assert.is(f.evidence?.dnsPod, 'kube-system/coredns-x2x4q', 'the evidence of the raise stays');
});

test('/readyz waits for the policy caches: a collector that may not list NetworkPolicies is never ready and says why', async () => {
  const role = await cp.kubectl(['create', 'clusterrole', 'nw-pods-only', '--verb=get,list,watch', '--resource=pods']);
  assert.is(role.code, 0, role.stderr);
  const bind = await cp.kubectl([
    'create',
    'clusterrolebinding',
    'nw-pods-only',
    '--clusterrole=nw-pods-only',
    `--user=${NO_POLICY_USER}`,
  ]);
  assert.is(bind.code, 0, bind.stderr);
  const p = await spawnCollector(nats.url, ['--kubeconfig', cp.kubeconfig(NO_POLICY_USER), '--events', 'off']);
  try {
    await p.waitForLog(/kube: pod cache synced/, 20_000);
    await p.waitForLog(/networkpolicy list\/watch forbidden/, 20_000);
    // first "replaying the stream", then only the policy caches are missing, for good
    await waitFor(
      '/readyz names the policy caches',
      async () => {
        const r = await fetch(`${p.api}/readyz`);
        return r.status === 503 && (await r.text()) === 'not ready: NetworkPolicy/Namespace caches not synced\n';
      },
      15_000,
    );
    const f = await getJson<{ items: Flow[] }>(`${p.api}/api/v1/drops`);
    assert.ok(
      f.items.length > 0 && f.items.every((x) => x.explanation === undefined),
      'no explanation before the caches are synced',
    );
  } finally {
    await p.stop('SIGKILL');
  }
});

test('without a cluster (--pods-file): flows carry no explanation and /api/v1/explain says why (404)', async () => {
  writeFileSync(join(dir, 'pods.json'), JSON.stringify({ kind: 'List', items: [] }));
  bare = await spawnCollector(nats.url, ['--pods-file', join(dir, 'pods.json')]);
  const base = bare.api;
  await waitFor(
    'pods-file collector ready',
    async () => (await fetch(`${base}/readyz`).catch(() => undefined))?.status === 200,
    20_000,
  );
  const items = await flows(base);
  assert.ok(dnsFlow(items), 'the same flows, from the same stream');
  assert.ok(items.every((f) => f.explanation === undefined));
  const r = await fetch(`${base}/api/v1/explain?from=${WEB}&to=${DNS}&port=53&proto=UDP`);
  assert.is(r.status, 404);
  assert.match(((await r.json()) as { error: string }).error, /need a cluster/);
});

test.run();
