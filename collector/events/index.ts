// Kubernetes Events for the collector: durable consumer -> observations -> correlator -> writer.
import type { Registry } from 'prom-client';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Logger } from '../../common/log.js';
import type { NatsAuth } from '../../common/nats.js';
import type { KubeClient } from '../kube/client.js';
import type { Resolver } from '../resolve/resolver.js';
import { EventWriter } from './writer.js';
import { startEventSource, type EventSourceStats, type DropReason } from './pipeline.js';
import { startPresence } from './presence.js';

export interface EventsConfig {
  nats: string;
  natsAuth: NatsAuth;
  qps: number;
  burst: number;
  objectBurst: number;
  objectRefillMs: number;
  updateIntervalMs?: number;
  /** Share the collector's connection instead of opening a second one. */
  connection?: () => Promise<NatsConnection>;
  /** The NetworkPolicy summary appended to PacketDrop messages of denied flows, and what it waits for. */
  why?: DropReason;
  whyReady?: () => boolean;
}

export interface RunningEvents {
  writer: EventWriter;
  source: { stats: EventSourceStats };
  stop(flushMs?: number): Promise<void>;
}

export function startEvents(
  cfg: EventsConfig,
  client: KubeClient,
  resolver: Resolver,
  log: Logger,
  registry?: Registry,
): RunningEvents {
  const writer = new EventWriter(client, log, {
    qps: cfg.qps,
    burst: cfg.burst,
    objectBurst: cfg.objectBurst,
    objectRefillMs: cfg.objectRefillMs,
    updateIntervalMs: cfg.updateIntervalMs,
    registry,
  });
  const source = startEventSource(
    {
      nats: cfg.nats,
      natsAuth: cfg.natsAuth,
      connection: cfg.connection,
      why: cfg.why,
      ready: cfg.whyReady,
      registry,
    },
    resolver,
    writer,
    log,
  );
  // Replicas with Event work split the budget between them (presence.ts); without the shared
  // connection, one replica.
  const presence =
    cfg.connection &&
    startPresence(
      cfg.connection,
      () => writer.correlator.queued > 0, // O(1): asked every 250 ms
      (sharing, before) => {
        const s = writer.share(sharing);
        // Replicas coming and going is news; the divisor follows work from second to second.
        log[sharing.replicas === before.replicas ? 'debug' : 'info'](
          { ...sharing, qps: s.qps, burst: s.burst },
          'events: collector replicas share the Event budget (--event-qps, --event-burst) among those with work; this one writes its part',
        );
      },
    );
  const report = setInterval(() => {
    const c = writer.correlator.stats,
      w = writer.stats;
    if (c.observed === 0) return;
    log.info(
      {
        messages: source.stats.messages,
        observed: c.observed,
        written: c.written,
        suppressed: c.suppressed,
        pending: writer.correlator.pendingTotal(),
        creates: w.creates,
        patches: w.patches,
        conflicts: w.conflicts,
        forbidden: w.forbidden,
      },
      'events: summary',
    );
  }, 60_000);
  report.unref();
  return {
    writer,
    source,
    async stop(flushMs = 5000) {
      clearInterval(report);
      await presence?.stop();
      await source.stop();
      await writer.stop(flushMs);
      const c = writer.correlator.stats,
        w = writer.stats;
      log.info(
        {
          observed: c.observed,
          written: c.written,
          discarded: c.discarded,
          creates: w.creates,
          patches: w.patches,
          conflicts: w.conflicts,
          forbidden: w.forbidden,
        },
        'events: stopped',
      );
    },
  };
}
