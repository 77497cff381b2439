// Pure: kubelet pod cgroup names and the cgroup `pids` controller files (v1 and v2 print the same).

/** pids.max is a number or "max" (unlimited). */
export type PidsLimit = number | 'max';

export interface PodPids {
  uid: string;
  /** Path below the cgroup root, e.g. pids/kubepods/burstable/pod<uid>. */
  cgroup: string;
  current: number;
  max: PidsLimit;
  /** pids.events "max": forks rejected because a limit was hit; undefined when unreadable. */
  forkRejections?: number;
}

// cgroupfs driver: pod<uid>; systemd driver: kubepods[-<qos>]-pod<uid with _ for ->.slice.
// Static pods have a 32-hex uid without dashes, hence the loose length.
const CGROUPFS_POD = /^pod([0-9a-f][0-9a-f-]{30,35})$/;
const SYSTEMD_POD = /^kubepods(?:-[a-z]+)?-pod([0-9a-f][0-9a-f_]{30,35})\.slice$/;

/** The pod uid a kubelet pod cgroup directory name carries, or undefined. */
export function podUidFromCgroupName(name: string): string | undefined {
  const c = CGROUPFS_POD.exec(name);
  if (c) return c[1];
  const s = SYSTEMD_POD.exec(name);
  return s ? s[1].replace(/_/g, '-') : undefined;
}

/** The pod uid in a cgroup path such as the kernel prints ("/kubepods/burstable/pod<uid>/<ctr>"). */
export function podUidFromCgroupPath(path: string): string | undefined {
  for (const seg of path.split('/')) {
    const uid = podUidFromCgroupName(seg);
    if (uid) return uid;
  }
  return undefined;
}

export function parsePidsCurrent(text: string): number | undefined {
  const t = text.trim();
  return /^\d+$/.test(t) ? Number(t) : undefined;
}

export function parsePidsMax(text: string): PidsLimit | undefined {
  const t = text.trim();
  if (t === 'max') return 'max';
  return /^\d+$/.test(t) ? Number(t) : undefined;
}

/** pids.events is flat-keyed ("max 6"); the count of forks rejected at a limit. */
export function parsePidsEvents(text: string): number | undefined {
  const m = /^max (\d+)$/m.exec(text);
  return m ? Number(m[1]) : undefined;
}

const FORK_REJECTED = 'fork rejected by pids controller in ';

/** The cgroup path of a kernel "cgroup: fork rejected by pids controller in <path>" line. */
export function forkRejectedCgroup(message: string): string | undefined {
  const i = message.indexOf(FORK_REJECTED);
  if (i < 0) return undefined;
  const path = message
    .slice(i + FORK_REJECTED.length)
    .trim()
    .split(/\s/)[0];
  return path || undefined;
}

export const FORK_REJECTED_LITERAL = 'fork rejected by pids controller';
