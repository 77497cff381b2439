// Issue 4 end to end on a real kernel: the agent runs inside the lab's node network namespace;
// `sysctl -w net.ipv4.ip_forward=0` there raises IPForwardingDisabled in the collector's API
// (and `nodewarden findings`), and 1 clears it. NATS and the collector run in the same namespace.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { labUp, type Lab } from './support/lab.js';
import { startStack, type Stack } from './support/stack.js';
import { runCli } from './support/procs.js';
import { waitFor, isRoot } from './support/wait.js';

if (!isRoot()) throw new Error('findings-e2e needs root (network namespaces); CI runs as root');

let lab: Lab, stack: Stack;
const PROBE_MS = 500;

type Finding = {
  node: string;
  kind: string;
  severity: string;
  active: boolean;
  message: string;
  evidence?: Record<string, string>;
};
const findings = async (...args: string[]): Promise<Finding[]> => {
  const r = await runCli(['findings', '--collector', stack.api, '-o', 'json', ...args], undefined, 15_000, lab.nodeNs);
  if (r.code !== 0) throw new Error(r.stderr);
  return (JSON.parse(r.stdout) as { items: Finding[] }).items;
};
const ipForwarding = async () => (await findings('--node', 'lab-node', '--kind', 'IPForwardingDisabled'))[0];

test.before(async () => {
  lab = await labUp();
  stack = await startStack({
    node: 'lab-node',
    journalDir: lab.journalDir,
    netns: lab.nodeNs,
    agentArgs: [
      '--probes',
      'sysctl',
      '--probe-interval',
      `${PROBE_MS}ms`,
      '--container-log-dir',
      '',
      '--heartbeat-interval',
      '1s',
    ],
  });
});

test.after(async () => {
  await stack?.stop();
  await lab?.down();
});

test('ip_forward=0 in the node namespace -> IPForwardingDisabled (critical) with evidence; =1 -> cleared', async () => {
  assert.is(await ipForwarding(), undefined, 'no finding while forwarding is on');
  lab.exec(lab.nodeNs, ['sysctl', '-qw', 'net.ipv4.ip_forward=0']);
  const t0 = Date.now();
  const raised = await waitFor(
    'IPForwardingDisabled active',
    async () => {
      const f = await ipForwarding();
      return f?.active ? f : undefined;
    },
    10_000,
    100,
  );
  assert.ok(Date.now() - t0 < 2 * PROBE_MS + 3000, `raised after ${Date.now() - t0} ms`);
  assert.is(raised.severity, 'critical');
  assert.match(JSON.stringify(raised.evidence), /ip_forward/);
  const nodes = await runCli(['findings', '--collector', stack.api, '--active'], undefined, 15_000, lab.nodeNs);
  assert.match(nodes.stdout, /ACTIVE\s+critical\s+lab-node\s+IPForwardingDisabled/);
  // Blocked pod traffic is the user-visible symptom; the node is unhealthy while it lasts.
  assert.is(await lab.allowedConnect(), false);
  const health = await runCli(['nodes', '--collector', stack.api], undefined, 15_000, lab.nodeNs);
  assert.match(health.stdout, /lab-node\s+NO\s+1\s/, health.stdout + health.stderr);
  lab.exec(lab.nodeNs, ['sysctl', '-qw', 'net.ipv4.ip_forward=1']);
  const cleared = await waitFor(
    'IPForwardingDisabled cleared',
    async () => {
      const f = await ipForwarding();
      return f && !f.active ? f : undefined;
    },
    10_000,
    100,
  );
  assert.is(cleared.active, false);
  assert.ok(await lab.allowedConnect(), 'traffic flows again');
  assert.match(
    (await runCli(['nodes', '--collector', stack.api], undefined, 15_000, lab.nodeNs)).stdout,
    /lab-node\s+yes\s+0\s/,
  );
});

test.run();
