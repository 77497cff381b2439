// Durable outbox: every sealed message is a file under <state>/spool until NATS acknowledges it.
// Each file also records the journal cursor up to which everything was accounted for, so a
// restarted agent neither loses nor re-reads drops (see checkpoint.ts).
import { mkdirSync, readdirSync, readFileSync, writeFileSync, renameSync, unlinkSync, statSync, openSync, fsyncSync, closeSync } from 'node:fs';
import { join } from 'node:path';

export interface SpoolMessage {
  subject: string;
  msgId: string;
  data: Uint8Array;
}

/** One seal of the outbox: its messages are written (and survive a crash) together. */
export interface SpoolItem {
  index: number;
  cursor: string;
  messages: SpoolMessage[];
}

const NAME = /^(\d{12})\.msg$/;

export class Spool {
  private bytes = 0;
  private sizes = new Map<number, number>();

  constructor(private readonly dir: string, private readonly maxBytes: number) {
    mkdirSync(dir, { recursive: true });
    for (const i of this.indexes()) {
      const size = statSync(this.path(i)).size;
      this.sizes.set(i, size);
      this.bytes += size;
    }
  }

  get totalBytes(): number { return this.bytes; }
  get count(): number { return this.sizes.size; }

  indexes(): number[] {
    return readdirSync(this.dir).map((f) => NAME.exec(f)).filter((m): m is RegExpExecArray => !!m).map((m) => Number(m[1])).sort((a, b) => a - b);
  }

  /** Writes atomically; returns the indexes evicted (oldest first) to stay under the byte bound. */
  write(item: SpoolItem): number[] {
    const meta = item.messages.map((m) => ({ subject: m.subject, msgId: m.msgId, len: m.data.length }));
    const header = Buffer.from(JSON.stringify({ cursor: item.cursor, messages: meta }));
    const len = Buffer.alloc(4);
    len.writeUInt32BE(header.length);
    const body = Buffer.concat([len, header, ...item.messages.map((m) => m.data)]);
    const tmp = join(this.dir, `.${item.index}.tmp`);
    writeFileSync(tmp, body);
    const fd = openSync(tmp, 'r');
    try { fsyncSync(fd); } finally { closeSync(fd); }
    renameSync(tmp, this.path(item.index));
    this.sizes.set(item.index, body.length);
    this.bytes += body.length;
    const evicted: number[] = [];
    for (const i of this.sizes.keys()) {
      if (this.bytes <= this.maxBytes || i === item.index) break;
      this.remove(i);
      evicted.push(i);
    }
    return evicted;
  }

  read(index: number): SpoolItem {
    const buf = readFileSync(this.path(index));
    const n = buf.readUInt32BE(0);
    const h = JSON.parse(buf.subarray(4, 4 + n).toString()) as { cursor: string; messages: { subject: string; msgId: string; len: number }[] };
    let off = 4 + n;
    const messages = h.messages.map((m) => {
      const data = new Uint8Array(buf.subarray(off, off + m.len));
      off += m.len;
      return { subject: m.subject, msgId: m.msgId, data };
    });
    return { index, cursor: h.cursor, messages };
  }

  remove(index: number): void {
    const size = this.sizes.get(index);
    if (size === undefined) return;
    try { unlinkSync(this.path(index)); } catch { /* already gone */ }
    this.sizes.delete(index);
    this.bytes -= size;
  }

  private path(i: number): string {
    return join(this.dir, `${String(i).padStart(12, '0')}.msg`);
  }
}
