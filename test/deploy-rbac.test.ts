// deploy/ against a REAL kube-apiserver (etcd + kube-apiserver from test/support/kube.ts, RBAC on):
// server-side validation of every object, a real install + idempotent re-apply, and the rights of
// each ServiceAccount checked with real ServiceAccount tokens (TokenRequest) and with
// `kubectl auth can-i --as=system:serviceaccount:…`: the collector and the auth service can do
// exactly what they need, the agent nothing (its NATS token, for audience nodewarden, is refused by
// the API server and accepted by the auth service's TokenReview). Also: Pod Security levels of each pod template, and
// uninstall.
// Run: node --import tsx test/deploy-rbac.test.ts
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import * as https from 'node:https';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { eventually, startControlPlane, type ControlPlane } from './support/kube.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
/** NODEWARDEN_DEPLOY_DIR: check another kustomization (e.g. an overlay of deploy/, or a mutated copy). */
const DEPLOY = process.env.NODEWARDEN_DEPLOY_DIR ?? join(ROOT, 'deploy');
const NS = 'nodewarden';
const COLLECTOR = `system:serviceaccount:${NS}:nodewarden-collector`;
const AGENT = `system:serviceaccount:${NS}:nodewarden-agent`;
const AUTH = `system:serviceaccount:${NS}:nodewarden-auth`;
const CONTROL = `system:serviceaccount:${NS}:nw-test-unbound`; // an SA nothing binds: the baseline

let cp: ControlPlane | undefined;
let docs: any[] = [];
let collectorToken = '';
let agentToken = '';
let authToken = '';
/** The agent's NATS credential as its DaemonSet gets it: audience nodewarden (not the API server's). */
let agentNatsToken = '';

async function kubectl(args: string[], input?: string) {
  const r = await cp!.kubectl(args, { input, timeoutMs: 60_000 });
  return r;
}
async function mustKubectl(args: string[], input?: string): Promise<string> {
  const r = await kubectl(args, input);
  assert.is(r.code, 0, `kubectl ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/** A raw API request with a bearer token (a real ServiceAccount JWT, not the harness's token file). */
function asToken(token: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  return new Promise((resolve, reject) => {
    const req = https.request(
      new URL(path, cp!.url),
      {
        method,
        ca: readFileSync(cp!.caFile),
        agent: false,
        timeout: 15_000,
        headers: {
          Authorization: `Bearer ${token}`,
          Accept: 'application/json',
          ...(payload
            ? {
                'Content-Type': method === 'PATCH' ? 'application/merge-patch+json' : 'application/json',
                'Content-Length': payload.length,
              }
            : {}),
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          text += d;
        });
        res.on('end', () => {
          let parsed: any = text;
          try {
            parsed = JSON.parse(text);
          } catch {
            /* a watch stream or plain text */
          }
          resolve({ status: res.statusCode ?? 0, body: parsed });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: timeout`)));
    req.on('error', reject);
    req.end(payload);
  });
}

async function canI(as: string, args: string[]): Promise<boolean> {
  const r = await kubectl(['auth', 'can-i', ...args, `--as=${as}`]);
  const answer = r.stdout.trim();
  assert.ok(answer === 'yes' || answer === 'no', `can-i ${args.join(' ')} --as=${as}: ${r.stdout} ${r.stderr}`);
  return answer === 'yes';
}

const eventBody = (ns: string, name: string, pod: { name: string; uid: string }) => ({
  apiVersion: 'v1',
  kind: 'Event',
  metadata: { name, namespace: ns },
  involvedObject: { apiVersion: 'v1', kind: 'Pod', namespace: ns, name: pod.name, uid: pod.uid },
  reason: 'PacketDrop',
  message: 'Packet dropped when sending traffic to shop/db-0 (10.244.1.6) on port 5432/TCP',
  type: 'Warning',
  source: { component: 'nodewarden', host: 'node-a' },
  count: 1,
  firstTimestamp: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
  lastTimestamp: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
});

