// Integration test of the real-control-plane harness (etcd + kube-apiserver).
// Run: node --import tsx test/kube-harness.test.ts
// A cold cache builds kube-apiserver/kubectl first (scripts/ensure-kube-bins.sh).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { eventually, startControlPlane, type ControlPlane } from './support/kube.js';

let cp: ControlPlane | undefined;
const NS = 'nw-harness';
let podUid = '';

test.before(async () => {
  cp = await startControlPlane({ users: [{ name: 'nobody' }, { name: 'viewer', groups: ['nw-viewers'] }] });
});

test.after(async () => {
  await cp?.stop();
});

test('apiserver is up and reports the built version', async () => {
  const r = await cp!.request('GET', '/version');
  assert.is(r.status, 200);
  assert.match(String(r.body.gitVersion), /^v1\.\d+\.\d+$/);
  const k = await cp!.kubectl(['version', '-o', 'json']);
  assert.is(k.code, 0, k.stderr);
  const v = JSON.parse(k.stdout);
  assert.is(v.clientVersion.gitVersion, r.body.gitVersion);
  assert.is(v.serverVersion.gitVersion, r.body.gitVersion);
});

test('namespace + node + pod with status written through pods/status', async () => {
  await cp!.createNamespace(NS);
  const node = await cp!.createNode('node-a', '192.0.2.10');
  assert.ok(node.uid);
  const pod = await cp!.createPod(NS, 'victim', {
    nodeName: 'node-a',
    podIP: '10.244.1.7',
    hostIP: '192.0.2.10',
    labels: { app: 'victim' },
  });
  podUid = pod.uid;
  assert.ok(podUid);

  const k = await cp!.kubectl(['-n', NS, 'get', 'pod', 'victim', '-o', 'json']);
  assert.is(k.code, 0, k.stderr);
  const got = JSON.parse(k.stdout);
  assert.is(got.metadata.uid, podUid);
  assert.is(got.spec.nodeName, 'node-a');
  assert.is(got.status.phase, 'Running');
  assert.is(got.status.podIP, '10.244.1.7');
  assert.equal(got.status.podIPs, [{ ip: '10.244.1.7' }]);
  assert.is(got.status.hostIP, '192.0.2.10');

  // the field selectors an IP->pod informer relies on
  const sel = await cp!.request(
    'GET',
    `/api/v1/pods?fieldSelector=${encodeURIComponent('spec.nodeName=node-a,status.phase=Running,status.podIP=10.244.1.7')}`,
  );
  assert.is(sel.status, 200);
  assert.equal(
    sel.body.items.map((p: any) => p.metadata.name),
    ['victim'],
  );

  const nodes = await cp!.kubectl(['get', 'node', 'node-a', '-o', 'jsonpath={.status.addresses[0].address}']);
  assert.is(nodes.stdout, '192.0.2.10', nodes.stderr);
});

test('a core/v1 Event on the pod shows up in kubectl describe pod', async () => {
  const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  const ev = await cp!.request('POST', `/api/v1/namespaces/${NS}/events`, {
    apiVersion: 'v1',
    kind: 'Event',
    metadata: { name: `victim.${Date.now().toString(16)}`, namespace: NS },
    involvedObject: { apiVersion: 'v1', kind: 'Pod', namespace: NS, name: 'victim', uid: podUid },
    reason: 'PacketDrop',
    message: 'Packet dropped when receiving traffic from 10.244.2.9:443 (nodewarden harness test)',
    type: 'Warning',
    source: { component: 'nodewarden', host: 'node-a' },
    firstTimestamp: now,
    lastTimestamp: now,
    count: 1,
  });
  assert.is(ev.status, 201, JSON.stringify(ev.body));

  const d = await cp!.kubectl(['-n', NS, 'describe', 'pod', 'victim']);
  assert.is(d.code, 0, d.stderr);
  assert.match(d.stdout, /PacketDrop/);
  assert.match(d.stdout, /Packet dropped when receiving traffic from 10\.244\.2\.9:443/);
  assert.match(d.stdout, /nodewarden/);

  // the audit log records API writes to events and pods
  const writes = cp!.auditEvents(
    (e) => e.verb === 'create' && e.objectRef?.resource === 'events' && e.objectRef?.namespace === NS,
  );
  assert.is(writes.length, 1);
});

test('a user without RBAC bindings is denied', async () => {
  const r = await cp!.request('GET', `/api/v1/namespaces/${NS}/pods`, undefined, { user: 'nobody' });
  assert.is(r.status, 403);
  assert.is(r.body.reason, 'Forbidden');

  const asAdmin = await cp!.kubectl(['auth', 'can-i', 'list', 'pods', '-n', NS, '--as', 'nobody']);
  assert.is(asAdmin.stdout.trim(), 'no');
  assert.is.not(asAdmin.code, 0);

  const own = await cp!.kubectl(['-n', NS, 'get', 'pods'], { user: 'nobody' });
  assert.is.not(own.code, 0);
  assert.match(own.stderr, /forbidden/i);

  // Grant via our own Role + a group binding. (The built-in admin/edit/view
  // ClusterRoles are aggregated by kube-controller-manager, which is not running,
  // so they have no rules here.) The authorizer sees the change shortly after.
  const rbac = {
    apiVersion: 'v1',
    kind: 'List',
    items: [
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'Role',
        metadata: { name: 'pod-reader', namespace: NS },
        rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch'] }],
      },
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'RoleBinding',
        metadata: { name: 'viewers', namespace: NS },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'pod-reader' },
        subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: 'nw-viewers' }],
      },
    ],
  };
  const apply = await cp!.kubectl(['apply', '-f', '-'], { input: JSON.stringify(rbac) });
  assert.is(apply.code, 0, apply.stderr);
  await eventually(async () => {
    const ok = await cp!.kubectl(['-n', NS, 'get', 'pods', '-o', 'name'], { user: 'viewer' });
    assert.is(ok.code, 0, ok.stderr);
    assert.is(ok.stdout.trim(), 'pod/victim');
  });
  // still nothing cluster-wide, and no writes
  const write = await cp!.request('DELETE', `/api/v1/namespaces/${NS}/pods/victim`, undefined, { user: 'viewer' });
  assert.is(write.status, 403);
});

test('restartApiserver keeps state; deletePod removes a bound pod', async () => {
  await cp!.restartApiserver();
  const r = await cp!.request('GET', `/api/v1/namespaces/${NS}/pods/victim`);
  assert.is(r.status, 200);
  assert.is(r.body.metadata.uid, podUid);
  await cp!.deletePod(NS, 'victim');
  const gone = await cp!.request('GET', `/api/v1/namespaces/${NS}/pods/victim`);
  assert.is(gone.status, 404);
});

test.run();
