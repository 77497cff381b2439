// The agent flags the probes add, and their validation.
import { ConfigError, parseDuration, type FlagSpec } from '../../common/flags.js';
import type { Ipv6Mode } from './sysctl-checks.js';

export const PROBE_NAMES = ['sysctl', 'iptables', 'pids', 'pod-pids', 'conntrack', 'journald'] as const;
export type ProbeName = (typeof PROBE_NAMES)[number];

export const probeFlags: Record<string, FlagSpec> = {
  probes: { type: 'list', arg: 'NAME', help: `Node probes to run: ${PROBE_NAMES.join(', ')}; "none" for none.`, default: [...PROBE_NAMES] },
  'probe-interval': { type: 'string', arg: 'DURATION', help: 'Poll interval of the sysctl, pids, pod-pids and conntrack probes (each delay varies by 10%).', default: '10s' },
  'iptables-interval': { type: 'string', arg: 'DURATION', help: 'Poll interval of `iptables-save -c`; drop rates are per interval.', default: '30s' },
  'journald-interval': { type: 'string', arg: 'DURATION', help: 'Sampling interval of systemd-journald memory.', default: '60s' },
  'probe-timeout': { type: 'string', arg: 'DURATION', help: 'Time box of one probe poll; a hung command is killed.', default: '5s' },
  'finding-refresh': { type: 'string', arg: 'DURATION', help: 'An active finding whose evidence changed is re-sent at most this often.', default: '5m' },
  'proc-root': { type: 'string', arg: 'DIR', help: "procfs to read (the host's /proc when mounted elsewhere; journald needs the host PID namespace).", default: '/proc' },
  'cgroup-root': { type: 'string', arg: 'DIR', help: 'cgroup mount holding kubepods (v1: <root>/pids/kubepods*, v2: <root>/kubepods*).', default: '/sys/fs/cgroup' },
  'iptables-save': { type: 'list', arg: 'CMD', help: 'iptables-save command line to poll ("-c" is appended), e.g. iptables-legacy-save or ip6tables-save to match the backend kube-proxy/Calico use.', default: ['iptables-save'] },
  'iptables-drop-rate': { type: 'string', arg: 'PKTS', help: 'IptablesDropsRising when DROP/REJECT rules and DROP policies drop this many packets per second.', default: '10' },
  'pid-pressure-percent': { type: 'string', arg: 'PCT', help: 'PIDPressure when node tasks reach this percentage of min(kernel.pid_max, kernel.threads-max).', default: '90' },
  'pod-pids-percent': { type: 'string', arg: 'PCT', help: "PodPIDsExhausted when a pod's pids.current reaches this percentage of its pids.max.", default: '90' },
  'conntrack-percent': { type: 'string', arg: 'PCT', help: 'ConntrackFull when nf_conntrack_count reaches this percentage of nf_conntrack_max.', default: '90' },
  'ipv6-forwarding': { type: 'string', arg: 'MODE', help: 'IPv6 forwarding check: auto (when the node has IPv6 pod routes), on, off.', default: 'auto' },
  'journald-growth': { type: 'string', arg: 'MIB', help: 'JournaldMemoryGrowth when journald anonymous memory grows steadily by this many MiB within --journald-window.', default: '100' },
  'journald-window': { type: 'string', arg: 'DURATION', help: 'Window over which journald memory growth is measured.', default: '30m' },
};

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

/** The value given, else the flag's default (startProbes may get values from parseCommand or a test). */
function raw(values: Record<string, unknown>, flag: string): unknown {
  return values[flag] ?? probeFlags[flag].default;
}

function str(values: Record<string, unknown>, flag: string): string {
  const v = raw(values, flag);
  if (typeof v !== 'string' || v.trim() === '') throw new ConfigError(`--${flag}: expected a value`);
  return v.trim();
}

function list(values: Record<string, unknown>, flag: string): string[] {
  const v = raw(values, flag);
  const items = typeof v === 'string' ? v.split(',') : Array.isArray(v) ? v.map(String) : [];
  return items.map((s) => s.trim()).filter(Boolean);
}

function duration(values: Record<string, unknown>, flag: string): number {
  const ms = parseDuration(str(values, flag), `--${flag}`);
  if (ms < 10) throw new ConfigError(`--${flag}: must be at least 10ms`);
  return ms;
}

function positive(values: Record<string, unknown>, flag: string, max = Infinity): number {
  const t = str(values, flag);
  const n = Number(t);
  if (!Number.isFinite(n) || n <= 0 || n > max) throw new ConfigError(`--${flag}: "${t}" is not a number in (0, ${max}]`);
  return n;
}

export function probeConfig(values: Record<string, unknown>): ProbeConfig {
  const names = list(values, 'probes');
  const enabled = new Set<ProbeName>();
  for (const n of names) {
    if (n === 'none') continue;
    if (!(PROBE_NAMES as readonly string[]).includes(n)) throw new ConfigError(`--probes: unknown probe "${n}" (known: ${PROBE_NAMES.join(', ')}, none)`);
    enabled.add(n as ProbeName);
  }
  const ipv6 = str(values, 'ipv6-forwarding');
  if (ipv6 !== 'auto' && ipv6 !== 'on' && ipv6 !== 'off') throw new ConfigError(`--ipv6-forwarding: "${ipv6}" is not auto, on or off`);
  const iptablesSave = list(values, 'iptables-save');
  if (enabled.has('iptables') && iptablesSave.length === 0) throw new ConfigError('--iptables-save: expected a command');
  return {
    enabled,
    intervalMs: duration(values, 'probe-interval'),
    iptablesIntervalMs: duration(values, 'iptables-interval'),
    journaldIntervalMs: duration(values, 'journald-interval'),
    timeoutMs: duration(values, 'probe-timeout'),
    refreshMs: duration(values, 'finding-refresh'),
    procRoot: str(values, 'proc-root'),
    cgroupRoot: str(values, 'cgroup-root'),
    iptablesSave,
    iptablesDropRate: positive(values, 'iptables-drop-rate'),
    pidPressurePercent: positive(values, 'pid-pressure-percent', 100),
    podPidsPercent: positive(values, 'pod-pids-percent', 100),
    conntrackPercent: positive(values, 'conntrack-percent', 100),
    ipv6,
    journaldGrowthBytes: positive(values, 'journald-growth') * 1048576,
    journaldWindowMs: duration(values, 'journald-window'),
  };
}
