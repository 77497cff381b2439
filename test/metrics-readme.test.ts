// README "Metrics" against the real thing: each role is started with every part that registers metrics
// (collector with a real kube-apiserver: pod and policy watches, the Event writer; agent with the probes,
// log signatures and the runtime loop; the auth service on a real callout NATS), and the metric names,
// types and label names its /metrics exposes must equal README's table for that role, row for row.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startControlPlane, type ControlPlane } from './support/kube.js';
import { startNats, type NatsServer } from './support/nats.js';
import { startCalloutNats, type CalloutNats } from './support/nats-callout.js';
import { createTestJournal, journalRemoteAvailable, type TestJournal } from './support/journal.js';
import { startCli, spawnCollector, type Proc } from './support/procs.js';
import { freePort, waitFor } from './support/wait.js';
import { grantCollector, COLLECTOR_USER } from './fixtures/kube/helpers.js';
import { exposedMetrics, isDefaultMetric, readmeMetrics, type MetricRow, type Role } from './support/metrics-list.js';

const AUTH_USER = 'auth';
if (!journalRemoteAvailable())
  throw new Error('metrics-readme needs systemd-journal-remote: run npm test as root (it installs it)');
let cp: ControlPlane,
  nats: NatsServer,
  callout: CalloutNats,
  journal: TestJournal,
  dir = '';
const procs: Proc[] = [];
const scraped: Partial<Record<Role, string>> = {};

async function scrape(url: string): Promise<string> {
  return waitFor(
    `metrics at ${url}`,
    async () => {
      const r = await fetch(url, { signal: AbortSignal.timeout(3000) }).catch(() => undefined);
      return r?.ok ? r.text() : undefined;
    },
    30_000,
    200,
  );
}

test.before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'nw-metrics-readme-'));
  cp = await startControlPlane({ users: [{ name: COLLECTOR_USER }, { name: AUTH_USER }] });
  await grantCollector(cp);
  nats = await startNats();
  journal = createTestJournal();
  await journal.append(['Linux version 6.18 (boot banner, not a drop)']);

  const collector = await spawnCollector(nats.url, ['--kubeconfig', cp.kubeconfig(COLLECTOR_USER)]);
  procs.push(collector);
  await collector.waitForLog(/collector: consuming/, 30_000);

  const aport = await freePort();
  // Every detector on: probes (default: all), container logs, the runtime loop (its socket need not answer).
  const agent = startCli([
    'agent',
    '--node',
    'node-r',
    '--nats',
    nats.url,
    '--state-dir',
    join(dir, 'agent'),
    '--journal-dir',
    journal.dir,
    '--container-log-dir',
    join(dir, 'containers'),
    '--runtime-endpoint',
    `unix://${join(dir, 'no-runtime.sock')}`,
    '--metrics-listen',
    `127.0.0.1:${aport}`,
  ]);
  procs.push(agent);
  await agent.waitForLog(/journal: following/, 30_000);

  callout = await startCalloutNats();
  const mport = await freePort();
  const auth = startCli([
    'auth',
    '--nats',
    callout.url,
    '--nats-user',
    callout.auth.user,
    '--nats-password-file',
    callout.auth.passwordFile,
    '--issuer-seed-file',
    callout.issuerSeedFile,
    '--kubeconfig',
    cp.kubeconfig(AUTH_USER),
    '--metrics-listen',
    `127.0.0.1:${mport}`,
  ]);
  procs.push(auth);
  await auth.waitForLog(/auth: answering authorization requests/, 30_000);

  scraped.collector = await scrape(`${collector.api}/metrics`);
  scraped.agent = await scrape(`http://127.0.0.1:${aport}/metrics`);
  scraped.auth = await scrape(`http://127.0.0.1:${mport}/metrics`);
});

test.after(async () => {
  for (const p of procs.reverse()) await p.stop();
  await callout?.stop();
  await nats?.stop();
  await cp?.stop();
  journal?.remove();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const fmt = (r: MetricRow) => `${r.name} ${r.type} {${r.labels.join(',')}}`;

for (const role of ['collector', 'agent', 'auth'] as const) {
  test(`README lists exactly the ${role}'s metrics (names, types, labels)`, () => {
    const exposed = exposedMetrics(scraped[role]!);
    // NODEWARDEN_METRICS_DUMP=1: print what the role exposes (for updating the README table).
    if (process.env.NODEWARDEN_METRICS_DUMP)
      process.stdout.write(
        `--- ${role}\n${exposed
          .filter((r) => !isDefaultMetric(role, r.name))
          .map(fmt)
          .join('\n')}\n`,
      );
    const readme = readmeMetrics()[role];
    // prom-client's default metrics: one README row, all under the role's prefix, none unprefixed
    const defaults = exposed.filter((r) => isDefaultMetric(role, r.name));
    assert.ok(defaults.length > 10, 'default process metrics are exposed');
    assert.not.ok(
      exposed.some((r) => /^(process|nodejs)_/.test(r.name)),
      'no unprefixed default metric',
    );
    const own = exposed.filter((r) => !isDefaultMetric(role, r.name));
    for (const r of own)
      assert.match(
        r.name,
        new RegExp(`^nodewarden_(${role}_|packet_drops_total$|findings_active$|nodes$|build_info$)`),
        `one prefix per role: ${r.name}`,
      );
    const byName = new Map(readme.map((r) => [r.name, r]));
    assert.equal(
      own.map((r) => r.name).sort(),
      readme.map((r) => r.name).sort(),
      `${role}: README and /metrics name different metrics`,
    );
    for (const r of own) {
      const doc = byName.get(r.name)!;
      assert.is(doc.type, r.type, `${r.name}: README says ${doc.type}`);
      // label names: what its series show (a labelled metric with no series yet shows none)
      if (r.series) assert.equal(doc.labels, r.labels, `${fmt(r)} vs README ${fmt(doc)}`);
    }
  });
}

test.run();
