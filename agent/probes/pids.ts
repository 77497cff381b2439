// PID probes: node tasks vs kernel limits (PIDPressure) and per-pod pids cgroups (PodPIDsExhausted).
import { join } from 'node:path';
import type { LogEntry } from '../parse/log-line.js';
import type { JournalConsumer } from '../sources/journal-consumer.js';
import { FORK_REJECTED_LITERAL, forkRejectedCgroup, podUidFromCgroupPath } from './cgroup-pids.js';
import { scanPodPids } from './cgroup-scan.js';
import type { Probe } from './framework.js';
import { ProbeUnavailable, readHostFile } from './host.js';
import { nodePidFinding, podPidFindings } from './pids-checks.js';
import { parseLoadavgTasks } from './proc-parse.js';

export interface PidsProbeOptions {
  intervalMs: number;
  procRoot: string;
  cgroupRoot: string;
  /** PIDPressure when tasks reach this percentage of min(pid_max, threads-max). */
  nodePercent: number;
  /** PodPIDsExhausted when a pod reaches this percentage of its pids.max. */
  podPercent: number;
}

function int(text: string, path: string): number {
  const n = Number(text.trim());
  if (!Number.isInteger(n) || n <= 0)
    throw new ProbeUnavailable(`${path}: unexpected content ${JSON.stringify(text.slice(0, 40))}`);
  return n;
}

export function nodePidsProbe(opts: PidsProbeOptions): Probe {
  return {
    name: 'pids',
    intervalMs: opts.intervalMs,
    async tick() {
      const files = ['loadavg', 'sys/kernel/pid_max', 'sys/kernel/threads-max'].map((f) => join(opts.procRoot, f));
      const [loadavg, pidMax, threadsMax] = await Promise.all(files.map(readHostFile));
      const tasks = parseLoadavgTasks(loadavg);
      if (tasks === undefined) throw new ProbeUnavailable(`${files[0]}: unexpected content`);
      const node = { tasks, pidMax: int(pidMax, files[1]), threadsMax: int(threadsMax, files[2]) };
      const over = nodePidFinding(node, opts.nodePercent, undefined).active;
      // Which pods hold the PIDs is only worth a cgroup walk when the node is under pressure.
      const pods = over ? await scanPodPids(opts.cgroupRoot).catch(() => undefined) : undefined;
      return [nodePidFinding(node, opts.nodePercent, pods)];
    },
  };
}

/** Kernel lines kept per pod uid; the kernel prints one per cgroup, so this only bounds churn. */
const MAX_KERNEL_LINES = 256;

export function podPidsProbe(opts: PidsProbeOptions): { probe: Probe; consumer: JournalConsumer } {
  let rejections = new Map<string, number>();
  const kernelLines = new Map<string, string>();
  const consumer: JournalConsumer = {
    name: 'pod-pids',
    literals: [FORK_REJECTED_LITERAL],
    onEntry(entry: LogEntry) {
      const path = forkRejectedCgroup(entry.message);
      const uid = path && podUidFromCgroupPath(path);
      if (!uid) return;
      kernelLines.delete(uid);
      kernelLines.set(uid, entry.message.trim());
      if (kernelLines.size > MAX_KERNEL_LINES) kernelLines.delete(kernelLines.keys().next().value as string);
    },
  };
  const probe: Probe = {
    name: 'pod-pids',
    intervalMs: opts.intervalMs,
    async tick() {
      const pods = await scanPodPids(opts.cgroupRoot);
      const r = podPidFindings(pods, opts.podPercent, { rejections, kernelLines });
      rejections = r.rejections;
      return r.findings;
    },
  };
  return { probe, consumer };
}
