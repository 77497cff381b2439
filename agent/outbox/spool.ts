// Durable outbox: a sealed message is a file under <state>/spool until NATS acknowledges it.
// Each file also records the journal cursor up to which everything was accounted for, so a
// restarted agent neither loses nor re-reads drops (see checkpoint.ts). This class is the disk
// alone: write errors are thrown; seal-store.ts decides what happens when the disk refuses.
import { mkdirSync, readdirSync, readFileSync, unlinkSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { writeDurably } from './durable-fs.js';

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

/** The file format: 4-byte header length, JSON header (cursor, message metadata), then the bodies. */
export function encodeItem(item: SpoolItem): Buffer {
  const meta = item.messages.map((m) => ({ subject: m.subject, msgId: m.msgId, len: m.data.length }));
  const header = Buffer.from(JSON.stringify({ cursor: item.cursor, messages: meta }));
  const len = Buffer.alloc(4);
  len.writeUInt32BE(header.length);
  return Buffer.concat([len, header, ...item.messages.map((m) => m.data)]);
}

export function decodeItem(index: number, buf: Buffer): SpoolItem {
  const n = buf.readUInt32BE(0);
  const h = JSON.parse(buf.subarray(4, 4 + n).toString()) as {
    cursor: string;
    messages: { subject: string; msgId: string; len: number }[];
  };
  let off = 4 + n;
  const messages = h.messages.map((m) => {
    const data = new Uint8Array(buf.subarray(off, off + m.len));
    off += m.len;
    return { subject: m.subject, msgId: m.msgId, data };
  });
  return { index, cursor: h.cursor, messages };
}

export class Spool {
  private readonly sizes = new Map<number, number>();

  constructor(private readonly dir: string) {
    mkdirSync(dir, { recursive: true });
    for (const i of this.indexes()) this.sizes.set(i, statSync(this.path(i)).size);
  }

  /** Files present at start, oldest first: data a previous process spooled and may not have sent. */
  indexes(): number[] {
    return readdirSync(this.dir)
      .map((f) => NAME.exec(f))
      .filter((m): m is RegExpExecArray => !!m)
      .map((m) => Number(m[1]))
      .sort((a, b) => a - b);
  }

  size(index: number): number | undefined {
    return this.sizes.get(index);
  }

  /** Writes one encoded item atomically; throws the fs error when the disk refuses. */
  write(index: number, body: Buffer): void {
    mkdirSync(this.dir, { recursive: true });
    writeDurably(this.dir, this.name(index), body);
    this.sizes.set(index, body.length);
  }

  read(index: number): SpoolItem {
    return decodeItem(index, readFileSync(this.path(index)));
  }

  /** Unlinking works on a full disk; a failure here (EROFS, EIO) only leaves a file that is sent again. */
  remove(index: number): void {
    if (!this.sizes.delete(index)) return;
    try {
      unlinkSync(this.path(index));
    } catch {
      /* gone already, or the disk refuses: a later start re-sends it (same msg ID) */
    }
  }

  private name(i: number): string {
    return `${String(i).padStart(12, '0')}.msg`;
  }
  private path(i: number): string {
    return join(this.dir, this.name(i));
  }
}
