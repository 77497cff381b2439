// The Event path: one JetStream *durable* consumer shared by all collector replicas (each message's
// Event work is done by exactly one replica; the query store keeps its own ordered consumer, so
// every replica still answers every API query), envelope -> observations -> EventWriter.
//
// A message is acked once every Event it adds to is written (acks.ts), at the latest after HOLD_MS;
// the writes record the message's stream sequence on the Event (applied.ts), so a message delivered
// again after a replica died between write and ack is not counted twice. A crash loses nothing
// written within HOLD_MS; only counts held longer (throttled or refused writes) are acked unwritten
// and would be lost with the replica (counted: nodewarden_collector_events_acked_unwritten_messages_total).
import type { NatsConnection } from '@nats-io/transport-node';
import {
  jetstream,
  jetstreamManager,
  AckPolicy,
  DeliverPolicy,
  type ConsumerMessages,
  type JetStreamManager,
} from '@nats-io/jetstream';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Logger } from '../../common/log.js';
import { onceLogger } from '../../common/log.js';
import { connectNats, type NatsAuth } from '../../common/nats.js';
import { STREAM, SUBJECT_ROOT, CONSUMER } from '../../common/subjects.js';
import { decodeEnvelope, type ValidEnvelope, type Finding } from '../../proto/codec.js';
import { SeenSet } from '../ingest/dedup.js';
import type { Resolver } from '../resolve/resolver.js';
import { dropObservations, findingObservation, type EventObject, type Observation } from './messages.js';
import type { EventWriter } from './writer.js';
import { backoff } from '../../common/backoff.js';
import { AckTracker, MAX_HELD_MESSAGES } from './acks.js';

/** Retries of the consumer after NATS errors: 0.5 s doubling to 10 s (reset once consuming). */
const RETRY = { baseMs: 500, capMs: 10_000, jitter: 'none' } as const;

/** The NetworkPolicy summary to append to a drop's Events (collector/explain/flows.ts), if any. */
export type DropReason = (
  src: string,
  dst: string,
  proto: string,
  dstPort: number | null | undefined,
  atMs: number,
) => string | undefined;

/** The durable consumer of the Event path (shared by replicas). */
export const EVENTS_CONSUMER = `${CONSUMER}-events`;

const NANOS_PER_MS = 1_000_000;
const ACK_WAIT_MS = 30_000;
/** Longest a message waits for its Events before it is acked anyway: well inside ACK_WAIT_MS. */
const HOLD_MS = 20_000;
/** How often the consumer's ack floor is read (the annotation keeps sequences above it). */
const POSITION_EVERY_MS = 5000;

export interface EventSourceStats {
  messages: number;
  drops: number;
  findings: number;
  observations: number;
  unresolvedFindings: number;
  duplicates: number;
  rejected: number;
}

/** Pure: one decoded envelope -> the Event observations it implies. */
export function envelopeObservations(
  env: ValidEnvelope,
  resolver: Resolver,
  nowMs: number,
  stats?: EventSourceStats,
  why?: DropReason,
): Observation[] {
  const m = env.msg;
  if (env.body === 'drops') {
    const out: Observation[] = [];
    for (const d of m.drops?.drops ?? []) {
      const count = Number(d.count);
      if (!(count > 0)) continue;
      const last = Number(d.lastSeenMs) || nowMs;
      const first = Number(d.firstSeenMs) || last;
      const src = resolver.resolve(d.src as string, last);
      const dst = resolver.resolve(d.dst as string, last);
      if (stats) stats.drops += count;
      const reason = why?.(d.src as string, d.dst as string, d.proto as string, d.dstPort ?? undefined, last);
      out.push(
        ...dropObservations(
          {
            src: d.src as string,
            dst: d.dst as string,
            proto: d.proto as string,
            dstPort: d.dstPort ?? undefined,
            count,
            firstSeenMs: first,
            lastSeenMs: last,
          },
          src,
          dst,
          env.node,
          reason,
        ),
      );
    }
    return out;
  }
  if (env.body === 'finding' && m.finding) {
    if (stats) stats.findings++;
    const o = findingToObservation(env.node, m.finding, resolver, nowMs);
    if (!o && stats) stats.unresolvedFindings++;
    return o ? [o] : [];
  }
  return [];
}

