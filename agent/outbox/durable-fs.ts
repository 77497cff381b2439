// The few file operations the spool and the checkpoint need to survive a crash or a power loss,
// and to tell "the disk refused" apart from a bug.
import { writeFileSync, renameSync, unlinkSync, openSync, fsyncSync, closeSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The errno code of a failed file operation (ENOSPC, EDQUOT, EIO, EROFS, ...): the disk refused, and the
 * outbox carries on from memory. undefined for anything else, which is a bug and may crash.
 */
export function diskErrorCode(err: unknown): string | undefined {
  const e = err as NodeJS.ErrnoException | undefined;
  return typeof e?.code === 'string' && typeof e.syscall === 'string' ? e.code : undefined;
}

/**
 * A rename is only durable once the directory holding the new name reaches the disk: without this
 * fsync a power loss can bring back the old checkpoint (or no spool file) although the process already
 * acted on the new one (advanced the journal, deleted the data elsewhere).
 */
export function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Writes `name` in `dir` atomically: a temp file, fsync (its bytes on disk before the name points at
 * them), rename, fsync of the directory. A failed write leaves no temp file behind: on a full disk a
 * half-written `.tmp` would hold exactly the space the next attempt needs.
 */
export function writeDurably(dir: string, name: string, data: Uint8Array | string): void {
  const tmp = join(dir, `.${name}.tmp`);
  try {
    writeFileSync(tmp, data);
    const fd = openSync(tmp, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, join(dir, name));
  } catch (err) {
    try {
      unlinkSync(tmp);
    } catch {
      /* never created, or already renamed */
    }
    throw err;
  }
  fsyncDir(dir);
}

/**
 * `.<name>.tmp` (ours) and `<name>.tmp.<pid>` (the container-log offsets) are writes a killed agent never
 * finished; nothing reads them, so they only cost space. Call before anything of this process writes.
 */
export function removeTmpLeftovers(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const n of names) {
    if (!/^\..+\.tmp$|.\.tmp\.\d+$/.test(n)) continue;
    try {
      unlinkSync(join(dir, n));
      removed.push(n);
    } catch {
      /* raced or unwritable: harmless */
    }
  }
  return removed;
}