const podFromTemplate = (kind: string, workload: string, ns: string, name: string): any => {
  const w = docs.find((d) => d.kind === kind && d.metadata.name === workload);
  const spec = structuredClone(w.spec.template.spec);
  // a StatefulSet pod gets its claim volumes from volumeClaimTemplates
  for (const t of w.spec.volumeClaimTemplates ?? [])
    spec.volumes = [
      ...(spec.volumes ?? []),
      { name: t.metadata.name, persistentVolumeClaim: { claimName: `${t.metadata.name}-x` } },
    ];
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: ns, labels: w.spec.template.metadata.labels },
    spec,
  };
};

test.before(async () => {
  cp = await startControlPlane({});
  docs = parseAllDocuments(await mustKubectl(['kustomize', DEPLOY])).map((d) => d.toJS());
});

test.after(async () => {
  await cp?.stop();
});

test('kubectl apply --dry-run=server -k deploy/: every object passes server-side validation and admission', async () => {
  // On an empty cluster a dry run cannot see the Namespace it would create: the only errors allowed
  // are "namespaces nodewarden not found" (hence the README's two-step check).
  const fresh = await kubectl(['apply', '--dry-run=server', '-k', DEPLOY]);
  if (fresh.code !== 0) {
    const errors = fresh.stderr.split('\n').filter((l) => l.trim());
    for (const e of errors) assert.match(e, /namespaces "nodewarden" not found/);
  }
  const ns = docs.find((d) => d.kind === 'Namespace');
  await mustKubectl(['apply', '-f', '-'], JSON.stringify(ns));
  const out = await mustKubectl(['apply', '--dry-run=server', '-k', DEPLOY]);
  for (const d of docs) {
    const what = `${d.kind.toLowerCase()}/${d.metadata.name}`;
    assert.ok(
      out.split('\n').some((l) => l.includes(`/${d.metadata.name} `) && l.endsWith('(server dry run)')),
      `${what} in: ${out}`,
    );
  }
  // the dry run really validates the pod templates: a template the API server must refuse is refused
  const ds = structuredClone(docs.find((d) => d.kind === 'DaemonSet'));
  ds.spec.template.spec.containers[0].securityContext.privileged = true;
  const bad = await kubectl(['apply', '--dry-run=server', '-f', '-'], JSON.stringify(ds));
  assert.is.not(bad.code, 0, 'privileged with allowPrivilegeEscalation=false must be rejected');
  assert.match(bad.stderr, /allowPrivilegeEscalation/);
});

test('kubectl apply -k deploy/ installs for real; re-applying changes nothing (kubectl diff is empty)', async () => {
  const out = await mustKubectl(['apply', '-k', DEPLOY]);
  assert.match(out, /daemonset\.apps\/nodewarden-agent (created|configured|unchanged)/);
  const diff = await kubectl(['diff', '-k', DEPLOY]);
  assert.is(diff.code, 0, `kubectl diff after apply (exit 1 = differences):\n${diff.stdout}${diff.stderr}`);
  const again = await mustKubectl(['apply', '-k', DEPLOY]);
  assert.not.match(again, /created/, again);
  for (const kind of ['clusterrole', 'clusterrolebinding'])
    for (const name of ['nodewarden-collector', 'nodewarden-auth']) await mustKubectl(['get', kind, name]);
  for (const what of [
    'daemonset/nodewarden-agent',
    'deployment/nodewarden-collector',
    'deployment/nodewarden-auth',
    'statefulset/nats',
    'configmap/nats-config',
    'service/nats',
    'service/nodewarden-collector',
    'serviceaccount/nodewarden-agent',
    'serviceaccount/nodewarden-auth',
  ]) {
    await mustKubectl(['-n', NS, 'get', what]);
  }
  // ServiceAccount tokens the way the kubelet gets them for a pod (TokenRequest API)
  collectorToken = (await mustKubectl(['-n', NS, 'create', 'token', 'nodewarden-collector', '--duration=30m'])).trim();
  agentToken = (await mustKubectl(['-n', NS, 'create', 'token', 'nodewarden-agent', '--duration=30m'])).trim();
  authToken = (await mustKubectl(['-n', NS, 'create', 'token', 'nodewarden-auth', '--duration=30m'])).trim();
  agentNatsToken = (
    await mustKubectl(['-n', NS, 'create', 'token', 'nodewarden-agent', '--audience=nodewarden', '--duration=1h'])
  ).trim();
  assert.ok(
    [collectorToken, agentToken, authToken, agentNatsToken].every((t) => t.split('.').length === 3),
    'JWTs',
  );
});

