// Probe parsers and decisions on recorded real outputs (test/fixtures/probes, see capture.sh there).
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { forkRejectedCgroup, podUidFromCgroupName, podUidFromCgroupPath } from '../agent/probes/cgroup-pids.js';
import { scanPodPids } from '../agent/probes/cgroup-scan.js';
import { ConfigError } from '../common/flags.js';
import { probeConfig } from '../agent/probes/config.js';
import { conntrackFinding } from '../agent/probes/conntrack.js';
import { ProbeUnavailable } from '../agent/probes/host.js';
import { chainLabel } from '../agent/probes/iptables-metrics.js';
import { counterDeltas, dropsDecision } from '../agent/probes/iptables-rates.js';
import { parseIptablesSave, splitArgs } from '../agent/probes/iptables-save.js';
import { journaldGrowthFinding } from '../agent/probes/journald-growth.js';
import { nodePidFinding, podPidFindings } from '../agent/probes/pids-checks.js';
import {
  ipv6PodRoutes,
  parseIpv6Routes,
  parseLoadavgTasks,
  parseSnmp,
  parseStatusMemory,
} from '../agent/probes/proc-parse.js';
import { sysctlFindings } from '../agent/probes/sysctl-checks.js';
import { FIXTURES, fixture } from './probes/support.js';

const UID1 = '13531067-90b4-488a-bb20-ba4e7d00da78'; // v1 cgroupfs, burstable, pids.max 5, fork loop
const UID2 = 'cc0ae1b5-eff4-4e8d-882a-2357f9fbcafe'; // v1 cgroupfs, guaranteed, unlimited
const UID3 = 'c5fb62d1-77e2-4327-9935-465230a9d475'; // v1 systemd layout
const V2_BOMB = '7d3f1a52-0a1e-4c1b-9a57-3f6f0b2c8e11';
const V2_GUARANTEED = '0b9e6c1d-5f3a-4e2b-8c7d-1a2b3c4d5e6f';

