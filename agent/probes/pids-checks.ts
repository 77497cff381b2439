// Pure: node PID usage -> PIDPressure; pod pids cgroups -> PodPIDsExhausted.
import type { FindingReport } from '../findings.js';
import type { PodPids } from './cgroup-pids.js';

const TOP_PODS = 5;

/** "uid 812/1024, uid 10/max": the pods holding the most tasks. */
export function topPodsEvidence(pods: readonly PodPids[]): string {
  return [...pods]
    .sort((a, b) => b.current - a.current)
    .slice(0, TOP_PODS)
    .map((p) => `${p.uid} ${p.current}/${p.max}`)
    .join(', ');
}

export interface NodePids {
  /** Threads on the node (/proc/loadavg): each holds a PID. */
  tasks: number;
  pidMax: number;
  threadsMax: number;
}

export function nodePidFinding(
  n: NodePids,
  thresholdPercent: number,
  pods: readonly PodPids[] | undefined,
): FindingReport {
  const limit = Math.min(n.pidMax, n.threadsMax);
  const used = (n.tasks / limit) * 100;
  const active = used >= thresholdPercent;
  const evidence: Record<string, string> = {
    tasks: `${n.tasks} (/proc/loadavg)`,
    'kernel.pid_max': String(n.pidMax),
    'kernel.threads-max': String(n.threadsMax),
    used: `${used.toFixed(2)}% of ${limit}`,
    threshold: `${thresholdPercent}%`,
  };
  if (pods?.length) evidence.topPods = topPodsEvidence(pods);
  return {
    kind: 'PIDPressure',
    severity: 'critical',
    active,
    message: active
      ? `${n.tasks} of ${limit} PIDs in use (${used.toFixed(1)}%, threshold ${thresholdPercent}%): new processes and threads will soon fail to start`
      : `${n.tasks} of ${limit} PIDs in use (${used.toFixed(1)}%), below ${thresholdPercent}%`,
    evidence,
  };
}

export interface PodPidState {
  /** pids.events "max" per pod uid at the previous poll. */
  rejections: ReadonlyMap<string, number>;
  /** Kernel "fork rejected by pids controller" lines per pod uid, from the journal. */
  kernelLines: ReadonlyMap<string, string>;
}

/**
 * A pod is exhausted when it uses thresholdPercent of its pids.max, or when forks were rejected
 * since the last poll (a fork bomb can hit the limit and die between two polls).
 */
export function podPidFindings(
  pods: readonly PodPids[],
  thresholdPercent: number,
  state: PodPidState,
): { findings: FindingReport[]; rejections: Map<string, number> } {
  const findings: FindingReport[] = [];
  const rejections = new Map<string, number>();
  const top = topPodsEvidence(pods);
  for (const p of pods) {
    const before = state.rejections.get(p.uid);
    if (p.forkRejections !== undefined) rejections.set(p.uid, p.forkRejections);
    const newRejections =
      before !== undefined && p.forkRejections !== undefined ? Math.max(0, p.forkRejections - before) : 0;
    const used = p.max === 'max' ? 0 : (p.current / Math.max(1, p.max)) * 100;
    const active = used >= thresholdPercent || newRejections > 0;
    const evidence: Record<string, string> = {
      'pids.current': String(p.current),
      'pids.max': String(p.max),
      cgroup: p.cgroup,
      topPods: top,
    };
    if (p.forkRejections !== undefined)
      evidence['pids.events max'] =
        `${p.forkRejections} forks rejected${newRejections ? ` (+${newRejections} since last poll)` : ''}`;
    const line = state.kernelLines.get(p.uid);
    if (line) evidence.kernel = line;
    findings.push({
      kind: 'PodPIDsExhausted',
      severity: 'warning',
      active,
      pod: { uid: p.uid },
      key: p.uid,
      message: active
        ? `pod ${p.uid} uses ${p.current} of its ${p.max} PIDs${newRejections ? `; ${newRejections} forks were rejected` : ''}: its containers cannot start processes or threads`
        : `pod ${p.uid} uses ${p.current} of its ${p.max} PIDs`,
      evidence,
    });
  }
  return { findings, rejections };
}