test('collector ServiceAccount token: lists/watches pods, NetworkPolicies and Namespaces cluster-wide, creates and patches Events in any namespace, gets nodes', async () => {
  await cp!.createNamespace('shop');
  await cp!.createNamespace('payments');
  const node = await cp!.createNode('node-a', '192.0.2.10');
  const web = await cp!.createPod('shop', 'web-0', { nodeName: 'node-a', podIP: '10.244.1.5', hostIP: '192.0.2.10' });
  const api = await cp!.createPod('payments', 'api-0', {
    nodeName: 'node-a',
    podIP: '10.244.1.9',
    hostIP: '192.0.2.10',
  });

  // RBAC reaches the authorizer through an informer: allow it a moment
  const list = await eventually(async () => {
    const r = await asToken(collectorToken, 'GET', '/api/v1/pods?limit=500');
    assert.is(r.status, 200, JSON.stringify(r.body));
    return r;
  });
  const names = list.body.items.map((p: any) => `${p.metadata.namespace}/${p.metadata.name}`);
  assert.ok(names.includes('shop/web-0') && names.includes('payments/api-0'), names.join(','));
  const watch = await asToken(
    collectorToken,
    'GET',
    `/api/v1/pods?watch=1&timeoutSeconds=1&resourceVersion=${list.body.metadata.resourceVersion}`,
  );
  assert.is(watch.status, 200);
  assert.is((await asToken(collectorToken, 'GET', '/api/v1/namespaces/shop/pods/web-0')).status, 200);

  for (const [ns, pod] of [
    ['shop', { name: 'web-0', uid: web.uid }],
    ['payments', { name: 'api-0', uid: api.uid }],
  ] as const) {
    const base = `/api/v1/namespaces/${ns}/events`;
    const created = await asToken(collectorToken, 'POST', base, eventBody(ns, `${pod.name}.nw-test`, pod));
    assert.is(created.status, 201, JSON.stringify(created.body));
    const patched = await asToken(collectorToken, 'PATCH', `${base}/${pod.name}.nw-test`, {
      count: 7,
      lastTimestamp: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    });
    assert.is(patched.status, 200, JSON.stringify(patched.body));
    assert.is(patched.body.count, 7);
    assert.is((await asToken(collectorToken, 'GET', `${base}/${pod.name}.nw-test`)).status, 200, 'get after a 409');
  }
  // a Node finding Event lives in "default" and needs the Node's uid
  const n = await asToken(collectorToken, 'GET', '/api/v1/nodes/node-a');
  assert.is(n.status, 200);
  assert.is(n.body.metadata.uid, node.uid);
  const nodeEvent = await asToken(collectorToken, 'POST', '/api/v1/namespaces/default/events', {
    ...eventBody('default', 'node-a.nw-test', { name: 'x', uid: 'x' }),
    involvedObject: { kind: 'Node', name: 'node-a', uid: node.uid },
    reason: 'IPForwardingDisabled',
    message: 'net.ipv4.ip_forward is 0',
  });
  assert.is(nodeEvent.status, 201, JSON.stringify(nodeEvent.body));

  // NetworkPolicies and Namespaces: one cluster-wide list + watch each (explanations)
  for (const path of ['/apis/networking.k8s.io/v1/networkpolicies', '/api/v1/namespaces']) {
    const l = await asToken(collectorToken, 'GET', `${path}?limit=500`);
    assert.is(l.status, 200, `${path}: ${JSON.stringify(l.body)}`);
    const w = await asToken(
      collectorToken,
      'GET',
      `${path}?watch=1&timeoutSeconds=1&resourceVersion=${l.body.metadata.resourceVersion}`,
    );
    assert.is(w.status, 200, `watch ${path}`);
  }
  assert.is((await asToken(collectorToken, 'GET', '/api/v1/namespaces/shop')).status, 200);

  // and what kubectl describe pod shows comes from these Events
  const describe = await mustKubectl(['-n', 'shop', 'describe', 'pod', 'web-0']);
  assert.match(describe, /PacketDrop/);
});

