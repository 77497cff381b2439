// Finds kubelet's pod cgroups under a cgroup root and reads their pids files.
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { parsePidsCurrent, parsePidsEvents, parsePidsMax, podUidFromCgroupName, type PodPids } from './cgroup-pids.js';
import { ProbeUnavailable, readOptionalFile } from './host.js';

// cgroup v1 keeps the pids controller in its own hierarchy; v2 has one unified tree. Both kubelet
// cgroup drivers: cgroupfs ("kubepods") and systemd ("kubepods.slice").
const KUBEPODS = ['pids/kubepods', 'pids/kubepods.slice', 'kubepods', 'kubepods.slice'];
/** kubepods/<qos>/pod<uid>: pods sit at most two levels below kubepods. */
const MAX_DEPTH = 2;

async function subdirs(dir: string): Promise<string[] | undefined> {
  try {
    return (await readdir(dir, { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => d.name);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'EACCES') return undefined;
    throw e;
  }
}

async function readPod(root: string, rel: string, uid: string): Promise<PodPids | undefined> {
  const dir = join(root, rel);
  const [cur, max, events] = await Promise.all(
    ['pids.current', 'pids.max', 'pids.events'].map((f) => readOptionalFile(join(dir, f))),
  );
  const current = cur === undefined ? undefined : parsePidsCurrent(cur);
  const limit = max === undefined ? undefined : parsePidsMax(max);
  // Without these files the pids controller is not enabled for this subtree (e.g. a v2 tree
  // whose parent does not delegate "pids"), or the pod went away while we looked.
  if (current === undefined || limit === undefined) return undefined;
  return {
    uid,
    cgroup: rel,
    current,
    max: limit,
    forkRejections: events === undefined ? undefined : parsePidsEvents(events),
  };
}

/**
 * Every pod cgroup with pids files under `root` (e.g. /sys/fs/cgroup). Throws ProbeUnavailable when
 * there is no kubepods tree with the pids controller: not a Kubernetes node, or cgroups not mounted.
 */
export async function scanPodPids(root: string): Promise<PodPids[]> {
  const pods: PodPids[] = [];
  let found = false;
  for (const top of KUBEPODS) {
    const walk = async (rel: string, depth: number): Promise<void> => {
      const names = await subdirs(join(root, rel));
      if (!names) return;
      await Promise.all(
        names.map(async (name) => {
          const uid = podUidFromCgroupName(name);
          if (uid) {
            const pod = await readPod(root, join(rel, name), uid);
            if (pod) pods.push(pod);
          } else if (depth < MAX_DEPTH) await walk(join(rel, name), depth + 1);
        }),
      );
    };
    if ((await readOptionalFile(join(root, top, 'pids.current'))) === undefined) continue;
    found = true;
    await walk(top, 1);
  }
  if (!found)
    throw new ProbeUnavailable(
      `no kubepods cgroup with the pids controller under ${root} (looked for ${KUBEPODS.join(', ')})`,
    );
  return pods;
}