for (const backend of ['nft', 'legacy']) {
  test(`iptables-save -c (${backend}): chains, policies, counters, targets, protocols`, () => {
    const s = parseIptablesSave(fixture(`iptables-save-${backend}-2.txt`));
    const input = s.chains.find((c) => c.table === 'filter' && c.chain === 'INPUT');
    assert.equal(input, { table: 'filter', chain: 'INPUT', policy: 'DROP', packets: 12, bytes: 348 });
    assert.equal(s.chains.find((c) => c.chain === 'KUBE-FIREWALL')?.policy, undefined);
    assert.equal(s.chains.filter((c) => c.table === 'nat').length, 6);
    const drop = s.rules.find((r) => r.chain === 'cali-fw-cali1a2b3c4d5e6' && r.target === 'DROP');
    assert.equal(drop, {
      table: 'filter',
      chain: 'cali-fw-cali1a2b3c4d5e6',
      spec: '-p udp -m udp --dport 9999 -j DROP',
      target: 'DROP',
      proto: 'udp',
      packets: 160,
      bytes: 4640,
    });
    const log = s.rules.find((r) => r.target === 'LOG');
    assert.is(log?.spec, '-p udp -m udp --dport 9999 -j LOG --log-prefix "calico-drop: "');
    const reject = s.rules.find((r) => r.target === 'REJECT');
    assert.is(reject?.chain, 'KUBE-FIREWALL');
    assert.is(reject?.packets, 14);
    assert.ok(reject?.spec.includes('--comment "default/web:http has no endpoints"'));
    // 253 is not in /etc/protocols: iptables-save printed the number
    assert.equal(
      s.rules.filter((r) => r.chain === 'FORWARD').map((r) => r.proto),
      ['sctp', 'gre', '253'],
    );
    assert.is(
      s.rules.find((r) => r.table === 'nat' && r.chain === 'KUBE-SERVICES')?.target,
      'KUBE-SVC-ABCDEF1234567890',
    );
  });

  test(`iptables drop rates between two real polls (${backend}) name Calico and kube-proxy chains`, () => {
    const first = counterDeltas(undefined, parseIptablesSave(fixture(`iptables-save-${backend}-1.txt`)));
    assert.ok(
      first.every((d) => d.dPackets === 0),
      'the first poll is only a baseline',
    );
    const prev = new Map(first.map((d) => [d.id, { packets: d.packets, bytes: d.bytes }]));
    const deltas = counterDeltas(prev, parseIptablesSave(fixture(`iptables-save-${backend}-2.txt`)));
    const by = (chain: string, target: string) =>
      deltas.find((d) => d.chain === chain && d.target === target)?.dPackets;
    assert.is(by('cali-fw-cali1a2b3c4d5e6', 'DROP'), 120);
    assert.is(by('cali-fw-cali1a2b3c4d5e6', 'LOG'), 120);
    assert.is(by('KUBE-FIREWALL', 'REJECT'), 7);
    assert.is(by('INPUT', 'policy DROP'), 9);
    assert.is(by('FORWARD', 'DROP'), 0);

    const d = dropsDecision(deltas, 2000, 50);
    assert.is(d.rate, 68); // (120 + 7 + 9) / 2 s; LOG only reports, it does not drop
    assert.is(d.finding.kind, 'IptablesDropsRising');
    assert.ok(d.finding.active);
    assert.match(
      d.finding.evidence.top1,
      /^60\.0 packets\/s filter\/cali-fw-cali1a2b3c4d5e6 \(Calico chain\): -p udp -m udp --dport 9999 -j DROP$/,
    );
    assert.match(d.finding.evidence.top2, /^4\.5 packets\/s filter\/INPUT: policy DROP$/);
    assert.match(d.finding.evidence.top3, /filter\/KUBE-FIREWALL \(kube-proxy chain\): .*-j REJECT/);
    assert.match(d.finding.message, /68\.0 packets\/s .*cali-fw-cali1a2b3c4d5e6 \(Calico chain\)/);
    assert.not.ok(dropsDecision(deltas, 2000, 69).finding.active);
  });
}

test('iptables: a zeroed counter counts from zero, identical rules stay apart, -c inline counters', () => {
  const a = parseIptablesSave(
    '*filter\n:INPUT ACCEPT [0:0]\n[50:500] -A INPUT -s 10.0.0.1/32 -j DROP\n[5:50] -A INPUT -s 10.0.0.1/32 -j DROP\nCOMMIT\n',
  );
  const prev = new Map(counterDeltas(undefined, a).map((d) => [d.id, { packets: d.packets, bytes: d.bytes }]));
  assert.is(prev.size, 2);
  const b = parseIptablesSave(
    '*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -s 10.0.0.1/32 -c 3 30 -j DROP\n-A INPUT -s 10.0.0.1/32 -c 8 80 -j DROP\nCOMMIT\n',
  );
  assert.equal(
    counterDeltas(prev, b).map((d) => d.dPackets),
    [3, 3],
  );
  assert.equal(splitArgs('-m comment --comment "a \\"quoted\\" one" -j LOG --log-prefix "x: "'), [
    '-m',
    'comment',
    '--comment',
    'a "quoted" one',
    '-j',
    'LOG',
    '--log-prefix',
    'x: ',
  ]);
});

test('iptables metrics fold per-endpoint and per-service chains', () => {
  assert.is(chainLabel('cali-fw-cali1a2b3c4d5e6'), 'cali-fw-*');
  assert.is(chainLabel('cali-pi-_4BVZk9WLdoQ3ZGqy2yD'), 'cali-pi-*');
  assert.is(chainLabel('cali-FORWARD'), 'cali-FORWARD');
  assert.is(chainLabel('KUBE-SVC-ABCDEF1234567890'), 'KUBE-SVC-*');
  assert.is(chainLabel('KUBE-FIREWALL'), 'KUBE-FIREWALL');
});

