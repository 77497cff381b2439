// Splits file chunks into physical lines with their file offsets. A line without a newline is carried
// over to the next chunk, but never more than `maxLine` bytes of it: the rest of an oversize line is
// dropped until its newline, so a 10 MB line costs no more memory than a short one.

export type RawLineHandler = (line: Buffer, start: number, end: number, oversize: boolean) => void;

export const MAX_PHYSICAL_LINE = 64 * 1024 + 128;

export class OffsetLineSplitter {
  private carry = Buffer.alloc(0);
  private carryLen = 0;
  private carryStart = -1;
  private overflow = false;

  constructor(private readonly maxLine = MAX_PHYSICAL_LINE) {}

  /**
   * Feeds bytes [0, n) of `chunk`, which start at file offset `at`. `onLine` gets each complete line
   * without its "\n"; the buffer is only valid during the call. `end` is the offset after the "\n".
   */
  push(chunk: Buffer, n: number, at: number, onLine: RawLineHandler): void {
    let pos = 0;
    while (pos < n) {
      let nl = chunk.indexOf(10, pos);
      if (nl >= n) nl = -1;
      if (nl < 0) {
        this.append(chunk, pos, n, at);
        return;
      }
      if (this.carryLen === 0 && !this.overflow) {
        const len = nl - pos;
        if (len <= this.maxLine) onLine(chunk.subarray(pos, nl), at + pos, at + nl + 1, false);
        else onLine(chunk.subarray(pos, pos + this.maxLine), at + pos, at + nl + 1, true);
      } else {
        this.append(chunk, pos, nl, at);
        const line = this.carry.subarray(0, this.carryLen);
        const start = this.carryStart;
        const oversize = this.overflow;
        this.reset();
        onLine(line, start, at + nl + 1, oversize);
      }
      pos = nl + 1;
    }
  }

  private append(chunk: Buffer, from: number, to: number, at: number): void {
    if (this.carryLen === 0 && !this.overflow) this.carryStart = at + from;
    const want = to - from;
    const room = this.maxLine - this.carryLen;
    const take = Math.min(want, room);
    if (take > 0) {
      if (this.carry.length < this.carryLen + take) {
        // Grow geometrically up to the cap; typical carries are a fraction of one line.
        const size = Math.min(this.maxLine, Math.max(1024, this.carry.length * 2, this.carryLen + take));
        const next = Buffer.allocUnsafe(size);
        this.carry.copy(next, 0, 0, this.carryLen);
        this.carry = next;
      }
      chunk.copy(this.carry, this.carryLen, from, from + take);
      this.carryLen += take;
    }
    if (want > room) this.overflow = true;
  }

  /** File offset where the carried, still incomplete line starts (undefined when nothing is carried). */
  pendingStart(): number | undefined {
    return this.carryStart >= 0 ? this.carryStart : undefined;
  }

  /** Bytes currently held for an incomplete line (bounded by maxLine). */
  carried(): number {
    return this.carryLen;
  }

  reset(): void {
    this.carryLen = 0;
    this.carryStart = -1;
    this.overflow = false;
  }
}
