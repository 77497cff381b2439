// Drops and findings -> sealed envelopes in the spool -> NATS with a bounded in-flight window.
// Retries reuse the message ID, so JetStream de-duplicates a publish whose ack was lost.
import type { Logger } from '../../common/log.js';
import { subjectFor, messageId, type BodyKind } from '../../common/subjects.js';
import { encodeEnvelope, type Envelope, type Heartbeat, type RuntimeSnapshot } from '../../proto/codec.js';
import type { Drop } from '../parse/packet-drop.js';
import type { FindingReport } from '../findings.js';
import { Coalescer } from './coalescer.js';
import { Spool, type SpoolMessage } from './spool.js';
import { resumePoint, saveCheckpoint } from './checkpoint.js';
import type { Publisher } from './publisher.js';

export interface OutboxOptions {
  node: string;
  agentId: string;
  agentVersion: string;
  stateDir: string;
  spoolMaxBytes: number;
  /** Coalescing window while NATS is reachable. */
  windowMs: number;
  /** While NATS is away a window is held (counts keep growing) up to this long before it is spooled. */
  maxHoldMs: number;
  maxFlows: number;
  maxInFlight: number;
  publisher: Publisher;
  /** Cursor of the last journal record read; everything before it has reached add(). */
  journalCursor: () => string | undefined;
  log: Logger;
  count: (name: OutboxCounter, n?: number) => void;
}

export type OutboxCounter = 'drop_lines' | 'flows_sealed' | 'messages_published' | 'publish_errors' | 'spool_evicted_messages' | 'findings';

/** Drops per message: far below NATS' 1 MiB max_payload even with 2 KiB samples. */
const DROPS_PER_MESSAGE = 200;

export class Outbox {
  private readonly coalescer = new Coalescer();
  private readonly spool: Spool;
  private index: number;
  private seq = 0;
  private cursor?: string;
  private windowStart = 0;
  private pending: number[];
  private inFlight = 0;
  private readonly busy = new Set<number>();
  private retryAt = 0;
  private timer?: NodeJS.Timeout;
  private sealTimer?: NodeJS.Timeout;

  constructor(private readonly o: OutboxOptions) {
    this.spool = new Spool(`${o.stateDir}/spool`, o.spoolMaxBytes);
    const r = resumePoint(o.stateDir, this.spool);
    this.index = r.index;
    this.cursor = r.cursor;
    this.pending = this.spool.indexes();
  }

  /** Where the journal should resume (undefined on a first start). */
  get resumeCursor(): string | undefined { return this.cursor; }
  get spoolBytes(): number { return this.spool.totalBytes; }
  get spoolMessages(): number { return this.pending.length; }
  get openFlows(): number { return this.coalescer.size; }

  /** Housekeeping once a second; windows have their own timer, so an idle agent barely wakes up. */
  start(): void {
    this.timer = setInterval(() => this.tick(), 1000);
  }

  addDrop(d: Drop, timeMs: number): void {
    if (this.coalescer.size === 0) {
      this.windowStart = Date.now();
      this.armSeal(this.o.windowMs);
    }
    this.o.count('drop_lines');
    if (this.coalescer.add(d, timeMs, this.o.maxFlows)) this.seal();
  }

  private armSeal(ms: number): void {
    clearTimeout(this.sealTimer);
    this.sealTimer = setTimeout(() => this.onWindowEnd(), ms);
  }

  /** Seals when NATS can take it; while it is away the window keeps counting, up to maxHoldMs. */
  private onWindowEnd(): void {
    if (this.coalescer.size === 0) return;
    const age = Date.now() - this.windowStart;
    if (this.o.publisher.connected || age >= this.o.maxHoldMs) {
      this.seal();
      this.pump();
    } else {
      this.armSeal(Math.min(1000, this.o.maxHoldMs - age));
    }
  }

  addFinding(f: FindingReport): void {
    this.o.count('findings');
    const now = Date.now();
    this.write([this.envelope('finding', {
      finding: { kind: f.kind, severity: f.severity, active: f.active, message: f.message, pod: f.pod, evidence: f.evidence, key: f.key ?? '', firstSeenMs: now, lastSeenMs: now },
    })], this.cursor);
    this.pump();
  }

  /** Runtime snapshots are spooled like findings: a change must not be lost in an outage. */
  addRuntime(snapshot: RuntimeSnapshot): void {
    this.write([this.envelope('runtime', { runtime: snapshot })], this.cursor);
    this.pump();
  }

