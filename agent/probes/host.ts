// Reading host files the way every probe needs: absent or forbidden means "cannot run here", not an alarm.
import { readFile } from 'node:fs/promises';

/** The probe cannot run on this host (file absent, command missing, permission denied). */
export class ProbeUnavailable extends Error {}

function isMissing(e: unknown): e is NodeJS.ErrnoException {
  const code = (e as NodeJS.ErrnoException).code;
  // ESRCH: a /proc/<pid> file of a process that exited while being read
  return code === 'ENOENT' || code === 'ENOTDIR' || code === 'EACCES' || code === 'EPERM' || code === 'ESRCH';
}

/** A small procfs/sysfs/cgroupfs file; absent or unreadable throws ProbeUnavailable. */
export async function readHostFile(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    if (isMissing(e)) throw new ProbeUnavailable(`${path}: ${(e as NodeJS.ErrnoException).code}`);
    throw e;
  }
}

/** A file that only exists on some hosts (e.g. bridge netfilter sysctls); undefined when absent. */
export async function readOptionalFile(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    if (isMissing(e)) return undefined;
    throw e;
  }
}
