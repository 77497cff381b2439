// deploy/components/monitoring: the alert rules through Debian's promtool (syntax, then a unit test of
// every alert firing and staying quiet), and the component rendered by kustomize over the base: the
// monitors point at ports the pods and Services really have, the NATS exporter sidecar reads the
// monitoring port nats.conf opens, the dashboard ConfigMap holds the JSON.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { ensureKubeBins } from './support/kube.js';
import { MONITORING, PROMTOOL, prometheusAvailable, writeRuleFiles } from './support/monitoring.js';

const DEPLOY = new URL('../deploy/', import.meta.url).pathname;
const tmp = mkdtempSync(join(tmpdir(), 'nw-monitoring-rules-'));
if (!prometheusAvailable())
  throw new Error('monitoring-rules needs promtool: run npm test as root (it installs prometheus)');
test.after(() => rmSync(tmp, { recursive: true, force: true }));

const promtool = (args: string[]) => spawnSync(PROMTOOL, args, { cwd: tmp, encoding: 'utf8', timeout: 60_000 });

test('promtool check rules: the PrometheusRule spec is a valid rule file with every alert the kit promises', () => {
  const file = writeRuleFiles(tmp);
  const r = promtool(['check', 'rules', file]);
  assert.is(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /SUCCESS: 8 rules found/);
  const alerts = (parse(readFileSync(file, 'utf8')) as { groups: { rules: { alert: string }[] }[] }).groups.flatMap(
    (g) => g.rules.map((x) => x.alert),
  );
  assert.equal(alerts.sort(), [
    'NodewardenAgentNATSDisconnected',
    'NodewardenAgentStale',
    'NodewardenCollectorStreamStale',
    'NodewardenCriticalFindingActive',
    'NodewardenEventsForbidden',
    'NodewardenNATSAuthFailing',
    'NodewardenPacketDropSurge',
    'NodewardenSpoolGrowing',
  ]);
});

test('promtool test rules: every alert has a firing case, and the tests fail when an expectation is wrong', () => {
  writeRuleFiles(tmp);
  const tests = readFileSync(join(tmp, 'rules.test.yaml'), 'utf8');
  const r = promtool(['test', 'rules', 'rules.test.yaml']);
  assert.is(r.status, 0, r.stdout + r.stderr);
  const alerts = (
    parse(readFileSync(join(tmp, 'rules.yaml'), 'utf8')) as { groups: { rules: { alert: string }[] }[] }
  ).groups.flatMap((g) => g.rules.map((x) => x.alert));
  const firing = new Set(
    (parse(tests) as { tests: { alert_rule_test: { alertname: string; exp_alerts: unknown[] }[] }[] }).tests.flatMap(
      (t) => t.alert_rule_test.filter((a) => a.exp_alerts.length > 0).map((a) => a.alertname),
    ),
  );
  for (const a of alerts) assert.ok(firing.has(a), `no promtool case where ${a} fires`);
  // The same run with one wrong expectation must fail: the tests can fail.
  writeFileSync(join(tmp, 'rules.test.yaml'), tests.replace('surged to 10/s', 'surged to 11/s'));
  const bad = promtool(['test', 'rules', 'rules.test.yaml']);
  assert.is.not(bad.status, 0, 'a wrong expectation passed');
});

test('the component renders over the base: monitors match real ports and labels, NATS gets the exporter', async () => {
  const kubectl = join(await ensureKubeBins(), 'kubectl');
  const overlay = join(tmp, 'overlay');
  spawnSync('mkdir', ['-p', overlay]);
  writeFileSync(
    join(overlay, 'kustomization.yaml'),
    `resources: [${relative(overlay, DEPLOY)}]\ncomponents: [${relative(overlay, MONITORING)}]\n`,
  );
  const r = spawnSync(kubectl, ['kustomize', overlay], { encoding: 'utf8', timeout: 60_000 });
  assert.is(r.status, 0, r.stderr);
  const docs = parseAllDocuments(r.stdout).map((d) => d.toJS());
  const find = (kind: string, name: string) => {
    const o = docs.find((d) => d.kind === kind && d.metadata.name === name);
    assert.ok(o, `no ${kind} ${name}`);
    return o;
  };
  const podsOf = (kind: string, name: string) => find(kind, name).spec.template;
  const matches = (sel: Record<string, string>, labels: Record<string, string>) =>
    Object.entries(sel).every(([k, v]) => labels[k] === v);
  for (const [monitor, kind, workload] of [
    ['nodewarden-agent', 'DaemonSet', 'nodewarden-agent'],
    ['nodewarden-auth', 'Deployment', 'nodewarden-auth'],
    ['nodewarden-nats', 'StatefulSet', 'nats'],
  ]) {
    const pm = find('PodMonitor', monitor);
    const t = podsOf(kind, workload);
    assert.ok(matches(pm.spec.selector.matchLabels, t.metadata.labels), `${monitor} selects ${workload}'s pods`);
    assert.is(pm.metadata.namespace, 'nodewarden');
    const ports = t.spec.containers.flatMap((c: { ports?: { name: string }[] }) => (c.ports ?? []).map((p) => p.name));
    for (const ep of pm.spec.podMetricsEndpoints)
      assert.ok(ports.includes(ep.port), `${workload} has a port named ${ep.port}`);
    // no other workload's pods are selected (the NATS monitor must not scrape nodewarden pods, ...)
    for (const other of docs.filter((d) => d.spec?.template && d.metadata.name !== workload))
      assert.not.ok(
        matches(pm.spec.selector.matchLabels, other.spec.template.metadata.labels),
        `${monitor} also selects ${other.metadata.name}`,
      );
  }
  const agentEp = find('PodMonitor', 'nodewarden-agent').spec.podMetricsEndpoints[0];
  assert.equal(agentEp.relabelings, [{ sourceLabels: ['__meta_kubernetes_pod_node_name'], targetLabel: 'node' }]);
  const sm = find('ServiceMonitor', 'nodewarden-collector');
  const svc = find('Service', 'nodewarden-collector');
  assert.ok(
    matches(sm.spec.selector.matchLabels, svc.metadata.labels),
    'the ServiceMonitor selects the collector Service',
  );
  assert.ok(svc.spec.ports.some((p: { name: string }) => p.name === sm.spec.endpoints[0].port));
  const nats = podsOf('StatefulSet', 'nats').spec.containers;
  const exporter = nats.find((c: { name: string }) => c.name === 'metrics');
  assert.ok(exporter, 'the exporter sidecar');
  const monitorUrl = exporter.args.at(-1);
  const conf = find('ConfigMap', 'nats-config').data['nats.conf'];
  assert.match(
    conf,
    new RegExp(`http: "${new URL(monitorUrl).host}"`),
    'the exporter reads the monitoring address nats.conf opens (loopback, same pod)',
  );
  assert.is(exporter.securityContext.readOnlyRootFilesystem, true);
  assert.is(nats.length, 2, 'nothing but the exporter was added');
  const rule = find('PrometheusRule', 'nodewarden');
  assert.equal(rule.spec, parse(readFileSync(join(MONITORING, 'prometheusrule.yaml'), 'utf8')).spec);
  const cm = find('ConfigMap', 'nodewarden-grafana-dashboard');
  assert.is(cm.metadata.labels.grafana_dashboard, '1');
  assert.is(JSON.parse(cm.data['dashboard.json']).uid, 'nodewarden');
});

test.run();
