// netns lab, real kernel: the probes run INSIDE a node netns. ip_forward=0 -> IPForwardingDisabled
// within two probe intervals with its evidence (and InAddrErrors growth once pods send), =1 -> cleared;
// the same for IPv6 forwarding (the node has an IPv6 pod route) and bridge-nf-call-iptables.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { NodeLab, POD_IP6 } from './probes/netns-lab.js';
import { PREFIX, ProbeProcess, isRoot } from './probes/support.js';
import { waitFor } from './support/wait.js';

const INTERVAL = 400;
/** Two intervals with their +10% jitter, plus the time to read a few files and print a line. */
const TWO_INTERVALS = 2 * INTERVAL * 1.1 + 300;

if (!isRoot) throw new Error('probes-sysctl-netns needs root (network namespaces): run npm test as root (CI does)');
const lab = new NodeLab(`${PREFIX}s`);
let probes: ProbeProcess | undefined;

test.before(() => {
  lab.up();
  probes = new ProbeProcess(
    ['--probes', 'sysctl', '--probe-interval', `${INTERVAL}ms`, '--finding-refresh', '300ms'],
    lab.node,
  );
});
test.after(async () => {
  await probes?.stop();
  lab.down();
});

/** Flips a sysctl in the node netns and waits for the finding's transition. */
async function flip(setting: string, kind: string, active: boolean) {
  const sink = probes!.sink;
  const from = sink.findings.length;
  const t0 = Date.now();
  lab.inNode('sysctl', '-qw', setting);
  const f = await waitFor(
    `${kind} active=${active} after ${setting}`,
    () => sink.find(kind, active, from),
    5000,
    undefined,
    () => ({ findings: sink.findings, stderr: probes!.stderr }),
  );
  const took = Date.now() - t0;
  assert.ok(
    took <= TWO_INTERVALS,
    `${kind} ${active ? 'raised' : 'cleared'} ${took} ms after the flip; two intervals are ${TWO_INTERVALS} ms`,
  );
  return f;
}

test('the probe runs in the node netns and reports nothing while forwarding works', async () => {
  const sink = probes!.sink;
  const st = await waitFor(
    'sysctl status',
    () => sink.statuses.find((s) => s.name === 'sysctl'),
    15_000,
    undefined,
    () => probes!.stderr,
  );
  assert.ok(st.ok, st.detail);
  lab.podSends(3); // forwarded: no alarm, and the InAddrErrors baseline stays as it was
  await new Promise((r) => setTimeout(r, 2 * INTERVAL));
  assert.equal(sink.findings, [], 'no finding while ip_forward=1, IPv6 forwarding=1 and bridge-nf-call-iptables=1');
});

test('ip_forward=0 -> IPForwardingDisabled (critical) with evidence; pod traffic shows as InAddrErrors; =1 -> cleared', async () => {
  const raised = await flip('net.ipv4.ip_forward=0', 'IPForwardingDisabled', true);
  assert.is(raised.severity, 'critical');
  assert.is(raised.evidence['net.ipv4.ip_forward'], '0');
  assert.is(raised.evidence['snmp Ip.Forwarding'], '2 (not forwarding)');
  assert.match(raised.message, /net\.ipv4\.ip_forward is 0/);

  // the pod keeps sending: each datagram the node may not forward is an InAddrError
  lab.podSends(5);
  const sink = probes!.sink;
  const grown = await waitFor(
    'InAddrErrors growth in a refreshed report',
    () =>
      sink.findings.find(
        (f) =>
          f.kind === 'IPForwardingDisabled' &&
          f.active &&
          Number(/^\+(\d+) since forwarding was last on/.exec(f.evidence['snmp Ip.InAddrErrors'] ?? '')?.[1]) >= 5,
      ),
    5000,
    undefined,
    () => sink.findings,
  );
  assert.is(grown.evidence['net.ipv4.ip_forward'], '0');

  const cleared = await flip('net.ipv4.ip_forward=1', 'IPForwardingDisabled', false);
  assert.is(cleared.evidence['net.ipv4.ip_forward'], '1');
  assert.is(cleared.evidence['snmp Ip.Forwarding'], '1 (forwarding)');
});

test('IPv6 forwarding off on a node with an IPv6 pod route -> IPv6ForwardingDisabled; on -> cleared', async () => {
  const raised = await flip('net.ipv6.conf.all.forwarding=0', 'IPv6ForwardingDisabled', true);
  assert.is(raised.evidence['net.ipv6.conf.all.forwarding'], '0');
  assert.match(raised.evidence.ipv6PodRoutes, new RegExp(`${POD_IP6}/128 dev cali1a2b3c4d5e6`));
  const cleared = await flip('net.ipv6.conf.all.forwarding=1', 'IPv6ForwardingDisabled', false);
  assert.is(cleared.evidence['net.ipv6.conf.all.forwarding'], '1');
});

test('bridge-nf-call-iptables=0 -> BridgeNfCallIptablesDisabled; =1 -> cleared', async () => {
  const raised = await flip('net.bridge.bridge-nf-call-iptables=0', 'BridgeNfCallIptablesDisabled', true);
  assert.equal(raised.evidence, { 'net.bridge.bridge-nf-call-iptables': '0' });
  await flip('net.bridge.bridge-nf-call-iptables=1', 'BridgeNfCallIptablesDisabled', false);
  assert.equal(
    probes!.sink.statuses.map((s) => [s.name, s.ok]),
    [['sysctl', true]],
    'status said once',
  );
});

test.run();