/**
 * A finding -> its Event observation: on the pod for pod-attributed findings (known to the pod
 * cache, or fully named by the agent), else on the Node. Undefined when the pod cannot be named.
 */
export function findingToObservation(
  node: string,
  f: Finding,
  resolver: Resolver,
  nowMs: number,
): Observation | undefined {
  let object: EventObject | undefined;
  const p = f.pod;
  if (p && (p.uid || p.name)) {
    const known = p.uid ? resolver.podByUid(p.uid) : undefined;
    if (known?.uid) object = { kind: 'Pod', namespace: known.namespace, name: known.name, uid: known.uid };
    else if (p.uid && p.namespace && p.name) object = { kind: 'Pod', namespace: p.namespace, name: p.name, uid: p.uid };
    if (!object) return undefined;
  } else object = { kind: 'Node', name: node };
  return findingObservation(
    {
      kind: f.kind ?? '',
      severity: f.severity ?? '',
      active: !!f.active,
      message: f.message ?? '',
      firstSeenMs: Number(f.firstSeenMs),
      lastSeenMs: Number(f.lastSeenMs),
    },
    object,
    node,
    nowMs,
  );
}

export interface EventSourceOptions {
  nats: string;
  natsAuth: NatsAuth;
  /** A durable created for the first time starts this far back in the stream (not the whole retention). */
  startLookbackMs?: number;
  /**
   * The collector's own connection, shared (one connection per process; it reconnects forever and is
   * closed by its owner). Without it the Event path connects on its own.
   */
  connection?: () => Promise<NatsConnection>;
  /** Appends the NetworkPolicy summary to PacketDrop messages of denied flows. */
  why?: DropReason;
  /**
   * More to wait for before consuming (the policy caches): otherwise the first repeats of a drop
   * would get an Event without the summary and later ones a second Event with it.
   */
  ready?: () => boolean;
  registry?: Registry;
}

/**
 * Consumes the stream through the shared durable consumer and feeds the writer. Waits for the pod
 * cache (Events need pod uids) and o.ready to be synced first. Reconnects and re-attaches on its own.
 */
