// The layer cache's one write rule: a cache entry is built in a scratch directory and moved into
// place whole, so a concurrent build (another test, a cluster harness) never sees half an entry
// or has its entry deleted under it.
import { renameSync, rmSync } from 'node:fs';

/** Moves `staged` to `dir`, replacing an older entry; the rename itself is atomic. */
export function publishEntry(staged: string, dir: string): void {
  const old = `${dir}.old-${process.pid}`;
  try {
    renameSync(dir, old);
  } catch {
    // no older entry
  }
  renameSync(staged, dir);
  rmSync(old, { recursive: true, force: true });
}