test('collector ServiceAccount token: denied secrets, configmaps, pod and Event deletes, node listing, writes to pods/nodes/namespaces/NetworkPolicies', async () => {
  const denied: [string, string, unknown?][] = [
    ['GET', `/api/v1/namespaces/${NS}/secrets`],
    ['GET', '/api/v1/secrets'],
    ['GET', '/api/v1/namespaces/shop/configmaps'],
    ['DELETE', '/api/v1/namespaces/shop/pods/web-0'],
    [
      'POST',
      '/api/v1/namespaces/shop/pods',
      {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'evil' },
        spec: { nodeName: 'node-a', containers: [{ name: 'c', image: 'x' }] },
      },
    ],
    ['PATCH', '/api/v1/namespaces/shop/pods/web-0', { metadata: { labels: { x: 'y' } } }],
    ['DELETE', '/api/v1/namespaces/shop/events/web-0.nw-test'],
    ['GET', '/api/v1/namespaces/shop/events'],
    ['GET', '/api/v1/nodes'],
    ['PATCH', '/api/v1/nodes/node-a', { metadata: { labels: { x: 'y' } } }],
    ['PATCH', '/api/v1/namespaces/shop', { metadata: { labels: { x: 'y' } } }],
    ['DELETE', '/api/v1/namespaces/shop'],
    [
      'POST',
      '/apis/networking.k8s.io/v1/namespaces/shop/networkpolicies',
      {
        apiVersion: 'networking.k8s.io/v1',
        kind: 'NetworkPolicy',
        metadata: { name: 'evil' },
        spec: { podSelector: {} },
      },
    ],
    ['DELETE', '/apis/networking.k8s.io/v1/namespaces/shop/networkpolicies/evil'],
    ['GET', '/apis/networking.k8s.io/v1/ingresses'],
    [
      'POST',
      '/apis/events.k8s.io/v1/namespaces/shop/events',
      { apiVersion: 'events.k8s.io/v1', kind: 'Event', metadata: { name: 'e2' } },
    ],
    ['GET', '/apis/apps/v1/deployments'],
  ];
  for (const [method, path, body] of denied) {
    const r = await asToken(collectorToken, method, path, body);
    assert.is(r.status, 403, `${method} ${path} -> ${r.status}`);
  }
});