export function startEventSource(
  o: EventSourceOptions,
  resolver: Resolver,
  writer: EventWriter,
  log: Logger,
): { stats: EventSourceStats; stop(): Promise<void> } {
  const stats: EventSourceStats = {
    messages: 0,
    drops: 0,
    findings: 0,
    observations: 0,
    unresolvedFindings: 0,
    duplicates: 0,
    rejected: 0,
  };
  const seen = new SeenSet(100_000);
  const acks = new AckTracker(HOLD_MS);
  writer.onSettled((key, seqs) => acks.settle(key, seqs));
  const registers = o.registry ? [o.registry] : [];
  const early = new Counter({
    name: 'nodewarden_collector_events_acked_unwritten_messages_total',
    help: `messages acked before all their Events were written (held ${HOLD_MS / 1000} s: throttled or refused writes)`,
    registers,
  });
  new Gauge({
    name: 'nodewarden_collector_events_unacked_messages',
    help: 'messages consumed whose Events are not all written yet (acked once they are)',
    registers,
    collect() {
      this.set(acks.size);
    },
  });
  const expiry = setInterval(() => early.inc(acks.expire()), 1000);
  expiry.unref();
  const warnOnce = onceLogger(log);
  let nc: NatsConnection | undefined;
  let messages: ConsumerMessages | undefined;
  let stopped = false;
  let wake: () => void = () => undefined;
  const stoppedSignal = new Promise<undefined>((r) => {
    wake = () => r(undefined);
  });

  /** The writer entries message `seq` added to (empty: nothing to wait for before the ack). */
  const handle = (data: Uint8Array, subject: string, seq: number): Set<string> => {
    const keys = new Set<string>();
    let env: ValidEnvelope;
    try {
      env = decodeEnvelope(data, { subject });
    } catch {
      stats.rejected++;
      return keys; // the ingest path counts and logs these
    }
    stats.messages++;
    if (env.body !== 'drops' && env.body !== 'finding') return keys;
    if (!seen.firstTime(env.node, env.agentId, env.seq)) {
      stats.duplicates++;
      return keys;
    }
    const obs = envelopeObservations(env, resolver, Date.now(), stats, o.why);
    stats.observations += obs.length;
    for (const ob of obs) {
      const key = writer.observe({ ...ob, seq });
      if (key) keys.add(key);
    }
    return keys;
  };

  /** The stream's identity and the consumer's ack floor, for the Events' record of what they count. */
  const readPosition = async (jsm: JetStreamManager, epoch: number): Promise<void> => {
    const ci = await jsm.consumers.info(STREAM, EVENTS_CONSUMER);
    writer.setStreamPosition({ epoch, floor: ci.ack_floor.stream_seq });
  };

  const ensureConsumer = async (jsm: JetStreamManager): Promise<void> => {
    try {
      const ci = await jsm.consumers.info(STREAM, EVENTS_CONSUMER);
      // made by an older version with a smaller window: holding acks until the writes needs this one
      if ((ci.config.max_ack_pending ?? 0) < MAX_HELD_MESSAGES)
        await jsm.consumers.update(STREAM, EVENTS_CONSUMER, { max_ack_pending: MAX_HELD_MESSAGES });
      return;
    } catch (err) {
      if (!/not found/i.test((err as Error).message)) throw err;
    }
    try {
      await jsm.consumers.add(STREAM, {
        durable_name: EVENTS_CONSUMER,
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.StartTime,
        opt_start_time: new Date(Date.now() - (o.startLookbackMs ?? 10 * 60_000)).toISOString(),
        filter_subject: `${SUBJECT_ROOT}.>`,
        ack_wait: ACK_WAIT_MS * NANOS_PER_MS,
        max_ack_pending: MAX_HELD_MESSAGES,
      });
      log.info({ consumer: EVENTS_CONSUMER }, 'events: durable consumer created');
    } catch (err) {
      // another replica created it first
      if (!/already (exists|in use)/i.test((err as Error).message)) throw err;
    }
  };

  const loop = async (): Promise<void> => {
    while (!(resolver.ready() && (o.ready?.() ?? true)) && !stopped) await new Promise((r) => setTimeout(r, 100));
    let failures = 0;
    while (!stopped) {
      try {
        if (!nc || nc.isClosed())
          nc = o.connection
            ? await Promise.race([o.connection(), stoppedSignal])
            : await connectNats(o.nats, o.natsAuth, 'nodewarden-collector-events');
        if (stopped || !nc) break;
        const jsm = await jetstreamManager(nc);
        await ensureConsumer(jsm);
        const epoch = Date.parse((await jsm.streams.info(STREAM)).created) || 0;
        await readPosition(jsm, epoch);
        const position = setInterval(
          () =>
            void readPosition(jsm, epoch).catch((err: Error) =>
              warnOnce('position', 'events: cannot read the consumer position', { err: err.message }),
            ),
          POSITION_EVERY_MS,
        );
        position.unref();
        const js = jetstream(nc);
        const consumer = await js.consumers.get(STREAM, EVENTS_CONSUMER);
        messages = await consumer.consume({ max_messages: 500, expires: 5000 });
        log.info({ consumer: EVENTS_CONSUMER }, 'events: consuming');
        failures = 0;
        void (async () => {
          for await (const s of messages!.status()) {
            if (s.type === 'consumer_deleted' || s.type === 'consumer_not_found') {
              log.warn({ status: s.type }, 'events: durable consumer lost; re-creating');
              messages?.stop();
            }
          }
        })().catch(() => undefined);
        try {
          for await (const m of messages) {
            let keys = new Set<string>();
            try {
              keys = handle(m.data, m.subject, m.seq);
            } catch (err) {
              warnOnce('handle', 'events: message handler failed', { err: (err as Error).message, seq: m.seq });
            }
            acks.hold(m.seq, keys, () => m.ack());
          }
        } finally {
          clearInterval(position);
        }
      } catch (err) {
        if (stopped) break;
        log.warn(
          { err: (err as Error).message, retryInMs: backoff(failures, RETRY) },
          'events: cannot consume from NATS; retrying',
        );
      }
      if (stopped) break;
      await new Promise((r) => setTimeout(r, backoff(failures++, RETRY)));
    }
  };
  const done = loop();

  return {
    stats,
    async stop() {
      stopped = true;
      wake();
      clearInterval(expiry);
      messages?.stop();
      await done.catch(() => undefined);
      if (!o.connection && nc && !nc.isClosed()) await nc.close().catch(() => undefined);
    },
  };
}