test('/proc/net/snmp: ip_forward=0 evidence shows Forwarding=2 and InAddrErrors growth', () => {
  const on = parseSnmp(fixture('proc-net-snmp-forwarding.txt')).Ip;
  const off = parseSnmp(fixture('proc-net-snmp-not-forwarding.txt')).Ip;
  assert.is(on.Forwarding, 1);
  assert.is(off.Forwarding, 2);
  assert.is(off.InAddrErrors - on.InAddrErrors, 6); // six datagrams sent through the node while off
  assert.is(parseSnmp(fixture('proc-net-snmp-forwarding.txt')).Udp.NoPorts, 5);

  const a = sysctlFindings({ ipForward: '1', ipv6PodRoutes: [], snmpIp: on }, 'auto', {});
  assert.equal(
    a.findings.map((f) => [f.kind, f.active]),
    [['IPForwardingDisabled', false]],
  );
  const b = sysctlFindings({ ipForward: '0', ipv6PodRoutes: [], snmpIp: off }, 'auto', a.memory);
  const f = b.findings[0];
  assert.is(f.kind, 'IPForwardingDisabled');
  assert.is(f.severity, 'critical');
  assert.ok(f.active);
  assert.equal(f.evidence, {
    'net.ipv4.ip_forward': '0',
    'snmp Ip.Forwarding': '2 (not forwarding)',
    'snmp Ip.InAddrErrors': '+6 since forwarding was last on (now 6)',
  });
  assert.equal(b.memory, a.memory, 'the baseline stays at the last reading with forwarding on');
});

test('/proc/net/ipv6_route: pod routes on cali interfaces, not link-local, multicast, local or lo', () => {
  const routes = ipv6PodRoutes(parseIpv6Routes(fixture('proc-net-ipv6_route-pods.txt'))).map(
    (r) => `${r.dst} dev ${r.dev}`,
  );
  assert.equal(routes, ['fd00:10:244:1::6/128 dev cali1a2b3c4d5e6', 'fd00:99::/64 dev cali1a2b3c4d5e6']);
  assert.equal(ipv6PodRoutes(parseIpv6Routes(fixture('proc-net-ipv6_route-none.txt'))), []);

  const base = { ipForward: '1', ipv6Forward: '0' };
  const needed = sysctlFindings({ ...base, ipv6PodRoutes: routes }, 'auto', {}).findings.find(
    (f) => f.kind === 'IPv6ForwardingDisabled',
  );
  assert.ok(needed?.active);
  assert.match(needed!.evidence.ipv6PodRoutes, /fd00:10:244:1::6\/128 dev cali1a2b3c4d5e6/);
  assert.not.ok(
    sysctlFindings({ ...base, ipv6PodRoutes: [] }, 'auto', {}).findings.find((f) => f.kind === 'IPv6ForwardingDisabled')
      ?.active,
  );
  assert.ok(
    sysctlFindings({ ...base, ipv6PodRoutes: [] }, 'on', {}).findings.find((f) => f.kind === 'IPv6ForwardingDisabled')
      ?.active,
  );
  assert.not.ok(
    sysctlFindings({ ...base, ipv6PodRoutes: routes }, 'off', {}).findings.some(
      (f) => f.kind === 'IPv6ForwardingDisabled',
    ),
  );
  const bridge = sysctlFindings(
    { ipForward: '1', ipv6PodRoutes: [], bridgeNfCallIptables: '0' },
    'auto',
    {},
  ).findings.find((f) => f.kind === 'BridgeNfCallIptablesDisabled');
  assert.equal([bridge?.active, bridge?.evidence], [true, { 'net.bridge.bridge-nf-call-iptables': '0' }]);
});

