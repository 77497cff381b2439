// The NetworkPolicy explanation from a REAL kernel drop: two "pods" in network namespaces, an
// iptables LOG+DROP rule, a private journald read by the agent's journalctl, NATS, and a collector
// watching a real kube-apiserver that holds those pods (same IPs) and the seed incident's
// shop/deny-wip. The flow in /api/v1/drops carries the denied explanation, and `kubectl describe pod`
// shows the PacketDrop Event ending with its summary on both pods.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { labUp, LAB_IPS, BLOCKED_PORT, type Lab } from './support/lab.js';
import { startStack, type Stack } from './support/stack.js';
import { startControlPlane, type ControlPlane } from './support/kube.js';
import { getJson } from './support/procs.js';
import { waitFor, isRoot } from './support/wait.js';
import { applyNetworkPolicy, grantCollector, COLLECTOR_USER } from './fixtures/kube/helpers.js';
import type { Flow } from '../collector/store/drops.js';

if (!isRoot()) throw new Error('lab-explain needs root (network namespaces, iptables, journald); CI runs as root');

const SUMMARY = `Egress of shop/web-0 is isolated by shop/deny-wip; no rule allows TCP/${BLOCKED_PORT} to shop/db-0.`;
let lab: Lab, stack: Stack, cp: ControlPlane;

test.before(async () => {
  cp = await startControlPlane({ users: [{ name: COLLECTOR_USER }] });
  await grantCollector(cp);
  await cp.createNamespace('shop');
  for (const [name, ip, app] of [
    ['web-0', LAB_IPS.podA, 'web'],
    ['db-0', LAB_IPS.podB, 'db'],
  ] as const) {
    await cp.createPod('shop', name, { nodeName: 'lab-node', podIP: ip, hostIP: LAB_IPS.node, labels: { app } });
  }
  await applyNetworkPolicy(cp, 'shop', 'deny-wip', { podSelector: {}, policyTypes: ['Egress'] });
  lab = await labUp();
  stack = await startStack({
    node: 'lab-node',
    journalDir: lab.journalDir,
    agentArgs: ['--probes', 'none', '--container-log-dir', ''],
    collectorArgs: ['--kubeconfig', cp.kubeconfig(COLLECTOR_USER), '--event-update-interval', '1s'],
  });
  await waitFor(
    'collector ready (pods and policies synced)',
    async () => (await fetch(`${stack.api}/readyz`).catch(() => undefined))?.status === 200,
    30_000,
  );
});

test.after(async () => {
  await stack?.stop();
  await lab?.down();
  await cp?.stop();
});

test('a real kernel drop -> the flow explained by shop/deny-wip -> PacketDrop Events ending with the summary', async () => {
  const before = lab.loggedPackets();
  await lab.blockedConnects(2);
  const logged = lab.loggedPackets() - before;
  assert.ok(logged >= 2, `kernel logged ${logged} packets`);
  const flow = await waitFor(
    'the blocked flow with all its LOG lines',
    async () => {
      const { items } = await getJson<{ items: Flow[] }>(`${stack.api}/api/v1/drops`);
      const f = items.find((x) => x.dst.ip === LAB_IPS.podB && x.dst.port === BLOCKED_PORT);
      return f && f.count === logged ? f : undefined;
    },
    20_000,
  );
  assert.is(flow.src.pod?.name, 'web-0');
  assert.is(flow.explanation?.verdict, 'denied', JSON.stringify(flow.explanation));
  assert.is(flow.explanation?.summary, SUMMARY);
  assert.equal(flow.explanation?.sides[0].isolatedBy, ['shop/deny-wip']);
  for (const [pod, head] of [
    ['web-0', `Packet dropped when sending traffic to shop/db-0 (${LAB_IPS.podB}) on port ${BLOCKED_PORT}/TCP`],
    ['db-0', `Packet dropped when receiving traffic from shop/web-0 (${LAB_IPS.podA}) on port ${BLOCKED_PORT}/TCP`],
  ] as const) {
    const out = await waitFor(
      `kubectl describe pod ${pod} shows the explained PacketDrop`,
      async () => {
        const r = await cp.kubectl(['-n', 'shop', 'describe', 'pod', pod]);
        return r.stdout.includes('PacketDrop') && r.stdout.replace(/\s+/g, ' ').includes(`${head}. ${SUMMARY}`)
          ? r.stdout
          : undefined;
      },
      20_000,
    );
    assert.match(out, /Warning\s+PacketDrop/);
  }
});

test.run();