test('kubectl auth can-i --as the collector ServiceAccount: exactly its rights, in every namespace', async () => {
  const yes: string[][] = [
    ['list', 'pods', '--all-namespaces'],
    ['watch', 'pods', '--all-namespaces'],
    ['get', 'pods', '-n', 'kube-system'],
    ['create', 'events', '-n', 'shop'],
    ['patch', 'events', '-n', 'payments'],
    ['create', 'events', '-n', 'kube-system'],
    ['patch', 'events', '-n', 'default'],
    ['get', 'nodes'],
    ['list', 'networkpolicies.networking.k8s.io', '--all-namespaces'],
    ['watch', 'networkpolicies.networking.k8s.io', '--all-namespaces'],
    ['get', 'networkpolicies.networking.k8s.io', '-n', 'kube-system'],
    ['list', 'namespaces'],
    ['watch', 'namespaces'],
    ['get', 'namespaces'],
  ];
  const no: string[][] = [
    ['create', 'networkpolicies.networking.k8s.io', '-n', 'shop'],
    ['delete', 'networkpolicies.networking.k8s.io', '-n', 'shop'],
    ['update', 'namespaces'],
    ['delete', 'namespaces'],
    ['list', 'ingresses.networking.k8s.io', '--all-namespaces'],
    ['get', 'secrets', '-n', NS],
    ['list', 'secrets', '--all-namespaces'],
    ['delete', 'pods', '-n', 'shop'],
    ['create', 'pods', '-n', 'shop'],
    ['delete', 'events', '-n', 'shop'],
    ['list', 'events', '-n', 'shop'],
    ['list', 'configmaps', '-n', 'shop'],
    ['list', 'nodes'],
    ['update', 'nodes'],
    ['create', 'events.events.k8s.io', '-n', 'shop'],
    ['create', 'serviceaccounts', '--subresource=token', '-n', NS],
    ['create', 'tokenreviews.authentication.k8s.io'],
    ['impersonate', 'serviceaccounts'],
    ['*', '*'],
  ];
  for (const a of yes) assert.ok(await canI(COLLECTOR, a), `collector can ${a.join(' ')}`);
  for (const a of no) assert.not.ok(await canI(COLLECTOR, a), `collector must not ${a.join(' ')}`);
});

test('auth ServiceAccount token: creates TokenReviews, which name the agent behind its nodewarden token; nothing else', async () => {
  const review = (token: string, audiences: string[]) =>
    asToken(authToken, 'POST', '/apis/authentication.k8s.io/v1/tokenreviews', {
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'TokenReview',
      spec: { token, audiences },
    });
  const ok = await eventually(async () => {
    const r = await review(agentNatsToken, ['nodewarden']);
    assert.is(r.status, 201, JSON.stringify(r.body));
    return r;
  });
  assert.is(ok.body.status.authenticated, true);
  assert.is(ok.body.status.user.username, AGENT);
  assert.equal(ok.body.status.audiences, ['nodewarden']);
  // the agent's API-server token is not a nodewarden token
  assert.not.ok((await review(agentToken, ['nodewarden'])).body.status.authenticated);
  for (const [method, path] of [
    ['GET', '/api/v1/pods'],
    ['GET', `/api/v1/namespaces/${NS}/secrets`],
    ['GET', '/api/v1/nodes/node-a'],
    ['POST', '/apis/authorization.k8s.io/v1/subjectaccessreviews'],
  ]) {
    const r = await asToken(authToken, method, path, method === 'POST' ? {} : undefined);
    assert.is(r.status, 403, `auth ${method} ${path} -> ${r.status}`);
  }
  assert.ok(await canI(AUTH, ['create', 'tokenreviews.authentication.k8s.io']));
  for (const a of [
    ['list', 'pods', '--all-namespaces'],
    ['get', 'secrets', '-n', NS],
    ['create', 'events', '-n', 'shop'],
    ['create', 'serviceaccounts', '--subresource=token', '-n', NS],
    ['create', 'subjectaccessreviews.authorization.k8s.io'],
    ['*', '*'],
  ]) {
    assert.not.ok(await canI(AUTH, a), `auth must not ${a.join(' ')}`);
  }
});

