// Where to start reading a file so that lines from the last `lookback` are included: a binary search
// over the line timestamps (runtimes append in time order), a few small reads instead of a full scan.
import type { FileHandle } from 'node:fs/promises';
import { parseContainerLine } from './cri-line.js';

const PROBE = 32 * 1024;

/** Offset of a line start at or before the first line whose time is >= cutoffMs (0 when unsure). */
export async function offsetAtTime(fh: FileHandle, size: number, cutoffMs: number): Promise<number> {
  const buf = Buffer.allocUnsafe(PROBE);
  let lo = 0;
  let hi = size;
  for (let guard = 0; hi - lo > PROBE && guard < 64; guard++) {
    const mid = lo + Math.floor((hi - lo) / 2);
    const probe = await lineAfter(fh, buf, mid);
    if (!probe || probe.start >= hi) {
      hi = mid;
      continue;
    }
    // An unparseable line counts as old: reading a little too much beats skipping matches.
    if (probe.time === undefined || probe.time < cutoffMs) lo = probe.end;
    else hi = probe.start;
  }
  return lo;
}

/** The first complete line starting after `pos`: its offsets and time. */
async function lineAfter(
  fh: FileHandle,
  buf: Buffer,
  pos: number,
): Promise<{ start: number; end: number; time?: number } | undefined> {
  const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
  const nl = buf.subarray(0, bytesRead).indexOf(10);
  if (nl < 0) return undefined;
  const next = buf.subarray(nl + 1, bytesRead).indexOf(10);
  if (next < 0) return undefined;
  const start = pos + nl + 1;
  const end = start + next + 1;
  const p = parseContainerLine(buf.toString('utf8', nl + 1, nl + 1 + next));
  const t = 'reject' in p ? NaN : Date.parse(p.time);
  return { start, end, time: Number.isNaN(t) ? undefined : t };
}
