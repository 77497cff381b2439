// Merges partial fragments (CRI `P` … `F`, Docker pieces without "\n") into logical lines, per
// stream as kubelet does, with a byte cap so one endless partial line cannot grow memory.
import type { PhysicalLine, Stream } from './cri-line.js';

export const MAX_MERGED_BYTES = 64 * 1024;

export interface LogicalLine {
  format: 'cri' | 'docker';
  /** Timestamp text of the first fragment. */
  time: string;
  stream: Stream;
  content: string;
  /** The merged line went over the cap; `content` holds its first bytes only. */
  cut: boolean;
}

interface Pending {
  time: string;
  parts: string[];
  bytes: number;
  cut: boolean;
  /** File offset of the first fragment: nothing before it is needed to rebuild the line. */
  start: number;
}

export class LineAssembler {
  private readonly pending: Partial<Record<Stream, Pending>> = {};

  constructor(private readonly maxBytes = MAX_MERGED_BYTES) {}

  /** Returns the logical line the fragment completes, if any. `start` is the fragment's file offset. */
  push(p: PhysicalLine, start: number): LogicalLine | undefined {
    const cur = this.pending[p.stream];
    if (!cur && !p.partial) {
      if (p.contentBytes <= this.maxBytes)
        return { format: p.format, time: p.time, stream: p.stream, content: p.content, cut: false };
      return { format: p.format, time: p.time, stream: p.stream, content: cutTo(p.content, this.maxBytes), cut: true };
    }
    const acc = cur ?? (this.pending[p.stream] = { time: p.time, parts: [], bytes: 0, cut: false, start });
    if (!acc.cut) {
      const room = this.maxBytes - acc.bytes;
      if (p.contentBytes <= room) {
        acc.parts.push(p.content);
        acc.bytes += p.contentBytes;
      } else {
        if (room > 0) acc.parts.push(cutTo(p.content, room));
        acc.bytes = this.maxBytes;
        acc.cut = true;
      }
    }
    if (p.partial) return undefined;
    delete this.pending[p.stream];
    return { format: p.format, time: acc.time, stream: p.stream, content: acc.parts.join(''), cut: acc.cut };
  }

  /** Offset of the oldest fragment still waiting for its end, or undefined when none is. */
  pendingStart(): number | undefined {
    const a = this.pending.stdout?.start;
    const b = this.pending.stderr?.start;
    if (a === undefined) return b;
    return b === undefined ? a : Math.min(a, b);
  }

  /** Truncation or a new file: fragments from before cannot be completed any more. */
  reset(): void {
    delete this.pending.stdout;
    delete this.pending.stderr;
  }
}

/** The longest prefix of `s` whose UTF-8 size is at most `maxBytes` (rare path: only for cut lines). */
export function cutTo(s: string, maxBytes: number): string {
  if (s.length <= maxBytes && Buffer.byteLength(s) <= maxBytes) return s;
  const b = Buffer.from(s).subarray(0, maxBytes);
  // Drop a multi-byte character split at the end instead of emitting U+FFFD.
  let end = b.length;
  let i = end - 1;
  while (i >= 0 && (b[i] & 0xc0) === 0x80) i--;
  if (i >= 0 && b[i] >= 0xc0) {
    const need = b[i] >= 0xf0 ? 4 : b[i] >= 0xe0 ? 3 : 2;
    if (end - i < need) end = i;
  }
  return b.subarray(0, end).toString('utf8');
}
