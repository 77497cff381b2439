// Reading one file (one inode) from an offset: chunked reads into a shared buffer, physical lines,
// partial-line merging, and counting of what had to be skipped. No whole-file reads, no growth.
import { promises as fsp } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { LineAssembler, type LogicalLine } from './assembler.js';
import { parseContainerLine, parseTime } from './cri-line.js';
import { OffsetLineSplitter } from './offset-lines.js';
import { offsetAtTime } from './lookback.js';

export type TailEvent =
  | 'line'
  | 'bytes'
  | 'rejected:malformed'
  | 'rejected:binary'
  | 'rejected:oversize'
  | 'cut'
  | 'rotation'
  | 'truncation'
  | 'rotated-lost'
  | 'read-error';

export type Count = (event: TailEvent, n?: number) => void;
export type LineHandler = (line: LogicalLine) => void;

export class FileTail {
  private readonly splitter = new OffsetLineSplitter();
  private readonly assembler = new LineAssembler();
  /** Drop the first line read: we started in the middle of it. */
  private skipFirst = false;
  /** Lookback: drop lines older than this until the first newer one. */
  private notBefore: number | undefined;
  private closed = false;
  /** Lines handed out during the current read (counted once per read, not per line). */
  private lines = 0;

  private constructor(
    private readonly fh: FileHandle,
    readonly path: string,
    readonly dev: number,
    readonly ino: number,
    /** Next byte to read. */
    public pos: number,
  ) {}

  /** Opens `file` (following symlinks); identity comes from the opened descriptor, not a racy stat. */
  static async open(file: string): Promise<{ tail: FileTail; size: number }> {
    const fh = await fsp.open(file, 'r');
    try {
      const st = await fh.stat();
      return { tail: new FileTail(fh, file, st.dev, st.ino, 0), size: st.size };
    } catch (err) {
      await fh.close();
      throw err;
    }
  }

  /** Starts at `offset`; when that is not right after a newline, the partial first line is skipped. */
  async seek(offset: number): Promise<void> {
    this.pos = offset;
    this.splitter.reset();
    this.assembler.reset();
    this.skipFirst = false;
    if (offset > 0) {
      const b = Buffer.alloc(1);
      const { bytesRead } = await this.fh.read(b, 0, 1, offset - 1);
      this.skipFirst = bytesRead === 1 && b[0] !== 10;
    }
  }

  skipOlderThan(ms: number): void {
    this.notBefore = ms;
  }

  async size(): Promise<number> {
    return (await this.fh.stat()).size;
  }

  /** Lookback: a line start at or before the first line written at or after `cutoffMs`. */
  offsetAtTime(size: number, cutoffMs: number): Promise<number> {
    return offsetAtTime(this.fh, size, cutoffMs);
  }

  /** Everything before this offset is handled; a restart resumes here (pending partial lines are re-read). */
  committed(): number {
    let c = this.pos;
    const a = this.splitter.pendingStart();
    const b = this.assembler.pendingStart();
    if (a !== undefined && a < c) c = a;
    if (b !== undefined && b < c) c = b;
    return c;
  }

  /** Truncated in place (copytruncate): start over; fragments from before cannot complete. */
  restart(): void {
    this.pos = 0;
    this.splitter.reset();
    this.assembler.reset();
    this.skipFirst = false;
  }

  /**
   * Reads from `pos` until EOF or `budget` bytes, handing complete logical lines to `onLine`.
   * Returns the bytes read; fewer than `budget` means EOF was reached.
   */
  async read(buf: Buffer, budget: number, onLine: LineHandler, count: Count): Promise<number> {
    let total = 0;
    const handle = (line: Buffer, start: number, _end: number, oversize: boolean) =>
      this.physical(line, start, oversize, onLine, count);
    while (total < budget && !this.closed) {
      const want = Math.min(buf.length, budget - total);
      const { bytesRead } = await this.fh.read(buf, 0, want, this.pos);
      if (bytesRead === 0) break;
      const at = this.pos;
      this.pos += bytesRead;
      total += bytesRead;
      this.splitter.push(buf, bytesRead, at, handle);
      if (bytesRead < want) break;
    }
    if (total > 0) count('bytes', total);
    if (this.lines > 0) count('line', this.lines);
    this.lines = 0;
    return total;
  }

  private physical(bytes: Buffer, start: number, oversize: boolean, onLine: LineHandler, count: Count): void {
    if (this.skipFirst) {
      this.skipFirst = false;
      return;
    }
    const text = bytes.toString('utf8');
    const p = parseContainerLine(text, bytes.length);
    if ('reject' in p) {
      count(oversize ? 'rejected:oversize' : `rejected:${p.reject}`);
      return;
    }
    // An over-long line with a valid header keeps its first bytes, like a cut merged line.
    const line = this.assembler.push(p, start);
    if (!line) return;
    if (oversize) line.cut = true;
    if (line.cut) count('cut');
    if (this.notBefore !== undefined) {
      const t = parseTime(line.time);
      if (t < this.notBefore) return;
      this.notBefore = undefined;
    }
    this.lines++;
    onLine(line);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.fh.close().catch(() => undefined);
  }
}
