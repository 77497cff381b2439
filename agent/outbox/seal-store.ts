// Sealed messages waiting for NATS: on disk (Spool) while the disk takes writes, in memory while it
// refuses them (ENOSPC, EDQUOT, EIO, EROFS), both within one byte budget. Memory seals are written
// to disk on a later flush(), oldest first; until then every newer seal stays in memory too, so the
// files on disk are always the oldest seals and the newest file's cursor never skips a memory seal.
import { Spool, encodeItem, decodeItem, type SpoolItem } from './spool.js';
import { diskErrorCode } from './durable-fs.js';
import { evictions, safeCursor, type HeldSeal } from './budget.js';

export interface DiskFailure {
  code: string;
  path: string;
  message: string;
}

/** The fs error as a DiskFailure; anything that is not an fs error is a bug and is thrown on. */
export function diskFailure(err: unknown, path: string): DiskFailure {
  const code = diskErrorCode(err);
  if (!code) throw err;
  return { code, path, message: (err as Error).message };
}

interface Entry extends HeldSeal {
  messages: number;
  /** The encoded seal while it is held in memory. */
  body?: Buffer;
  /** Spooled by an earlier process (its message IDs may already have been published). */
  resumed: boolean;
}

export interface WriteResult {
  /** Seals and messages evicted (oldest first) to stay within the budget. */
  evictedSeals: number;
  evictedMessages: number;
  /** Set when the disk refused this write; the seal is then held in memory. */
  failure?: DiskFailure;
}

export class SealStore {
  private readonly spool: Spool;
  /** In index order (insertion order: indexes only grow). */
  private readonly entries = new Map<number, Entry>();
  private bytes = 0;
  private memBytes = 0;
  private memCount = 0;

  constructor(
    private readonly dir: string,
    private readonly maxBytes: number,
  ) {
    this.spool = new Spool(dir);
    for (const index of this.spool.indexes()) {
      const bytes = this.spool.size(index) ?? 0;
      this.entries.set(index, { index, bytes, inMemory: false, prevCursor: undefined, messages: 0, resumed: true });
      this.bytes += bytes;
    }
  }

  get totalBytes(): number {
    return this.bytes;
  }
  get memoryBytes(): number {
    return this.memBytes;
  }
  get memoryCount(): number {
    return this.memCount;
  }

  /** Held seals, oldest first. */
  indexes(): number[] {
    return [...this.entries.keys()];
  }
  isResumed(index: number): boolean {
    return this.entries.get(index)?.resumed ?? false;
  }

  /** The journal cursor that may be saved now (see safeCursor in budget.ts). */
  safeCursor(latest: string | undefined): string | undefined {
    return this.memCount === 0 ? latest : safeCursor(this.entries.values(), latest);
  }

  /** prevCursor: the journal cursor before this seal's records. Never throws for a full or broken disk. */
  write(item: SpoolItem, prevCursor: string | undefined): WriteResult {
    const body = encodeItem(item);
    const e: Entry = {
      index: item.index,
      bytes: body.length,
      inMemory: false,
      prevCursor,
      messages: item.messages.length,
      resumed: false,
    };
    this.entries.set(item.index, e);
    this.bytes += e.bytes;
    let failure: DiskFailure | undefined;
    // Behind a memory seal, a new one waits its turn: files on disk must stay the oldest seals.
    if (this.memCount > 0) this.hold(e, body);
    else failure = this.tryDisk(e, body);
    return { ...this.evict(), failure };
  }

  /** Rewrites a held seal with new content (e.g. new message IDs), in place and under its own index. */
  replace(item: SpoolItem): DiskFailure | undefined {
    const e = this.entries.get(item.index);
    if (!e) return undefined;
    const body = encodeItem(item);
    const wasInMemory = e.inMemory;
    this.release(e);
    this.bytes += body.length - e.bytes;
    e.bytes = body.length;
    e.messages = item.messages.length;
    e.resumed = false;
    // The old file (if any) stays until the new content replaces it: atomically, or not at all.
    if (wasInMemory || this.memCount > 0) {
      this.hold(e, body);
      return undefined;
    }
    return this.tryDisk(e, body);
  }

  /**
   * Writes memory seals to disk, oldest first, until one fails. Returns that failure, or undefined when all are on
   * disk.
   */
  flush(): { wrote: number; failure?: DiskFailure } {
    let wrote = 0;
    for (const e of this.entries.values()) {
      if (!e.body) continue;
      const body = e.body;
      this.release(e);
      const failure = this.tryDisk(e, body);
      if (failure) return { wrote, failure };
      wrote++;
    }
    return { wrote };
  }

  read(index: number): SpoolItem {
    const e = this.entries.get(index);
    if (e?.body) return decodeItem(index, e.body);
    return this.spool.read(index);
  }

  remove(index: number): void {
    const e = this.entries.get(index);
    if (!e) return;
    this.release(e);
    this.entries.delete(index);
    this.bytes -= e.bytes;
    this.spool.remove(index);
  }

  private tryDisk(e: Entry, body: Buffer): DiskFailure | undefined {
    try {
      this.spool.write(e.index, body);
      return undefined;
    } catch (err) {
      this.hold(e, body);
      return diskFailure(err, this.dir);
    }
  }

  private hold(e: Entry, body: Buffer): void {
    e.body = body;
    e.inMemory = true;
    this.memBytes += body.length;
    this.memCount++;
  }

  private release(e: Entry): void {
    if (!e.body) return;
    this.memBytes -= e.body.length;
    this.memCount--;
    e.body = undefined;
    e.inMemory = false;
  }

  private evict(): { evictedSeals: number; evictedMessages: number } {
    if (this.bytes <= this.maxBytes) return { evictedSeals: 0, evictedMessages: 0 };
    const victims = evictions(this.entries.values(), this.bytes, this.maxBytes);
    let messages = 0;
    for (const i of victims) {
      messages += this.messageCount(i);
      this.remove(i);
    }
    return { evictedSeals: victims.length, evictedMessages: messages };
  }

  /** Resumed files' message counts are only in their headers; read them when it matters. */
  private messageCount(index: number): number {
    const e = this.entries.get(index);
    if (e && e.messages > 0) return e.messages;
    try {
      return this.spool.read(index).messages.length;
    } catch {
      return 1;
    }
  }
}
