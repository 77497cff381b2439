// The Helm chart deploy/helm/nodewarden with the real helm (built from tools/helm by
// scripts/ensure-helm.sh): `helm lint`, `helm template` with each value the chart offers, its
// default render compared object by object with the kustomize base (deploy/), and a server-side
// dry run of the render against a real kube-apiserver.
// Run: node --import tsx test/helm-chart.test.ts
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments, stringify } from 'yaml';
import { compileRules } from '../agent/logs/rules.js';
import { type ControlPlane, startControlPlane } from './support/kube.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CHART = join(ROOT, 'deploy', 'helm', 'nodewarden');
const NS = 'nodewarden';
const VERSION = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version as string;
const tmp = mkdtempSync(join(tmpdir(), 'nw-helm-'));
let helm = '';
let cp: ControlPlane | undefined;
let base: any[] = [];

function ensureHelm(): string {
  const r = spawnSync('bash', [join(ROOT, 'scripts', 'ensure-helm.sh')], {
    encoding: 'utf8',
    timeout: 30 * 60_000,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const dir = r.stdout.trim().split('\n').pop();
  assert.is(r.status, 0, 'scripts/ensure-helm.sh failed');
  return join(dir!, 'helm');
}

function runHelm(args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(helm, args, {
    encoding: 'utf8',
    timeout: 60_000,
    env: {
      ...process.env,
      HELM_CACHE_HOME: join(tmp, 'cache'),
      HELM_CONFIG_HOME: join(tmp, 'config'),
      HELM_DATA_HOME: join(tmp, 'data'),
    },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** `helm template` with values (as a file), parsed; empty documents dropped. */
function render(values: Record<string, unknown> = {}): any[] {
  const f = join(tmp, `values-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(f, stringify(values));
  const r = runHelm(['template', 'nodewarden', CHART, '--namespace', NS, '-f', f]);
  assert.is(r.code, 0, `helm template: ${r.stderr}`);
  // YAML 1.1, as Helm and the API server read it: `defaultMode: 0440` is octal
  return parseAllDocuments(r.stdout, { version: '1.1' })
    .map((d) => d.toJS())
    .filter(Boolean);
}

const key = (d: any) => `${d.kind}/${d.metadata.name}`;
const find = (docs: any[], kind: string, name: string) => {
  const o = docs.find((d) => d.kind === kind && d.metadata.name === name);
  assert.ok(o, `no ${kind}/${name}`);
  return o;
};
const container = (docs: any[], kind: string, name: string) => find(docs, kind, name).spec.template.spec.containers[0];
const env = (c: any, name: string) => c.env.find((e: any) => e.name === name);

/**
 * The deliberate differences between the chart and the kustomize base, undone:
 *  1. the chart has no Namespace object: Helm installs into a namespace that exists (create it
 *     labelled privileged first, deploy/README.md "Helm"); a chart that also owned it would fight
 *     `helm install --create-namespace`;
 *  2. the chart's objects carry Helm's labels app.kubernetes.io/managed-by and helm.sh/chart.
 */
function normalise(docs: any[], from: 'chart' | 'kustomize'): Map<string, any> {
  const out = new Map<string, any>();
  for (const d of docs) {
    if (from === 'kustomize' && d.kind === 'Namespace') continue;
    const c = structuredClone(d);
    if (from === 'chart') {
      delete c.metadata.labels['app.kubernetes.io/managed-by'];
      delete c.metadata.labels['helm.sh/chart'];
    }
    out.set(key(c), c);
  }
  return out;
}

test.before(async () => {
  helm = ensureHelm();
  cp = await startControlPlane({});
  const r = await cp.kubectl(['kustomize', join(ROOT, 'deploy')], { timeoutMs: 60_000 });
  assert.is(r.code, 0, r.stderr);
  base = parseAllDocuments(r.stdout).map((d) => d.toJS());
});

test.after(async () => {
  await cp?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

test('helm lint --strict passes, with the defaults and with every knob set', () => {
  const r = runHelm(['lint', '--strict', CHART]);
  assert.is(r.code, 0, r.stdout + r.stderr);
  const f = join(tmp, 'all.yaml');
  writeFileSync(
    f,
    stringify({
      nats: { external: { url: 'tls://nats.example.com:4222' } },
      rules: [{ name: 'x', kind: 'X', pattern: 'boom' }],
      dropPrefixes: ['my-drop:'],
      monitoring: { enabled: true },
    }),
  );
  const r2 = runHelm(['lint', '--strict', CHART, '-f', f]);
  assert.is(r2.code, 0, r2.stdout + r2.stderr);
});

test('chart version and appVersion are the package.json version; the default image tag is that version, as in the kustomize base', () => {
  const chart = readFileSync(join(CHART, 'Chart.yaml'), 'utf8');
  assert.match(chart, new RegExp(`^version: ${VERSION.replace(/\./g, '\\.')}$`, 'm'));
  assert.match(chart, new RegExp(`^appVersion: "${VERSION.replace(/\./g, '\\.')}"$`, 'm'));
  assert.is(container(render(), 'DaemonSet', 'nodewarden-agent').image, `ghcr.io/nodewarden/nodewarden:${VERSION}`);
  assert.is(container(base, 'DaemonSet', 'nodewarden-agent').image, `ghcr.io/nodewarden/nodewarden:${VERSION}`);
});

test('the default render equals the kustomize base object for object (kinds, names, namespaces, specs), but for the listed deliberate differences', () => {
  const chart = normalise(render(), 'chart');
  const kust = normalise(base, 'kustomize');
  assert.equal([...chart.keys()].sort(), [...kust.keys()].sort());
  for (const [k, want] of kust) assert.equal(chart.get(k), want, k);
  // and the differences are really there
  const raw = render();
  assert.not.ok(raw.some((d) => d.kind === 'Namespace'));
  for (const d of raw) assert.is(d.metadata.labels?.['app.kubernetes.io/managed-by'], 'Helm', key(d));
});

test('nats.external.url: no bundled NATS objects; agent, collector and auth service use that URL, the users from values', () => {
  const docs = render({
    nats: { external: { url: 'tls://nats.example.com:4222' }, collectorUser: 'nw-col', authUser: 'nw-auth' },
  });
  for (const gone of [
    'StatefulSet/nats',
    'Service/nats',
    'Service/nats-headless',
    'ConfigMap/nats-config',
    'ServiceAccount/nats',
  ])
    assert.not.ok(
      docs.some((d) => key(d) === gone),
      gone,
    );
  for (const [kind, name] of [
    ['DaemonSet', 'nodewarden-agent'],
    ['Deployment', 'nodewarden-collector'],
    ['Deployment', 'nodewarden-auth'],
  ]) {
    assert.is(env(container(docs, kind, name), 'NODEWARDEN_NATS').value, 'tls://nats.example.com:4222', name);
  }
  assert.is(env(container(docs, 'Deployment', 'nodewarden-collector'), 'NODEWARDEN_NATS_USER').value, 'nw-col');
  assert.is(env(container(docs, 'Deployment', 'nodewarden-auth'), 'NODEWARDEN_NATS_USER').value, 'nw-auth');
});

test('rules: a ConfigMap the agent validates, mounted read-only and passed as NODEWARDEN_RULES_FILE; a change rolls the agents', () => {
  const rules = [
    {
      name: 'payments-upstream-down',
      kind: 'PaymentUpstreamDown',
      severity: 'critical',
      pattern: 'upstream (?<u>[\\w.-]+) unavailable',
      scope: { namespace: '^payments$' },
    },
  ];
  const docs = render({ rules });
  const cm = find(docs, 'ConfigMap', 'nodewarden-rules');
  const parsed = parseAllDocuments(cm.data['rules.yaml'])[0].toJS();
  assert.equal(parsed, { rules });
  assert.equal(
    compileRules(parsed.rules, 'rules.yaml').map((r) => r.kind),
    ['PaymentUpstreamDown'],
  );
  const ds = find(docs, 'DaemonSet', 'nodewarden-agent');
  const c = ds.spec.template.spec.containers[0];
  assert.is(env(c, 'NODEWARDEN_RULES_FILE').value, '/etc/nodewarden/rules/rules.yaml');
  assert.equal(
    c.volumeMounts.find((m: any) => m.name === 'rules'),
    { name: 'rules', mountPath: '/etc/nodewarden/rules', readOnly: true },
  );
  assert.equal(
    ds.spec.template.spec.volumes.find((v: any) => v.name === 'rules'),
    { name: 'rules', configMap: { name: 'nodewarden-rules' } },
  );
  const sum = ds.spec.template.metadata.annotations['checksum/rules'];
  assert.match(sum, /^[0-9a-f]{64}$/);
  const other = find(render({ rules: [{ ...rules[0], pattern: 'other' }] }), 'DaemonSet', 'nodewarden-agent');
  assert.is.not(other.spec.template.metadata.annotations['checksum/rules'], sum);
  assert.not.ok(render().some((d) => key(d) === 'ConfigMap/nodewarden-rules'));
});

test('dropPrefixes, resources, tolerations, priority class, replicas and image go where they say', () => {
  const docs = render({
    image: { repository: 'registry.example.com/nodewarden', tag: '9.9.9', pullPolicy: 'Always' },
    dropPrefixes: ['calico-packet:', 'my-drop:'],
    agent: {
      resources: { requests: { cpu: '10m', memory: '64Mi' }, limits: { cpu: '200m', memory: '128Mi' } },
      tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'infra', effect: 'NoSchedule' }],
      priorityClassName: 'my-critical',
    },
    collector: { replicas: 3 },
  });
  const ds = find(docs, 'DaemonSet', 'nodewarden-agent');
  const c = ds.spec.template.spec.containers[0];
  assert.is(env(c, 'NODEWARDEN_DROP_PREFIX').value, 'calico-packet:,my-drop:');
  assert.equal(c.resources, { requests: { cpu: '10m', memory: '64Mi' }, limits: { cpu: '200m', memory: '128Mi' } });
  assert.equal(ds.spec.template.spec.tolerations, [
    { key: 'dedicated', operator: 'Equal', value: 'infra', effect: 'NoSchedule' },
  ]);
  assert.is(ds.spec.template.spec.priorityClassName, 'my-critical');
  assert.is(find(docs, 'Deployment', 'nodewarden-collector').spec.replicas, 3);
  for (const [kind, name] of [
    ['DaemonSet', 'nodewarden-agent'],
    ['Deployment', 'nodewarden-collector'],
    ['Deployment', 'nodewarden-auth'],
  ]) {
    assert.is(container(docs, kind, name).image, 'registry.example.com/nodewarden:9.9.9');
    assert.is(container(docs, kind, name).imagePullPolicy, 'Always');
  }
  assert.is(container(docs, 'StatefulSet', 'nats').image, 'nats:2.15.3-alpine');
  assert.not.ok(
    env(container(render(), 'DaemonSet', 'nodewarden-agent'), 'NODEWARDEN_DROP_PREFIX'),
    'no prefix env by default: the agent default applies',
  );
  const none = find(render({ agent: { priorityClassName: '', tolerations: [] } }), 'DaemonSet', 'nodewarden-agent');
  assert.is(none.spec.template.spec.priorityClassName, undefined);
  assert.is(none.spec.template.spec.tolerations, undefined);
});

test('monitoring.enabled: a ServiceMonitor for the collector and a PodMonitor for agents and auth, on ports that exist; nothing when off', () => {
  assert.not.ok(render().some((d) => d.apiVersion === 'monitoring.coreos.com/v1'));
  const docs = render({ monitoring: { enabled: true, labels: { release: 'kps' } } });
  const sm = find(docs, 'ServiceMonitor', 'nodewarden-collector');
  const pm = find(docs, 'PodMonitor', 'nodewarden');
  assert.is(sm.metadata.labels.release, 'kps');
  const svc = find(docs, 'Service', 'nodewarden-collector');
  for (const [k, v] of Object.entries(sm.spec.selector.matchLabels))
    assert.is(svc.metadata.labels[k], v, `the ServiceMonitor selects the collector Service (${k})`);
  assert.ok(svc.spec.ports.some((p: any) => p.name === sm.spec.endpoints[0].port));
  for (const [kind, name] of [
    ['DaemonSet', 'nodewarden-agent'],
    ['Deployment', 'nodewarden-auth'],
  ]) {
    assert.ok(
      container(docs, kind, name).ports.some((p: any) => p.name === pm.spec.podMetricsEndpoints[0].port),
      name,
    );
  }
});

test('kubectl apply --dry-run=server: the default render and one with every non-CRD knob pass validation and admission', async () => {
  const ns = base.find((d) => d.kind === 'Namespace');
  assert.is((await cp!.kubectl(['apply', '-f', '-'], { input: JSON.stringify(ns) })).code, 0);
  for (const docs of [
    render(),
    render({
      nats: { external: { url: 'tls://nats.example.com:4222' } },
      rules: [{ name: 'x', kind: 'X', pattern: 'boom' }],
      dropPrefixes: ['my-drop:'],
    }),
  ]) {
    const r = await cp!.kubectl(['apply', '--dry-run=server', '-f', '-'], {
      input: docs.map((d) => JSON.stringify(d)).join('\n'),
      timeoutMs: 60_000,
    });
    assert.is(r.code, 0, r.stderr);
    for (const d of docs) assert.ok(r.stdout.includes(`/${d.metadata.name} `), `${key(d)}: ${r.stdout}`);
  }
});

test.run();
