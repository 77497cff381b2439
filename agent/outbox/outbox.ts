// Drops and findings -> sealed envelopes in the spool -> NATS with a bounded in-flight window.
// Retries reuse the message ID, so JetStream de-duplicates a publish whose ack was lost. A disk that
// refuses writes never stops the outbox: seals then wait in memory (seal-store.ts).
import type { Logger } from '../../common/log.js';
import { subjectFor, type BodyKind } from '../../common/subjects.js';
import { encodeEnvelope, type Envelope, type Heartbeat, type RuntimeSnapshot } from '../../proto/codec.js';
import type { Drop } from '../parse/packet-drop.js';
import type { FindingReport } from '../findings.js';
import { Coalescer } from './coalescer.js';
import type { SpoolMessage, SpoolItem } from './spool.js';
import { SealStore, diskFailure, type DiskFailure } from './seal-store.js';
import { StateDirHealth } from './state-dir-health.js';
import { removeTmpLeftovers } from './durable-fs.js';
import { MessageIds } from './message-ids.js';
import { resumePoint, saveCheckpoint, type Checkpoint } from './checkpoint.js';
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

export const OUTBOX_COUNTERS = [
  'drop_lines',
  'flows_sealed',
  'messages_published',
  'publish_errors',
  'spool_evicted_messages',
  'findings',
  'spool_write_failures',
  'checkpoint_write_failures',
  'publish_duplicates_unexpected',
] as const;
export type OutboxCounter = (typeof OUTBOX_COUNTERS)[number];

/** Drops per message: far below NATS' 1 MiB max_payload even with 2 KiB samples. */
const DROPS_PER_MESSAGE = 200;

export class Outbox {
  private readonly coalescer = new Coalescer();
  private readonly store: SealStore;
  private readonly health: StateDirHealth;
  private index: number;
  private readonly ids: MessageIds;
  /** Everything the journal reader passed before this cursor is in a held seal, acked, or not a drop. */
  private cursor?: string;
  private saved?: Checkpoint;
  private evicting = false;
  private windowStart = 0;
  private pending: number[];
  private inFlight = 0;
  private readonly busy = new Set<number>();
  private retryAt = 0;
  private timer?: NodeJS.Timeout;
  private sealTimer?: NodeJS.Timeout;

  constructor(private readonly o: OutboxOptions) {
    const spoolDir = `${o.stateDir}/spool`;
    const leftovers = [...removeTmpLeftovers(o.stateDir), ...removeTmpLeftovers(spoolDir).map((n) => `spool/${n}`)];
    if (leftovers.length) o.log.info({ removed: leftovers }, 'outbox: removed unfinished writes of an earlier process');
    this.store = new SealStore(spoolDir, o.spoolMaxBytes);
    this.health = new StateDirHealth(o.log);
    this.ids = new MessageIds(o.node, o.agentId);
    const r = resumePoint(o.stateDir, this.store);
    this.index = r.index;
    this.cursor = r.cursor;
    this.saved = r;
    this.pending = this.store.indexes();
  }

