// The install knobs in deploy/components/ (containerd-socket, crio-socket, cri-dockerd-socket,
// external-nats, rules), each rendered by kustomize (`kubectl kustomize`, the engine of
// `kubectl apply -k`) in an overlay the way its comment shows, checked for exactly the change it
// promises, and sent to a real kube-apiserver as a server-side dry run (validation and admission).
// Run: node --import tsx test/deploy-components.test.ts
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { WELL_KNOWN_ENDPOINTS } from '../agent/cri/endpoint.js';
import { compileRules, parseRulesDocument } from '../agent/logs/rules.js';
import { type ControlPlane, startControlPlane } from './support/kube.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const DEPLOY = join(ROOT, 'deploy');
const NS = 'nodewarden';
const tmp = mkdtempSync(join(tmpdir(), 'nw-deploy-components-'));
let cp: ControlPlane | undefined;
let base: any[] = [];

async function kustomize(dir: string): Promise<any[]> {
  const r = await cp!.kubectl(['kustomize', dir], { timeoutMs: 60_000 });
  assert.is(r.code, 0, `kubectl kustomize ${dir}: ${r.stderr}`);
  return parseAllDocuments(r.stdout).map((d) => d.toJS());
}

/** An overlay of deploy/ with the given components and extra kustomization lines. */
function overlay(name: string, components: string[], extra = ''): string {
  const dir = join(tmp, name);
  mkdirSync(dir, { recursive: true });
  const comps = components.map((c) => relative(dir, join(DEPLOY, 'components', c)));
  writeFileSync(
    join(dir, 'kustomization.yaml'),
    `resources: [${relative(dir, DEPLOY)}]\ncomponents: [${comps.join(', ')}]\n${extra}`,
  );
  return dir;
}

/** An overlay patch that sets a component's ConfigMap data, as the components' comments show. */
const dataPatch = (name: string, data: Record<string, string>) =>
  `patches:\n  - patch: |-\n      apiVersion: v1\n      kind: ConfigMap\n      metadata: {name: ${name}, namespace: ${NS}}\n      data: ${JSON.stringify(data)}\n`;

const key = (d: any) => `${d.kind}/${d.metadata.name}`;
const find = (docs: any[], kind: string, name: string) => {
  const o = docs.find((d) => d.kind === kind && (d.metadata.name === name || d.metadata.name.startsWith(`${name}-`)));
  assert.ok(o, `no ${kind} ${name}`);
  return o;
};
const podSpec = (docs: any[], kind: string, name: string) => find(docs, kind, name).spec.template.spec;
const env = (c: any, name: string) => c.env.find((e: any) => e.name === name);

/** Server-side dry run of an overlay (its namespace exists: created in before()). */
async function dryRun(dir: string, docs: any[]): Promise<void> {
  const r = await cp!.kubectl(['apply', '--dry-run=server', '-k', dir], { timeoutMs: 60_000 });
  assert.is(r.code, 0, `dry run of ${dir}: ${r.stderr}`);
  for (const d of docs)
    assert.ok(r.stdout.includes(`/${d.metadata.name} `), `${key(d)} missing from the dry run:\n${r.stdout}`);
}

test.before(async () => {
  cp = await startControlPlane({});
  base = await kustomize(DEPLOY);
  const r = await cp.kubectl(['apply', '-f', '-'], { input: JSON.stringify(base.find((d) => d.kind === 'Namespace')) });
  assert.is(r.code, 0, r.stderr);
});

