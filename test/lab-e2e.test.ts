// End to end on a real kernel: blocked connections between two "pods" in network namespaces ->
// iptables LOG lines -> a private journald -> the agent's journalctl -> NATS -> collector -> API.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { labUp, LAB_IPS, BLOCKED_PORT, type Lab } from './support/lab.js';
import { startStack, type Stack } from './support/stack.js';
import { runCli, getJson } from './support/procs.js';
import { waitFor, isRoot } from './support/wait.js';

if (!isRoot()) throw new Error('lab-e2e needs root (network namespaces, iptables, journald); CI runs as root');

let lab: Lab, stack: Stack, api: string;

test.before(async () => {
  lab = await labUp();
  stack = await startStack({
    node: 'lab-node',
    journalDir: lab.journalDir,
    agentArgs: ['--probes', 'none', '--container-log-dir', ''],
    pods: [
      {
        metadata: { namespace: 'shop', name: 'web-0', uid: 'u-web' },
        spec: { nodeName: 'lab-node' },
        status: { podIP: LAB_IPS.podA, podIPs: [{ ip: LAB_IPS.podA }], hostIP: LAB_IPS.node },
      },
      {
        metadata: { namespace: 'shop', name: 'db-0', uid: 'u-db' },
        spec: { nodeName: 'lab-node' },
        status: { podIP: LAB_IPS.podB, podIPs: [{ ip: LAB_IPS.podB }], hostIP: LAB_IPS.node },
      },
      {
        metadata: { namespace: 'pay', name: 'api-0', uid: 'u-api' },
        spec: { nodeName: 'node-2' },
        status: { podIP: LAB_IPS.remote, podIPs: [{ ip: LAB_IPS.remote }], hostIP: '10.4.0.5' },
      },
    ],
  });
  api = stack.api;
});

test.after(async () => {
  await stack?.stop();
  await lab?.down();
});

type Flow = {
  count: number;
  proto: string;
  src: { ip: string; pod?: { namespace: string; name: string } };
  dst: { ip: string; port?: number; pod?: { namespace: string; name: string } };
  in?: string;
  out?: string;
};

test('blocked pod-to-pod connections: both pods named, port/protocol right, count = kernel LOG lines', async () => {
  const before = lab.loggedPackets();
  assert.ok(await lab.allowedConnect(), 'allowed traffic still flows');
  await lab.blockedConnects(3);
  await lab.blockedConnects(1, LAB_IPS.remote);
  const logged = lab.loggedPackets() - before;
  assert.ok(logged >= 4, `kernel logged ${logged} packets`);
  const items = await waitFor(
    `flows summing to ${logged} LOG lines`,
    async () => {
      const r = await getJson<{ items: Flow[] }>(`${api}/api/v1/drops`);
      return r.items.reduce((a, f) => a + f.count, 0) === logged ? r.items : undefined;
    },
    15_000,
  );
  const local = items.find((f) => f.dst.ip === LAB_IPS.podB)!;
  assert.equal(local.src.pod, { namespace: 'shop', name: 'web-0', uid: 'u-web' });
  assert.equal(local.dst.pod, { namespace: 'shop', name: 'db-0', uid: 'u-db' });
  assert.is(local.dst.port, BLOCKED_PORT);
  assert.is(local.proto, 'TCP');
  assert.equal([local.in, local.out], ['cali1a2b3c4d5e6', 'cali6f5e4d3c2b1']);
  const remote = items.find((f) => f.dst.ip === LAB_IPS.remote)!;
  assert.equal(remote.dst.pod, { namespace: 'pay', name: 'api-0', uid: 'u-api' });
  assert.is(remote.out, 'eth0');
});

test('nodewarden drops prints the table users read', async () => {
  const r = await runCli(['drops', '--collector', api, '-n', 'shop']);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /LAST SEEN\s+COUNT\s+NODE\s+PROTO\s+SOURCE\s+DESTINATION\s+PORT/);
  assert.match(r.stdout, /lab-node\s+TCP\s+shop\/web-0 \(10\.244\.0\.4\)\s+shop\/db-0 \(10\.244\.1\.6\)\s+12865/);
  const j = await runCli(['drops', '--collector', api, '--pod', 'pay/api-0', '-o', 'json']);
  assert.is(JSON.parse(j.stdout).total, 1);
});

test.run();
