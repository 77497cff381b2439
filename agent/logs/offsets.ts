// Persisted read positions of container log files, keyed by inode (paths move on rotation).
// Written atomically (tmp + fsync + rename) so a crash leaves the old or the new file, never half.
import { promises as fsp } from 'node:fs';
import path from 'node:path';

export interface FileOffset {
  /** The /var/log/containers entry the file was reached through. */
  link: string;
  /** The path the file had when it was last read (`…/0.log`, even after a rename we did not see). */
  target: string;
  dev: number;
  ino: number;
  /** Everything before this offset has been handled (a pending partial line starts at it). */
  offset: number;
}

interface StateFile {
  version: 1;
  savedAt: string;
  files: FileOffset[];
}

export const OFFSETS_FILE = 'container-log-offsets.json';

export async function loadOffsets(file: string): Promise<{ existed: boolean; files: FileOffset[] }> {
  let text: string;
  try {
    text = await fsp.readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { existed: false, files: [] };
    throw err;
  }
  try {
    const doc = JSON.parse(text) as StateFile;
    if (doc?.version !== 1 || !Array.isArray(doc.files)) throw new Error('unknown layout');
    const files = doc.files.filter(
      (f) =>
        typeof f.link === 'string' &&
        typeof f.target === 'string' &&
        Number.isFinite(f.dev) &&
        Number.isFinite(f.ino) &&
        Number.isFinite(f.offset) &&
        f.offset >= 0,
    );
    return { existed: true, files };
  } catch {
    // A corrupt state file must not stop the agent: it then behaves as on a first start.
    return { existed: false, files: [] };
  }
}

export async function saveOffsets(file: string, files: FileOffset[]): Promise<void> {
  await fsp.mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp.${process.pid}`;
  const body: StateFile = { version: 1, savedAt: new Date().toISOString(), files };
  const fh = await fsp.open(tmp, 'w', 0o600);
  try {
    await fh.writeFile(JSON.stringify(body));
    await fh.sync();
  } finally {
    await fh.close();
  }
  await fsp.rename(tmp, file);
}