test('agent ServiceAccount: denied everything (token and can-i); its rights equal those of an unbound ServiceAccount', async () => {
  // its NATS token (audience nodewarden) is no API credential at all
  assert.is((await asToken(agentNatsToken, 'GET', '/api/v1/namespaces/shop/pods')).status, 401);
  for (const [method, path, body] of [
    ['GET', '/api/v1/pods'],
    ['GET', '/api/v1/namespaces/shop/pods'],
    ['POST', '/api/v1/namespaces/shop/events', eventBody('shop', 'agent.nw-test', { name: 'web-0', uid: 'x' })],
    ['GET', '/api/v1/nodes/node-a'],
    ['GET', `/api/v1/namespaces/${NS}/secrets`],
    ['GET', `/api/v1/namespaces/${NS}/configmaps`],
  ] as [string, string, unknown?][]) {
    const r = await asToken(agentToken, method, path, body);
    assert.is(r.status, 403, `agent ${method} ${path} -> ${r.status}`);
  }
  for (const a of [
    ['list', 'pods', '--all-namespaces'],
    ['get', 'pods', '-n', NS],
    ['create', 'events', '-n', 'shop'],
    ['patch', 'events', '-n', 'shop'],
    ['get', 'nodes'],
    ['get', 'secrets', '-n', NS],
    ['*', '*'],
  ]) {
    assert.not.ok(await canI(AGENT, a), `agent must not ${a.join(' ')}`);
  }
  await mustKubectl(['-n', NS, 'create', 'serviceaccount', 'nw-test-unbound']);
  const rules = async (as: string) => (await mustKubectl(['auth', 'can-i', '--list', `--as=${as}`, '-n', NS])).trim();
  const agentRules = await rules(AGENT);
  assert.is(agentRules, await rules(CONTROL), 'the agent has no rights beyond what every authenticated identity has');
  assert.not.match(agentRules, /\bpods\b|\bevents\b|\bnodes\b|\bsecrets\b/);
});

test('Pod Security: collector, auth and NATS pods pass "restricted"; the agent needs "privileged" (refused by baseline), which its namespace grants', async () => {
  await mustKubectl(['create', 'namespace', 'nw-restricted']);
  await mustKubectl(['label', 'namespace', 'nw-restricted', 'pod-security.kubernetes.io/enforce=restricted']);
  await mustKubectl(['create', 'namespace', 'nw-baseline']);
  await mustKubectl(['label', 'namespace', 'nw-baseline', 'pod-security.kubernetes.io/enforce=baseline']);
  const create = (pod: any) => kubectl(['create', '--dry-run=server', '-o', 'name', '-f', '-'], JSON.stringify(pod));

  for (const [kind, name] of [
    ['Deployment', 'nodewarden-collector'],
    ['Deployment', 'nodewarden-auth'],
    ['StatefulSet', 'nats'],
  ]) {
    const r = await create(podFromTemplate(kind, name, 'nw-restricted', `pss-${name}`));
    assert.is(r.code, 0, `${kind}/${name} pod under restricted: ${r.stderr}`);
    assert.not.match(r.stderr, /would violate|violates/i, r.stderr);
  }
  const baseline = await create(podFromTemplate('DaemonSet', 'nodewarden-agent', 'nw-baseline', 'pss-agent'));
  assert.is.not(baseline.code, 0);
  assert.match(baseline.stderr, /violates PodSecurity "baseline/);
  const inNs = await create(podFromTemplate('DaemonSet', 'nodewarden-agent', NS, 'pss-agent'));
  assert.is(inNs.code, 0, `agent pod (system-node-critical, hostNetwork, hostPath) in ${NS}: ${inNs.stderr}`);
});

test('kubectl delete -k deploy/ (uninstall) removes the ClusterRoles/Bindings: the collector token loses its rights', async () => {
  const r = await kubectl(['delete', '-k', DEPLOY, '--wait=false']);
  assert.is(r.code, 0, r.stderr);
  for (const kind of ['clusterrole', 'clusterrolebinding'])
    for (const name of ['nodewarden-collector', 'nodewarden-auth']) {
      const g = await kubectl(['get', kind, name]);
      assert.is.not(g.code, 0);
      assert.match(g.stderr, /NotFound/);
    }
  await eventually(async () => {
    const l = await asToken(collectorToken, 'GET', '/api/v1/pods');
    assert.ok(l.status === 401 || l.status === 403, `after uninstall: ${l.status}`);
  });
});

test.run();
