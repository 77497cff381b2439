// JetStream plumbing for the collector: the stream (created idempotently) and a replaying reader.
import type { NatsConnection } from '@nats-io/transport-node';
import {
  jetstream,
  jetstreamManager,
  DeliverPolicy,
  RetentionPolicy,
  StorageType,
  DiscardPolicy,
  type JsMsg,
  type StreamConfig,
} from '@nats-io/jetstream';
import { STREAM, SUBJECT_ROOT } from '../../common/subjects.js';
import type { Logger } from '../../common/log.js';

const NANOS_PER_MS = 1_000_000;

export interface StreamOptions {
  maxAgeMs: number;
  maxBytes: number;
  replicas: number;
}

/** Creates the stream, or updates limits if it exists; never deletes data. */
export async function ensureStream(nc: NatsConnection, o: StreamOptions, log: Logger): Promise<void> {
  const jsm = await jetstreamManager(nc);
  const cfg: Partial<StreamConfig> & { name: string } = {
    name: STREAM,
    subjects: [`${SUBJECT_ROOT}.>`],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    discard: DiscardPolicy.Old,
    max_age: o.maxAgeMs * NANOS_PER_MS,
    max_bytes: o.maxBytes,
    num_replicas: o.replicas,
    // Outlives an agent's retry of an un-acked publish, including an agent restart.
    duplicate_window: Math.min(10 * 60_000, o.maxAgeMs) * NANOS_PER_MS,
  };
  try {
    await jsm.streams.info(STREAM);
    await jsm.streams.update(STREAM, cfg);
    log.info({ stream: STREAM }, 'nats: stream exists; limits updated');
  } catch (err) {
    if (!/not found/i.test((err as Error).message)) throw err;
    await jsm.streams.add(cfg);
    log.info({ stream: STREAM }, 'nats: stream created');
  }
}

export interface Follower {
  /** Stream sequence of the last message handed to onMessage (0 before the first). */
  lastStreamSeq(): number;
  stop(): Promise<void>;
}

/**
 * Reads the whole retained stream, then follows it (an ordered consumer: no server-side state, so
 * every replica and every restart rebuilds its query store from the stream). onLost: the server
 * says the stream or consumer is gone (the caller checks and recreates; this reader cannot).
 */
export async function followStream(
  nc: NatsConnection,
  onMessage: (m: JsMsg) => void,
  onCaughtUp: () => void,
  log: Logger,
  onLost: () => void = () => undefined,
): Promise<Follower> {
  const js = jetstream(nc);
  const consumer = await js.consumers.get(STREAM, { deliver_policy: DeliverPolicy.All });
  // Short pulls: after a NATS restart the ordered consumer notices missed heartbeats within seconds
  // and recreates itself at the next stream sequence (the 30 s default leaves the API stale longer).
  const messages = await consumer.consume({ max_messages: 1000, expires: 5000 });
  void (async () => {
    for await (const s of messages.status()) {
      if (
        s.type === 'heartbeats_missed' ||
        s.type === 'ordered_consumer_recreated' ||
        s.type === 'consumer_not_found' ||
        s.type === 'stream_not_found' ||
        s.type === 'consumer_deleted'
      )
        log.warn({ status: s.type }, 'ingest: consumer status');
      if (s.type === 'consumer_not_found' || s.type === 'stream_not_found' || s.type === 'consumer_deleted') onLost();
    }
  })().catch(() => undefined);
  let caughtUp = false;
  let last = 0;
  const info = await consumer.info(true).catch(() => undefined);
  if (!info || info.num_pending === 0) {
    caughtUp = true;
    onCaughtUp();
  }
  void (async () => {
    for await (const m of messages) {
      last = m.seq;
      try {
        onMessage(m);
      } catch (err) {
        log.error({ err: (err as Error).message, seq: m.seq }, 'ingest: message handler failed');
      }
      if (!caughtUp && m.info.pending === 0) {
        caughtUp = true;
        onCaughtUp();
      }
    }
  })().catch((err: Error) => {
    log.warn({ err: err.message }, 'ingest: stream reader ended');
    onLost();
  });
  return {
    lastStreamSeq: () => last,
    stop: async () => {
      await messages.close();
    },
  };
}
