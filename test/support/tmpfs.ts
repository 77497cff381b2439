// A real, small tmpfs (root only) to run out of space on: ENOSPC from the kernel, not a simulation.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, openSync, writeSync, closeSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Tmpfs {
  dir: string;
  /** Fills the filesystem with a filler file until the kernel says ENOSPC; returns the bytes written. */
  fill(): number;
  /** Removes the filler file: space is back. */
  free(): void;
  unmount(): void;
}

export function mountTmpfs(sizeBytes: number): Tmpfs {
  const dir = mkdtempSync(join(tmpdir(), 'nw-tmpfs-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeBytes},mode=0755`, 'tmpfs', dir]);
  const filler = join(dir, 'filler');
  let mounted = true;
  const t: Tmpfs = {
    dir,
    fill() {
      const fd = openSync(filler, 'a');
      let n = 0;
      try {
        // Big chunks first, then page-sized ones: tmpfs allocates whole pages, so no page is left.
        for (const size of [1 << 20, 4096, 1]) {
          const chunk = Buffer.alloc(size, 0x5a);
          for (;;) {
            try {
              n += writeSync(fd, chunk);
            } catch (err) {
              if ((err as NodeJS.ErrnoException).code === 'ENOSPC') break;
              throw err;
            }
          }
        }
      } finally {
        closeSync(fd);
      }
      return n;
    },
    free() {
      try {
        unlinkSync(filler);
      } catch {
        /* not filled */
      }
    },
    unmount() {
      if (!mounted) return;
      mounted = false;
      try {
        execFileSync('umount', ['-l', dir]);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
  process.once('exit', () => {
    if (mounted)
      try {
        execFileSync('umount', ['-l', dir]);
      } catch {
        /* best effort */
      }
  });
  return t;
}