  /** Where the journal should resume (undefined on a first start). */
  get resumeCursor(): string | undefined {
    return this.cursor;
  }
  get spoolBytes(): number {
    return this.store.totalBytes;
  }
  get spoolMemoryBytes(): number {
    return this.store.memoryBytes;
  }
  /** Flows in the open coalescing window (the scale bench reads it). */
  get openFlows(): number {
    return this.coalescer.size;
  }
  get spoolMessages(): number {
    return this.pending.length;
  }

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
    this.write(
      [
        this.envelope('finding', {
          finding: {
            kind: f.kind,
            severity: f.severity,
            active: f.active,
            message: f.message,
            pod: f.pod,
            evidence: f.evidence,
            key: f.key ?? '',
            firstSeenMs: now,
            lastSeenMs: now,
          },
        }),
      ],
      this.cursor,
    );
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
    if (this.store.memoryCount > 0) this.flushMemory();
    this.advanceCursor();
    this.saveCheckpoint(true);
    this.pump();
  }

  /** With nothing open, every record read so far is accounted for, so the cursor may move on. */
  private advanceCursor(): void {
    if (this.coalescer.size > 0) return;
    const c = this.o.journalCursor();
    if (c) this.cursor = c;
  }

  /** Retry of the disk: memory seals go to disk, oldest first. */
  private flushMemory(): void {
    const r = this.store.flush();
    if (r.failure) this.diskFailed(r.failure, 'spool_write_failures');
    else this.diskWorked();
  }

  /**
   * Saves index and safe cursor when they changed. While the disk is failing, only the tick retries it
   * (probing whether the disk works again), not every seal.
   */
  private saveCheckpoint(fromTick: boolean): void {
    if (this.health.isFailing && !fromTick) return;
    const c: Checkpoint = { index: this.index, cursor: this.store.safeCursor(this.cursor) ?? this.saved?.cursor };
    if (!this.health.isFailing && c.index === this.saved?.index && c.cursor === this.saved?.cursor) return;
    try {
      saveCheckpoint(this.o.stateDir, c);
      this.saved = c;
      this.diskWorked();
    } catch (err) {
      this.diskFailed(diskFailure(err, this.o.stateDir), 'checkpoint_write_failures');
    }
  }

  private diskFailed(f: DiskFailure, counter: OutboxCounter): void {
    this.o.count(counter);
    const finding = this.health.failed(f, this.store.memoryBytes);
    if (finding) this.addFinding(finding);
  }

  private diskWorked(): void {
    const finding = this.health.succeeded(this.store.memoryCount);
    if (finding) this.addFinding(finding);
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
    const { seq, msgId } = this.ids.next();
    const env: Envelope = {
      node: this.o.node,
      agentId: this.o.agentId,
      seq,
      sentMs: Date.now(),
      agentVersion: this.o.agentVersion,
      ...body,
    };
    return { subject: subjectFor(this.o.node, kind), msgId, data: encodeEnvelope(env) };
  }

  private write(messages: SpoolMessage[], cursor: string | undefined): void {
    const index = ++this.index;
    const r = this.store.write({ index, cursor: cursor ?? '', messages }, this.cursor);
    this.pending.push(index);
    if (r.evictedSeals) {
      const held = new Set(this.store.indexes());
      this.pending = this.pending.filter((i) => held.has(i));
      this.o.count('spool_evicted_messages', r.evictedMessages);
      // Once per episode: while over budget, every seal evicts another.
      if (!this.evicting)
        this.o.log.error(
          {
            evictedMessages: r.evictedMessages,
            spoolBytes: this.store.totalBytes,
            memoryBytes: this.store.memoryBytes,
          },
          'outbox: spool budget full; dropping the oldest unsent data (counted in spool_evicted_messages)',
        );
      this.evicting = true;
    } else if (this.evicting) {
      this.evicting = false;
      this.o.log.info({ spoolBytes: this.store.totalBytes }, 'outbox: spool budget no longer full');
    }
    this.cursor = cursor ?? this.cursor;
    if (r.failure) this.diskFailed(r.failure, 'spool_write_failures');
    else if (this.store.memoryCount === 0) this.diskWorked();
    this.saveCheckpoint(false);
  }

  /** Publishes spooled seals, oldest first, with at most maxInFlight messages outstanding. */
  pump(): void {
    if (!this.o.publisher.connected || Date.now() < this.retryAt) return;
    for (const index of this.pending) {
      if (this.inFlight >= this.o.maxInFlight) return;
      if (this.busy.has(index)) continue;
      this.busy.add(index);
      let item: SpoolItem;
      try {
        item = this.store.read(index);
      } catch (err) {
        this.o.log.error({ index, err: (err as Error).message }, 'outbox: unreadable spool file dropped');
        this.done(index);
        continue;
      }
      this.inFlight += item.messages.length;
      const firstTime = this.ids.sending(item.messages, this.store.isResumed(index));
      const sends = item.messages.map((m) => this.o.publisher.publish(m.subject, m.data, m.msgId));
      void Promise.allSettled(sends).then((results) => {
        this.inFlight -= item.messages.length;
        const failed = results.filter((r) => r.status === 'rejected') as PromiseRejectedResult[];
        const usurped = results.flatMap((r, i) =>
          r.status === 'fulfilled' && r.value.duplicate && firstTime[i] ? [i] : [],
        );
        if (usurped.length) {
          this.republish(item, usurped);
        } else if (failed.length === 0) {
          this.o.count('messages_published', results.length);
          this.done(index, item);
        } else {
          this.busy.delete(index);
          this.o.count('publish_errors', failed.length);
          // Back off briefly; a whole seal is retried with the same message IDs.
          this.retryAt = Date.now() + 1000;
          this.o.log.warn(
            { index, err: String(failed[0].reason?.message ?? failed[0].reason) },
            'outbox: publish failed; will retry',
          );
        }
        this.pump();
      });
    }
  }

  /**
   * JetStream already had these message IDs although this process never sent them before: someone
   * else publishes under this agent's IDs (a clone with the same state, a replayed spool, an attacker).
   * Our data would silently vanish as a "duplicate", so it goes again under fresh IDs, in place.
   */
  private republish(item: SpoolItem, usurped: number[]): void {
    const messages = item.messages.map((m, i) => {
      if (!usurped.includes(i)) return m;
      this.o.count('publish_duplicates_unexpected');
      const fresh = this.ids.reissue(m);
      this.o.log.error(
        { msgId: m.msgId, republishedAs: fresh.msgId },
        'outbox: NATS already had a message ID this agent never sent; someone else publishes with its IDs. Sent again under a new ID',
      );
      return fresh;
    });
    const failure = this.store.replace({ ...item, messages });
    if (failure) this.diskFailed(failure, 'spool_write_failures');
    this.busy.delete(item.index);
    this.pump();
  }

  private done(index: number, item?: SpoolItem): void {
    this.busy.delete(index);
    this.store.remove(index);
    if (item) this.ids.done(item.messages);
    this.pending = this.pending.filter((i) => i !== index);
  }

  /** Seals what is open and waits (bounded) for in-flight publishes. */
  async stop(waitMs = 3000): Promise<void> {
    clearInterval(this.timer);
    clearTimeout(this.sealTimer);
    this.seal();
    this.advanceCursor();
    this.saveCheckpoint(true);
    this.pump();
    const until = Date.now() + waitMs;
    while ((this.inFlight > 0 || (this.pending.length > 0 && this.o.publisher.connected)) && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}
