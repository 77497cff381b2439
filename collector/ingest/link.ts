// The collector's one NATS connection and what it knows about it: attached or not, replay done or
// not, the stream still there or not. The API reports this as readiness and as "stale" answers
// instead of presenting an incomplete store as the truth.
import type { NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager, type JetStreamManager, type JsMsg } from '@nats-io/jetstream';
import type { Counter } from 'prom-client';
import type { Logger } from '../../common/log.js';
import { connectNats, type NatsAuth } from '../../common/nats.js';
import { STREAM } from '../../common/subjects.js';
import type { Freshness } from '../api/server.js';
import { ensureStream, followStream, type Follower, type StreamOptions } from './stream.js';
import { backoff } from '../../common/backoff.js';

export interface LinkOptions {
  nats: string;
  natsAuth: NatsAuth;
  stream: StreamOptions;
  /** How often the stream's existence and our position in it are checked. */
  checkMs: number;
}

export interface LinkHooks {
  onMessage(m: JsMsg): void;
  /** First attach only. */
  onAttached(): void;
  /** Every time the store is complete again (after the replay, a reconnect, a recreated stream). */
  onCaughtUp(): void;
  recreated: Counter;
}

export interface IngestLink {
  freshness(): Freshness;
  /** The live connection once attached (the Event path shares it: one connection per process). */
  connection(): Promise<NatsConnection>;
  /** Stream sequence of the last message read, and the stream's last sequence at the last check. */
  position(): { read: number; streamLast?: number };
  stop(): Promise<void>;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
/** A stop that cannot hang shutdown on a server that is gone. */
const bounded = (p: Promise<unknown>, ms = 2000) => Promise.race([p.catch(() => undefined), sleep(ms)]);

export function startIngestLink(o: LinkOptions, hooks: LinkHooks, log: Logger): IngestLink {
  let nc: NatsConnection | undefined;
  let jsm: JetStreamManager | undefined;
  let connected = false;
  let caughtUp = false;
  let follower: Follower | undefined;
  let generation = 0;
  let streamLastSeq: number | undefined;
  /** Creation time of the stream being followed: another one under the same name restarts at seq 1. */
  let followedCreated: string | undefined;
  let checking = false;
  let stopped = false;
  const waiters: ((c: NatsConnection) => void)[] = [];

  const markCaughtUp = (gen: number) => {
    if (gen !== generation || caughtUp) return;
    caughtUp = true;
    hooks.onCaughtUp();
  };

  /** A new reader from the stream's first message (a recreated stream starts at sequence 1 again). */
  const refollow = async (conn: NatsConnection): Promise<void> => {
    const gen = ++generation;
    caughtUp = false;
    const old = follower;
    follower = undefined;
    if (old) await bounded(old.stop());
    follower = await followStream(
      conn,
      hooks.onMessage,
      () => markCaughtUp(gen),
      log,
      () => void check(),
    );
  };

  const watchConnection = (conn: NatsConnection) => {
    void (async () => {
      for await (const s of conn.status()) {
        if (s.type === 'disconnect') {
          if (connected) log.warn('collector: NATS connection lost; answers are stale until it is back');
          connected = false;
        } else if (s.type === 'reconnect') {
          connected = true;
          // Whatever was published meanwhile is not in the store yet.
          caughtUp = false;
          log.info('collector: NATS connection back');
          void check();
        }
      }
    })().catch(() => undefined);
  };

  const check = async (): Promise<void> => {
    if (checking || stopped || !nc || !jsm || !connected) return;
    checking = true;
    const conn = nc;
    try {
      let info;
      try {
        info = await jsm.streams.info(STREAM);
      } catch (err) {
        if (!/not found/i.test((err as Error).message)) throw err;
        // Deleted, or NATS restarted without its store: agents keep publishing into nothing until it exists.
        await ensureStream(conn, o.stream, log);
        hooks.recreated.inc();
        log.warn({ stream: STREAM }, `collector: stream ${STREAM} was missing; recreated`);
        followedCreated = (await jsm.streams.info(STREAM).catch(() => undefined))?.created;
        await refollow(conn);
        return;
      }
      if (followedCreated !== undefined && info.created !== followedCreated) {
        // Recreated by another replica: our reader would wait at the old sequence numbers.
        log.warn({ stream: STREAM }, `collector: stream ${STREAM} was recreated elsewhere; reading it from its start`);
        followedCreated = info.created;
        await refollow(conn);
        return;
      }
      streamLastSeq = info.state.last_seq;
      const gen = generation;
      if (!caughtUp && follower && (info.state.messages === 0 || follower.lastStreamSeq() >= info.state.last_seq))
        markCaughtUp(gen);
    } catch (err) {
      log.debug({ err: (err as Error).message }, 'collector: stream check failed; retrying at the next one');
    } finally {
      checking = false;
    }
  };

  const attach = async (): Promise<void> => {
    const conn = await connectNats(o.nats, o.natsAuth, 'nodewarden-collector');
    try {
      if (stopped) throw new Error('stopped');
      await ensureStream(conn, o.stream, log);
      const m = await jetstreamManager(conn);
      const info = await m.streams.info(STREAM).catch(() => undefined);
      streamLastSeq = info?.state.last_seq;
      followedCreated = info?.created;
      nc = conn;
      jsm = m;
      connected = true;
      watchConnection(conn);
      await refollow(conn);
    } catch (err) {
      // A connection per failed attempt would pile up (each with its own reconnect loop).
      nc = undefined;
      jsm = undefined;
      await bounded(conn.close());
      throw err;
    }
    hooks.onAttached();
    for (const w of waiters.splice(0)) w(conn);
  };

  // NATS may come up after us; keep trying without blocking the API (it answers /readyz 503 meanwhile).
  void (async () => {
    for (let failures = 0; !stopped && !nc; failures++) {
      const delay = backoff(failures, { baseMs: 500, capMs: 10_000, jitter: 'none' });
      try {
        await attach();
      } catch (err) {
        if (stopped) return;
        log.error({ err: (err as Error).message, retryInMs: delay }, 'collector: cannot attach to NATS');
        await sleep(delay);
      }
    }
  })();
  const timer = setInterval(() => void check(), o.checkMs);
  timer.unref();

  return {
    freshness(): Freshness {
      if (!nc) return { stale: true, reason: 'NATS consumer not attached' };
      if (!connected) return { stale: true, reason: 'NATS connection lost' };
      if (!caughtUp) {
        const at = follower?.lastStreamSeq() ?? 0;
        return {
          stale: true,
          reason: streamLastSeq
            ? `replaying the stream (at message ${at} of ${streamLastSeq})`
            : 'replaying the stream',
        };
      }
      return { stale: false };
    },
    connection: () => (nc ? Promise.resolve(nc) : new Promise((r) => waiters.push(r))),
    position: () => ({ read: follower?.lastStreamSeq() ?? 0, streamLast: streamLastSeq }),
    async stop() {
      stopped = true;
      clearInterval(timer);
      if (follower) await bounded(follower.stop());
      if (nc && !nc.isClosed()) await bounded(nc.close());
    },
  };
}