test.after(async () => {
  await cp?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

for (const [component, socket] of [
  ['containerd-socket', '/run/containerd/containerd.sock'],
  ['crio-socket', '/run/crio/crio.sock'],
  ['cri-dockerd-socket', '/var/run/cri-dockerd.sock'],
] as const) {
  test(`components/${component}: adds only a read-only ${socket} mount to the agent (an endpoint the agent probes); server-side dry run passes`, async () => {
    const dir = overlay(component, [component]);
    const docs = await kustomize(dir);
    assert.equal(docs.map(key), base.map(key), 'same objects');
    const spec = podSpec(docs, 'DaemonSet', 'nodewarden-agent');
    const was = podSpec(base, 'DaemonSet', 'nodewarden-agent');
    assert.equal(spec.volumes.slice(0, -1), was.volumes);
    assert.equal(spec.volumes.at(-1), { name: 'cri-socket', hostPath: { path: socket, type: 'Socket' } });
    assert.equal(spec.containers[0].volumeMounts.slice(0, -1), was.containers[0].volumeMounts);
    assert.equal(spec.containers[0].volumeMounts.at(-1), { name: 'cri-socket', mountPath: socket, readOnly: true });
    assert.ok(
      WELL_KNOWN_ENDPOINTS.includes(`unix://${socket}`),
      `${socket} is one of the agent's well-known endpoints`,
    );
    for (const d of docs.filter((x) => x.kind !== 'DaemonSet'))
      assert.equal(
        d,
        base.find((b) => key(b) === key(d)),
      );
    await dryRun(dir, docs);
  });
}

test('components/external-nats: no bundled NATS objects; every client takes its URL and user from ConfigMap nodewarden-nats, set by an overlay patch (a new value, a new name: the pods roll)', async () => {
  const dir = overlay(
    'external-nats',
    ['external-nats'],
    dataPatch('nodewarden-nats', { url: 'tls://nats.example.com:4222', 'collector-user': 'nw-collector' }),
  );
  const docs = await kustomize(dir);
  const cm = find(docs, 'ConfigMap', 'nodewarden-nats');
  const gone = [
    'StatefulSet/nats',
    'Service/nats',
    'Service/nats-headless',
    'ConfigMap/nats-config',
    'ServiceAccount/nats',
  ];
  assert.equal(docs.map(key).sort(), [...base.map(key).filter((k) => !gone.includes(k)), key(cm)].sort());
  assert.is(cm.metadata.namespace, NS);
  assert.match(cm.metadata.name, /^nodewarden-nats-[a-z0-9]{10}$/);
  assert.equal(cm.data, { url: 'tls://nats.example.com:4222', 'collector-user': 'nw-collector', 'auth-user': 'auth' });
  const ref = (k: string) => ({ valueFrom: { configMapKeyRef: { name: cm.metadata.name, key: k } } });
  for (const [kind, name, user] of [
    ['DaemonSet', 'nodewarden-agent', null],
    ['Deployment', 'nodewarden-collector', 'collector-user'],
    ['Deployment', 'nodewarden-auth', 'auth-user'],
  ] as const) {
    const c = podSpec(docs, kind, name).containers[0];
    const { name: _n, ...nats } = env(c, 'NODEWARDEN_NATS');
    assert.equal(nats, ref('url'), `${name}: NODEWARDEN_NATS from the ConfigMap, no literal value left`);
    if (user) {
      const { name: _u, ...u } = env(c, 'NODEWARDEN_NATS_USER');
      assert.equal(u, ref(user));
    }
    // credentials and CA: the same Secrets and keys as in the base
    assert.equal(podSpec(docs, kind, name).volumes, podSpec(base, kind, name).volumes);
  }
  const other = await kustomize(
    overlay(
      'external-nats-2',
      ['external-nats'],
      dataPatch('nodewarden-nats', { url: 'tls://other.example.com:4222' }),
    ),
  );
  assert.is.not(find(other, 'ConfigMap', 'nodewarden-nats').metadata.name, cm.metadata.name);
  await dryRun(dir, docs);
});

test('components/rules: its example is valid; mounted read-only from ConfigMap nodewarden-rules and passed as NODEWARDEN_RULES_FILE; an overlay patch puts in your own', async () => {
  const dir = overlay('rules', ['rules']);
  const docs = await kustomize(dir);
  const cm = find(docs, 'ConfigMap', 'nodewarden-rules');
  assert.is(cm.metadata.namespace, NS);
  assert.is(cm.data['rules.yaml'], readFileSync(join(DEPLOY, 'components', 'rules', 'rules.yaml'), 'utf8'));
  const specs = parseRulesDocument(cm.data['rules.yaml'], 'rules.yaml') as any[];
  assert.equal(
    compileRules(
      specs.filter((r) => r.enabled !== false),
      'rules.yaml',
    ).map((r) => r.kind),
    ['PaymentUpstreamDown'],
  );
  const spec = podSpec(docs, 'DaemonSet', 'nodewarden-agent');
  const c = spec.containers[0];
  const mount = c.volumeMounts.find((m: any) => m.name === 'rules');
  assert.equal(mount, { name: 'rules', mountPath: '/etc/nodewarden/rules', readOnly: true });
  assert.is(env(c, 'NODEWARDEN_RULES_FILE').value, `${mount.mountPath}/rules.yaml`);
  assert.equal(
    spec.volumes.find((v: any) => v.name === 'rules'),
    { name: 'rules', configMap: { name: cm.metadata.name } },
  );
  const mine = await kustomize(
    overlay(
      'rules-2',
      ['rules'],
      dataPatch('nodewarden-rules', { 'rules.yaml': 'rules: [{name: mine, kind: Mine, pattern: boom}]' }),
    ),
  );
  const cm2 = find(mine, 'ConfigMap', 'nodewarden-rules');
  assert.is(cm2.data['rules.yaml'], 'rules: [{name: mine, kind: Mine, pattern: boom}]');
  assert.is(
    podSpec(mine, 'DaemonSet', 'nodewarden-agent').volumes.find((v: any) => v.name === 'rules').configMap.name,
    cm2.metadata.name,
  );
  await dryRun(dir, docs);
});

test('components combine: external-nats + rules + crio-socket render and pass a server-side dry run together', async () => {
  const dir = overlay('all', ['external-nats', 'rules', 'crio-socket']);
  const docs = await kustomize(dir);
  const c = podSpec(docs, 'DaemonSet', 'nodewarden-agent').containers[0];
  assert.ok(env(c, 'NODEWARDEN_RULES_FILE') && env(c, 'NODEWARDEN_NATS').valueFrom);
  assert.ok(c.volumeMounts.some((m: any) => m.mountPath === '/run/crio/crio.sock'));
  await dryRun(dir, docs);
});

test.run();
