// Issue 4 end to end on a real kernel: the agent runs inside the lab's node network namespace;
// `sysctl -w net.ipv4.ip_forward=0` there raises IPForwardingDisabled in the collector's API
// (and `nodewarden findings`), and 1 clears it. NATS and the collector run in the same namespace.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { labUp, type Lab } from './support/lab.js';
import { startNats, type NatsServer } from './support/nats.js';
import { startCli, runCli, type Proc } from './support/procs.js';
import { waitFor, isRoot } from './support/wait.js';

if (!isRoot()) throw new Error('findings-e2e needs root (network namespaces); CI runs as root');

let lab: Lab, nats: NatsServer, agent: Proc, collector: Proc, dir: string;
const PROBE_MS = 500;

type Finding = { node: string; kind: string; severity: string; active: boolean; message: string; evidence?: Record<string, string> };
const findings = async (...args: string[]): Promise<Finding[]> => {
  const r = await runCli(['findings', '--collector', 'http://127.0.0.1:18080', '-o', 'json', ...args], undefined, 15_000, lab.nodeNs);
  if (r.code !== 0) throw new Error(r.stderr);
  return (JSON.parse(r.stdout) as { items: Finding[] }).items;
};
const ipForwarding = async () => (await findings('--node', 'lab-node', '--kind', 'IPForwardingDisabled'))[0];

test.before(async () => {
  lab = await labUp();
  nats = await startNats({ netns: lab.nodeNs });
  dir = mkdtempSync(join(tmpdir(), 'nw-findings-'));
  collector = startCli(['collector', '--nats', nats.url, '--listen', '127.0.0.1:18080', '--node-stale', '5s'], {}, lab.nodeNs);
  await collector.waitForLog(/collector: consuming/);
  agent = startCli(['agent', '--node', 'lab-node', '--nats', nats.url, '--state-dir', join(dir, 'state'), '--journal-dir', lab.journalDir,
    '--probes', 'sysctl', '--probe-interval', `${PROBE_MS}ms`, '--container-log-dir', '', '--heartbeat-interval', '1s'], {}, lab.nodeNs);
  await agent.waitForLog(/journal: following/);
});

test.after(async () => {
  await agent?.stop();
  await collector?.stop();
  await nats?.stop();
  await lab?.down();
  rmSync(dir, { recursive: true, force: true });
});

test('ip_forward=0 in the node namespace -> IPForwardingDisabled (critical) with evidence; =1 -> cleared', async () => {
  assert.is(await ipForwarding(), undefined, 'no finding while forwarding is on');
  lab.exec(lab.nodeNs, ['sysctl', '-qw', 'net.ipv4.ip_forward=0']);
  const t0 = Date.now();
  const raised = await waitFor('IPForwardingDisabled active', async () => { const f = await ipForwarding(); return f?.active ? f : undefined; }, 10_000, 100);
  assert.ok(Date.now() - t0 < 2 * PROBE_MS + 3000, `raised after ${Date.now() - t0} ms`);
  assert.is(raised.severity, 'critical');
  assert.match(JSON.stringify(raised.evidence), /ip_forward/);
  const nodes = await runCli(['findings', '--collector', 'http://127.0.0.1:18080', '--active'], undefined, 15_000, lab.nodeNs);
  assert.match(nodes.stdout, /ACTIVE\s+critical\s+lab-node\s+IPForwardingDisabled/);
  // Blocked pod traffic is the user-visible symptom; the node is unhealthy while it lasts.
  assert.is(await lab.allowedConnect(), false);
  const health = await runCli(['drops', '--collector', 'http://127.0.0.1:18080', '-o', 'json'], undefined, 15_000, lab.nodeNs);
  assert.is(health.code, 0);
  lab.exec(lab.nodeNs, ['sysctl', '-qw', 'net.ipv4.ip_forward=1']);
  const cleared = await waitFor('IPForwardingDisabled cleared', async () => { const f = await ipForwarding(); return f && !f.active ? f : undefined; }, 10_000, 100);
  assert.is(cleared.active, false);
  assert.ok(await lab.allowedConnect(), 'traffic flows again');
});

test.run();
