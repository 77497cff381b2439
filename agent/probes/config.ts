// The agent flags the probes add, and their validation.
import { ConfigError, readFlags, type FlagSpecs } from '../../common/flags.js';
import type { Ipv6Mode } from './sysctl-checks.js';

export const PROBE_NAMES = ['sysctl', 'iptables', 'pids', 'pod-pids', 'conntrack', 'journald'] as const;
export type ProbeName = (typeof PROBE_NAMES)[number];

const MIN_MS = 10;

export const probeFlags = {
  probes: {
    type: 'list',
    arg: 'NAME',
    help: `Node probes to run: ${PROBE_NAMES.join(', ')}; "none" for none.`,
    default: [...PROBE_NAMES],
  },
  'probe-interval': {
    type: 'duration',
    min: MIN_MS,
    arg: 'DURATION',
    help: 'Poll interval of the sysctl, pids, pod-pids and conntrack probes (each delay varies by 10%).',
    default: '10s',
  },
  'iptables-interval': {
    type: 'duration',
    min: MIN_MS,
    arg: 'DURATION',
    help: 'Poll interval of `iptables-save -c`; drop rates are per interval.',
    default: '30s',
  },
  'journald-interval': {
    type: 'duration',
    min: MIN_MS,
    arg: 'DURATION',
    help: 'Sampling interval of systemd-journald memory.',
    default: '60s',
  },
  'probe-timeout': {
    type: 'duration',
    min: MIN_MS,
    arg: 'DURATION',
    help: 'Time box of one probe poll; a hung command is killed.',
    default: '5s',
  },
  'finding-refresh': {
    type: 'duration',
    min: MIN_MS,
    arg: 'DURATION',
    help: 'An active finding whose evidence changed is re-sent at most this often.',
    default: '5m',
  },
  'proc-root': {
    type: 'string',
    arg: 'DIR',
    help: "procfs to read (the host's /proc when mounted elsewhere; journald needs the host PID namespace).",
    default: '/proc',
  },
  'cgroup-root': {
    type: 'string',
    arg: 'DIR',
    help: 'cgroup mount holding kubepods (v1: <root>/pids/kubepods*, v2: <root>/kubepods*).',
    default: '/sys/fs/cgroup',
  },
  'iptables-save': {
    type: 'list',
    arg: 'CMD',
    help: 'iptables-save command line to poll ("-c" is appended), e.g. iptables-legacy-save or ip6tables-save to match the backend kube-proxy/Calico use.',
    default: ['iptables-save'],
  },
  'iptables-drop-rate': {
    type: 'number',
    arg: 'PKTS',
    help: 'IptablesDropsRising when DROP/REJECT rules and DROP policies drop this many packets per second.',
    default: '10',
  },
  'pid-pressure-percent': {
    type: 'number',
    max: 100,
    arg: 'PCT',
    help: 'PIDPressure when node tasks reach this percentage of min(kernel.pid_max, kernel.threads-max).',
    default: '90',
  },
  'pod-pids-percent': {
    type: 'number',
    max: 100,
    arg: 'PCT',
    help: "PodPIDsExhausted when a pod's pids.current reaches this percentage of its pids.max.",
    default: '90',
  },
  'conntrack-percent': {
    type: 'number',
    max: 100,
    arg: 'PCT',
    help: 'ConntrackFull when nf_conntrack_count reaches this percentage of nf_conntrack_max.',
    default: '90',
  },
  'ipv6-forwarding': {
    type: 'choice',
    choices: ['auto', 'on', 'off'],
    arg: 'MODE',
    help: 'IPv6 forwarding check: auto (when the node has IPv6 pod routes), on, off.',
    default: 'auto',
  },
  'journald-growth': {
    type: 'number',
    arg: 'MIB',
    help: 'JournaldMemoryGrowth when journald anonymous memory grows steadily by this many MiB within --journald-window.',
    default: '100',
  },
  'journald-window': {
    type: 'duration',
    min: MIN_MS,
    arg: 'DURATION',
    help: 'Window over which journald memory growth is measured.',
    default: '30m',
  },
} satisfies FlagSpecs;

export interface ProbeConfig {
  enabled: ReadonlySet<ProbeName>;
  intervalMs: number;
  iptablesIntervalMs: number;
  journaldIntervalMs: number;
  timeoutMs: number;
  refreshMs: number;
  procRoot: string;
  cgroupRoot: string;
  iptablesSave: string[];
  iptablesDropRate: number;
  pidPressurePercent: number;
  podPidsPercent: number;
  conntrackPercent: number;
  ipv6: Ipv6Mode;
  journaldGrowthBytes: number;
  journaldWindowMs: number;
}

export function probeConfig(values: Record<string, unknown>): ProbeConfig {
  const f = readFlags(probeFlags, values);
  const enabled = new Set<ProbeName>();
  for (const n of f.probes) {
    if (n === 'none') continue;
    if (!(PROBE_NAMES as readonly string[]).includes(n))
      throw new ConfigError(`--probes: unknown probe "${n}" (known: ${PROBE_NAMES.join(', ')}, none)`);
    enabled.add(n as ProbeName);
  }
  for (const d of ['proc-root', 'cgroup-root'] as const)
    if (!f[d].trim()) throw new ConfigError(`--${d}: expected a value`);
  if (enabled.has('iptables') && f['iptables-save'].length === 0)
    throw new ConfigError('--iptables-save: expected a command');
  return {
    enabled,
    intervalMs: f['probe-interval'],
    iptablesIntervalMs: f['iptables-interval'],
    journaldIntervalMs: f['journald-interval'],
    timeoutMs: f['probe-timeout'],
    refreshMs: f['finding-refresh'],
    procRoot: f['proc-root'].trim(),
    cgroupRoot: f['cgroup-root'].trim(),
    iptablesSave: f['iptables-save'],
    iptablesDropRate: f['iptables-drop-rate'],
    pidPressurePercent: f['pid-pressure-percent'],
    podPidsPercent: f['pod-pids-percent'],
    conntrackPercent: f['conntrack-percent'],
    ipv6: f['ipv6-forwarding'] as Ipv6Mode,
    journaldGrowthBytes: f['journald-growth'] * 1048576,
    journaldWindowMs: f['journald-window'],
  };
}
