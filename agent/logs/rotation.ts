// kubelet's rotation leaves `<n>.log.<YYYYMMDD-HHMMSS>` next to the live file (plain until the next
// rotation gzips it to `.gz` via a `.tmp`). These are the files that may still hold unread lines.
import { promises as fsp } from 'node:fs';
import path from 'node:path';

export interface Sibling {
  path: string;
  dev: number;
  ino: number;
  size: number;
}

const ROTATED_SUFFIX = /^\.\d{8}-\d{6}$/;

/** `0.log.20260822-075821` is a rotated `0.log`; `.gz` and `.tmp` siblings are not (compressed or half-written). */
export function isRotatedName(liveBase: string, name: string): boolean {
  return name.startsWith(liveBase) && ROTATED_SUFFIX.test(name.slice(liveBase.length));
}

/** Plain rotated siblings of a live log file, oldest first (the timestamp in the name sorts). */
export async function rotatedSiblings(live: string): Promise<Sibling[]> {
  const dir = path.dirname(live);
  const base = path.basename(live);
  let names: string[];
  try {
    names = await fsp.readdir(dir);
  } catch {
    return [];
  }
  const out: Sibling[] = [];
  for (const name of names.filter((n) => isRotatedName(base, n)).sort()) {
    try {
      const st = await fsp.stat(path.join(dir, name));
      if (st.isFile()) out.push({ path: path.join(dir, name), dev: st.dev, ino: st.ino, size: st.size });
    } catch {
      // gzipped away between readdir and stat
    }
  }
  return out;
}

/**
 * Rotated files that were never read: those after `known` (the newest one read, by inode) and
 * before the live file. When `known` is not among them any more, nothing can be ordered safely.
 */
export function unreadAfter(
  siblings: Sibling[],
  known: { dev: number; ino: number },
  live: { dev: number; ino: number },
): Sibling[] {
  const i = siblings.findIndex((s) => s.dev === known.dev && s.ino === known.ino);
  if (i < 0) return [];
  return siblings.slice(i + 1).filter((s) => !(s.dev === live.dev && s.ino === live.ino));
}
