// Real iptables rules (nft and legacy backends) in a node netns, real traffic from a peer netns over a
// veth: rising DROP/REJECT/policy counters -> IptablesDropsRising naming the Calico and kube-proxy
// chains, Prometheus counters with folded chain labels, and the finding clears when traffic stops.
import { spawn } from 'node:child_process';
import { Registry } from 'prom-client';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startProbes } from '../agent/probes/index.js';
import { PREFIX, isRoot, sh } from './probes/support.js';
import { RecordingSink } from './support/sink.js';
import { testLog } from './support/log.js';
import { waitFor } from './support/wait.js';

const INTERVAL = 500;
const CALI_CHAIN = 'cali-fw-cali1a2b3c4d5e6';

/** Bounded: ~300 pkt/s to a Calico-dropped port, ~100 to the policy, ~50 to a kube-proxy REJECT. */
const TRAFFIC = `
import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
end = time.time() + 2.5
while time.time() < end:
    for _ in range(6): s.sendto(b"x", ("10.99.0.1", 9999))
    for _ in range(2): s.sendto(b"x", ("10.99.0.1", 9001))
    s.sendto(b"x", ("10.99.0.1", 9998))
    time.sleep(0.02)
`;

function lab(backend: 'nft' | 'legacy') {
  const node = `${PREFIX}i${backend[0]}-node`;
  const peer = `${PREFIX}i${backend[0]}-peer`;
  const ipt = (...args: string[]) => sh(['ip', 'netns', 'exec', node, `iptables-${backend}`, ...args]);
  return {
    node,
    peer,
    up() {
      for (const ns of [node, peer]) {
        sh(['ip', 'netns', 'add', ns]);
        sh(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
      }
      sh([
        'ip',
        'link',
        'add',
        'cali1a2b3c4d5e6',
        'netns',
        node,
        'type',
        'veth',
        'peer',
        'name',
        'eth0',
        'netns',
        peer,
      ]);
      sh(['ip', '-n', node, 'addr', 'add', '10.99.0.1/24', 'dev', 'cali1a2b3c4d5e6']);
      sh(['ip', '-n', peer, 'addr', 'add', '10.99.0.2/24', 'dev', 'eth0']);
      sh(['ip', '-n', node, 'link', 'set', 'cali1a2b3c4d5e6', 'up']);
      sh(['ip', '-n', peer, 'link', 'set', 'eth0', 'up']);
      ipt('-N', CALI_CHAIN);
      ipt('-A', 'INPUT', '-i', 'cali1a2b3c4d5e6', '-j', CALI_CHAIN);
      ipt('-A', CALI_CHAIN, '-p', 'udp', '--dport', '9999', '-j', 'LOG', '--log-prefix', 'calico-drop: ');
      ipt('-A', CALI_CHAIN, '-p', 'udp', '--dport', '9999', '-j', 'DROP');
      ipt('-N', 'KUBE-FIREWALL');
      ipt('-A', 'INPUT', '-j', 'KUBE-FIREWALL');
      ipt('-A', 'KUBE-FIREWALL', '-p', 'udp', '--dport', '9998', '-j', 'REJECT');
      ipt('-A', 'INPUT', '-p', 'icmp', '-j', 'ACCEPT');
      ipt('-P', 'INPUT', 'DROP');
    },
    down() {
      for (const ns of [node, peer]) {
        try {
          sh(['ip', 'netns', 'del', ns]);
        } catch {
          // not created
        }
      }
    },
  };
}

if (!isRoot)
  throw new Error('probes-iptables needs root (network namespaces, iptables): run npm test as root (CI does)');
for (const backend of ['nft', 'legacy'] as const) {
  test(`${backend}: rising drops -> IptablesDropsRising naming the chains, metrics, cleared when quiet`, async () => {
    const l = lab(backend);
    const sink = new RecordingSink();
    const registry = new Registry();
    let probes: ReturnType<typeof startProbes> | undefined;
    try {
      l.up();
      probes = startProbes(
        // the probe polls the node netns through a command prefix, as --iptables-save allows
        {
          probes: ['iptables'],
          'iptables-save': [`ip netns exec ${l.node} iptables-${backend}-save`],
          'iptables-interval': `${INTERVAL}ms`,
          'iptables-drop-rate': '100',
        },
        sink,
        { log: testLog, registry },
      );
      await waitFor(
        'iptables status',
        () => sink.statuses.find((s) => s.name === 'iptables'),
        5000,
        undefined,
        () => sink.statuses,
      );
      assert.ok(sink.statuses[0].ok, sink.statuses[0].detail);

      const traffic = spawn('ip', ['netns', 'exec', l.peer, 'timeout', '10', 'python3', '-c', TRAFFIC], {
        stdio: 'ignore',
      });
      const done = new Promise((r) => traffic.once('exit', r));
      const raised = await waitFor(
        'IptablesDropsRising',
        () => sink.find('IptablesDropsRising', true),
        5000,
        undefined,
        () => sink.findings,
      );
      assert.is(raised.severity, 'warning');
      assert.match(raised.message, new RegExp(`mostly in filter/${CALI_CHAIN} \\(Calico chain\\)`));
      assert.match(
        raised.evidence.top1,
        new RegExp(
          `^\\d+\\.\\d packets/s filter/${CALI_CHAIN} \\(Calico chain\\): -p udp -m udp --dport 9999 -j DROP$`,
        ),
      );
      assert.match(raised.evidence.top2, /packets\/s filter\/INPUT: policy DROP$/);
      assert.match(
        raised.evidence.top3,
        /packets\/s filter\/KUBE-FIREWALL \(kube-proxy chain\): -p udp -m udp --dport 9998 -j REJECT/,
      );
      assert.ok(Number(raised.evidence.dropRate.split(' ')[0]) >= 100, raised.evidence.dropRate);

      await done;
      const metrics = await registry.getSingleMetricAsString('nodewarden_agent_iptables_packets_total');
      const value = (labels: string) =>
        Number(new RegExp(`nodewarden_agent_iptables_packets_total\\{${labels}\\} (\\d+)`).exec(metrics)?.[1]);
      assert.ok(value('table="filter",chain="cali-fw-\\*",target="DROP"') > 100, metrics);
      assert.ok(value('table="filter",chain="cali-fw-\\*",target="LOG"') > 100, metrics);
      assert.ok(value('table="filter",chain="INPUT",target="policy DROP"') > 20, metrics);
      assert.ok(value('table="filter",chain="KUBE-FIREWALL",target="REJECT"') > 10, metrics);

      // two quiet polls clear it (one quiet poll between bursts would not)
      const cleared = await waitFor(
        'IptablesDropsRising cleared',
        () => sink.find('IptablesDropsRising', false),
        4 * INTERVAL + 1000,
        undefined,
        () => sink.findings,
      );
      assert.match(cleared.evidence.dropRate, /^0\.0 packets\/s/);
      assert.is(sink.findings.length, 2, 'raised once, cleared once');
    } finally {
      await probes?.stop();
      l.down();
    }
  });
}

test.run();