test('/proc/loadavg and /proc/<pid>/status', () => {
  assert.is(parseLoadavgTasks(fixture('proc-loadavg.txt')), 87);
  assert.is(parseLoadavgTasks('garbage'), undefined);
  assert.equal(parseStatusMemory(fixture('proc-pid-status.txt')), {
    vmRss: 21788 * 1024,
    rssAnon: 15060 * 1024,
    rssFile: 6728 * 1024,
  });
});

test('pod cgroup names of both kubelet drivers; the kernel fork-rejected line names the pod', () => {
  assert.is(podUidFromCgroupName(`pod${UID1}`), UID1);
  assert.is(podUidFromCgroupName(`kubepods-burstable-pod${UID3.replace(/-/g, '_')}.slice`), UID3);
  assert.is(podUidFromCgroupName(`kubepods-pod${UID2.replace(/-/g, '_')}.slice`), UID2);
  assert.is(podUidFromCgroupName('kubepods-burstable.slice'), undefined);
  assert.is(
    podUidFromCgroupName('cri-containerd-4f2a9c0e8b7d6c5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a6f5e4d3c2b1a.scope'),
    undefined,
  );
  const line = fixture('kmsg-pids-fork-rejected.txt').trim();
  assert.match(line, /^cgroup: fork rejected by pids controller in \//);
  assert.is(podUidFromCgroupPath(forkRejectedCgroup(line)!), UID1);
});

test('cgroup v1 (real files), cgroupfs layout: the pod at its pids.max is exhausted, top pods listed', async () => {
  const pods = await scanPodPids(join(FIXTURES, 'cgroup-v1-cgroupfs'));
  pods.sort((a, b) => a.uid.localeCompare(b.uid));
  assert.equal(pods, [
    { uid: UID1, cgroup: `pids/kubepods/burstable/pod${UID1}`, current: 5, max: 5, forkRejections: 5 },
    { uid: UID2, cgroup: `pids/kubepods/pod${UID2}`, current: 1, max: 'max', forkRejections: 0 },
  ]);
  const kernel = fixture('kmsg-pids-fork-rejected.txt').trim();
  const r = podPidFindings(pods, 90, { rejections: new Map(), kernelLines: new Map([[UID1, kernel]]) });
  const bomb = r.findings.find((f) => f.pod?.uid === UID1);
  assert.is(bomb?.kind, 'PodPIDsExhausted');
  assert.ok(bomb?.active);
  assert.is(bomb?.key, UID1);
  assert.is(bomb?.evidence.topPods, `${UID1} 5/5, ${UID2} 1/max`);
  assert.is(bomb?.evidence.kernel, kernel);
  assert.is(bomb?.evidence['pids.events max'], '5 forks rejected');
  assert.not.ok(r.findings.find((f) => f.pod?.uid === UID2)?.active);
  // rejections since the last poll alone also count (a bomb that died between polls)
  const later = podPidFindings([{ ...pods[1], forkRejections: 3 }], 90, {
    rejections: r.rejections,
    kernelLines: new Map(),
  });
  assert.ok(later.findings[0].active);
  assert.is(later.findings[0].evidence['pids.events max'], '3 forks rejected (+3 since last poll)');
});

test('cgroup v1 (real files), systemd layout', async () => {
  assert.equal(await scanPodPids(join(FIXTURES, 'cgroup-v1-systemd')), [
    {
      uid: UID3,
      cgroup: `pids/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID3.replace(/-/g, '_')}.slice`,
      current: 2,
      max: 6,
      forkRejections: 0,
    },
  ]);
});

// cgroup v2 cannot be mounted with the pids controller on the test VM (hybrid v1 layout): these
// trees are hand-written in the kernel's v2 file format (see test/fixtures/probes/README.md).
test('cgroup v2 (kernel format), systemd and cgroupfs layouts; container scopes are not pods', async () => {
  const pods = await scanPodPids(join(FIXTURES, 'cgroup-v2-systemd'));
  pods.sort((a, b) => a.uid.localeCompare(b.uid));
  assert.equal(
    pods.map((p) => [p.uid, p.current, p.max, p.forkRejections]),
    [
      [V2_GUARANTEED, 4, 'max', 0],
      [V2_BOMB, 50, 50, 1312],
    ],
  );
  assert.equal(await scanPodPids(join(FIXTURES, 'cgroup-v2-cgroupfs')), [
    { uid: V2_BOMB, cgroup: `kubepods/burstable/pod${V2_BOMB}`, current: 9, max: 1024, forkRejections: 0 },
  ]);
  try {
    await scanPodPids(FIXTURES);
    assert.unreachable('no kubepods tree there');
  } catch (e) {
    assert.instance(e, ProbeUnavailable);
  }
});

test('PIDPressure against min(pid_max, threads-max)', () => {
  const f = nodePidFinding({ tasks: 30000, pidMax: 32768, threadsMax: 192730 }, 90, [
    { uid: UID1, cgroup: 'x', current: 20000, max: 'max' },
  ]);
  assert.ok(f.active);
  assert.is(f.severity, 'critical');
  assert.is(f.evidence.used, '91.55% of 32768');
  assert.is(f.evidence.topPods, `${UID1} 20000/max`);
  assert.not.ok(nodePidFinding({ tasks: 30000, pidMax: 4194304, threadsMax: 40000 }, 90, undefined).active);
  assert.ok(nodePidFinding({ tasks: 36001, pidMax: 4194304, threadsMax: 40000 }, 90, undefined).active);
});

test('ConntrackFull from the fill level or a kernel "table full" line', () => {
  assert.not.ok(conntrackFinding(100, 262144, 90, { count: 0 }).active);
  assert.ok(conntrackFinding(240000, 262144, 90, { count: 0 }).active);
  const line = 'nf_conntrack: nf_conntrack: table full, dropping packet';
  const f = conntrackFinding(1000, 262144, 90, { count: 2, last: line });
  assert.ok(f.active);
  assert.is(f.evidence.kernel, `${line} (2 lines since last poll)`);
});

test('JournaldMemoryGrowth needs sustained growth, not one jump or file mappings', () => {
  const MiB = 1048576;
  const opts = { windowMs: 600_000, minGrowthBytes: 50 * MiB };
  const steady = [0, 1, 2, 3, 4, 5].map((i) => ({ at: i * 60_000, anon: (100 + i * 15) * MiB }));
  const f = journaldGrowthFinding(42, steady, opts);
  assert.ok(f.active);
  assert.is(f.key, 'pid 42');
  assert.match(f.evidence.RssAnon, /^100\.0 MiB -> 175\.0 MiB in 300 s \(6 samples, 5 of 5 steps up\)$/);
  const sawtooth = [100, 200, 100, 200, 100, 200].map((m, i) => ({ at: i * 60_000, anon: m * MiB }));
  assert.not.ok(journaldGrowthFinding(42, sawtooth, opts).active);
  assert.not.ok(journaldGrowthFinding(42, steady.slice(0, 2), opts).active, 'two samples are not a trend');
});

test('probe flags: defaults, validation', () => {
  const c = probeConfig({});
  assert.equal([...c.enabled], ['sysctl', 'iptables', 'pids', 'pod-pids', 'conntrack', 'journald']);
  assert.is(c.intervalMs, 10_000);
  assert.equal(c.iptablesSave, ['iptables-save']);
  assert.is(probeConfig({ probes: ['none'] }).enabled.size, 0);
  assert.is(probeConfig({ 'pid-pressure-percent': '0.5' }).pidPressurePercent, 0.5);
  for (const bad of [
    { probes: ['sysctl', 'bogus'] },
    { 'probe-interval': 'soon' },
    { 'pid-pressure-percent': '150' },
    { 'ipv6-forwarding': 'maybe' },
    { 'iptables-drop-rate': '-1' },
  ]) {
    assert.throws(
      () => probeConfig(bad),
      (e: unknown) => e instanceof ConfigError,
      JSON.stringify(bad),
    );
  }
});

test.run();