  /** Heartbeats are not spooled: only the latest one matters. */
  sendHeartbeat(hb: Heartbeat): void {
    if (!this.o.publisher.connected) return;
    const m = this.envelope('heartbeat', { heartbeat: hb });
    this.o.publisher.publish(m.subject, m.data, m.msgId).catch(() => this.o.count('publish_errors'));
  }

  tick(): void {
    this.advanceCursor();
    this.pump();
  }

  /** With nothing open, every record read so far is accounted for, so the saved cursor may move on. */
  private advanceCursor(): void {
    if (this.coalescer.size > 0) return;
    const c = this.o.journalCursor();
    if (c && c !== this.cursor) {
      this.cursor = c;
      saveCheckpoint(this.o.stateDir, { index: this.index, cursor: c });
    }
  }

  /** Seals the open window into the spool; the cursor it records covers everything in it. */
  seal(): void {
    const drops = this.coalescer.take();
    if (drops.length === 0) return;
    this.o.count('flows_sealed', drops.length);
    const msgs: SpoolMessage[] = [];
    for (let i = 0; i < drops.length; i += DROPS_PER_MESSAGE) {
      msgs.push(this.envelope('drops', { drops: { drops: drops.slice(i, i + DROPS_PER_MESSAGE) } }));
    }
    this.write(msgs, this.o.journalCursor() ?? this.cursor);
  }

  private envelope(kind: BodyKind, body: Partial<Envelope>): SpoolMessage {
    const seq = ++this.seq;
    const env: Envelope = { node: this.o.node, agentId: this.o.agentId, seq, sentMs: Date.now(), agentVersion: this.o.agentVersion, ...body };
    return { subject: subjectFor(this.o.node, kind), msgId: messageId(this.o.node, this.o.agentId, seq), data: encodeEnvelope(env) };
  }

  private write(messages: SpoolMessage[], cursor: string | undefined): void {
    const index = ++this.index;
    const evicted = this.spool.write({ index, cursor: cursor ?? '', messages });
    if (evicted.length) {
      this.pending = this.pending.filter((i) => !evicted.includes(i));
      this.o.count('spool_evicted_messages', evicted.length);
      this.o.log.error({ evictedSeals: evicted.length, spoolBytes: this.spool.totalBytes }, 'outbox: spool full; dropped the oldest unsent data');
    }
    this.pending.push(index);
    this.cursor = cursor ?? this.cursor;
    saveCheckpoint(this.o.stateDir, { index, cursor: this.cursor });
  }

  /** Publishes spooled seals, oldest first, with at most maxInFlight messages outstanding. */
  pump(): void {
    if (!this.o.publisher.connected || Date.now() < this.retryAt) return;
    for (const index of this.pending) {
      if (this.inFlight >= this.o.maxInFlight) return;
      if (this.busy.has(index)) continue;
      this.busy.add(index);
      let item;
      try {
        item = this.spool.read(index);
      } catch (err) {
        this.o.log.error({ index, err: (err as Error).message }, 'outbox: unreadable spool file dropped');
        this.done(index);
        continue;
      }
      this.inFlight += item.messages.length;
      const sends = item.messages.map((m) => this.o.publisher.publish(m.subject, m.data, m.msgId));
      void Promise.allSettled(sends).then((results) => {
        this.inFlight -= item.messages.length;
        const failed = results.filter((r) => r.status === 'rejected') as PromiseRejectedResult[];
        if (failed.length === 0) {
          this.o.count('messages_published', results.length);
          this.done(index);
        } else {
          this.busy.delete(index);
          this.o.count('publish_errors', failed.length);
          // Back off briefly; a whole seal is retried with the same message IDs.
          this.retryAt = Date.now() + 1000;
          this.o.log.warn({ index, err: String(failed[0].reason?.message ?? failed[0].reason) }, 'outbox: publish failed; will retry');
        }
        this.pump();
      });
    }
  }

  private done(index: number): void {
    this.busy.delete(index);
    this.spool.remove(index);
    this.pending = this.pending.filter((i) => i !== index);
  }

  /** Seals what is open and waits (bounded) for in-flight publishes. */
  async stop(waitMs = 3000): Promise<void> {
    clearInterval(this.timer);
    clearTimeout(this.sealTimer);
    this.seal();
    this.advanceCursor();
    this.pump();
    const until = Date.now() + waitMs;
    while ((this.inFlight > 0 || (this.pending.length > 0 && this.o.publisher.connected)) && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}
