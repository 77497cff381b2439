// Where the journal reader resumes: the cursor up to which every record is either on disk in the
// spool, already acknowledged by NATS, or not a drop (see safeCursor in budget.ts). Written after the
// spool file it covers.
import { readFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { SpoolItem } from './spool.js';
import { writeDurably } from './durable-fs.js';

export interface Checkpoint {
  /** Highest spool index ever written. */
  index: number;
  cursor?: string;
}

export function loadCheckpoint(stateDir: string): Checkpoint {
  try {
    const c = JSON.parse(readFileSync(join(stateDir, 'checkpoint.json'), 'utf8')) as Checkpoint;
    return { index: Number(c.index) || 0, cursor: typeof c.cursor === 'string' && c.cursor ? c.cursor : undefined };
  } catch {
    return { index: 0 };
  }
}

/** Throws the fs error when the disk refuses (the caller keeps the older checkpoint, which is safe). */
export function saveCheckpoint(stateDir: string, c: Checkpoint): void {
  mkdirSync(stateDir, { recursive: true });
  writeDurably(stateDir, 'checkpoint.json', JSON.stringify(c));
}

/** The spool may be newer than the checkpoint if the agent died between the two writes. */
export function resumePoint(
  stateDir: string,
  spool: { indexes(): number[]; read(index: number): SpoolItem },
): Checkpoint {
  const c = loadCheckpoint(stateDir);
  const idx = spool.indexes();
  const newest = idx[idx.length - 1];
  if (newest !== undefined && newest > c.index) {
    const cursor = spool.read(newest).cursor;
    return { index: newest, cursor: cursor || c.cursor };
  }
  return c;
}
