// Wires the collector: NATS stream -> decode -> resolve -> stores -> HTTP API.
import type { Server } from 'node:http';
import type { NatsConnection } from '@nats-io/transport-node';
import { Registry, Counter, Gauge, collectDefaultMetrics } from 'prom-client';
import type { Logger } from '../common/log.js';
import { onceLogger } from '../common/log.js';
import { connectNats, type NatsAuth } from '../common/nats.js';
import { subjectMatchesNode } from '../common/subjects.js';
import { decodeEnvelope, DecodeError, type ValidEnvelope } from '../proto/codec.js';
import { ensureStream, followStream } from './ingest/stream.js';
import { applyEnvelope, SeenSet, type Stores, type Applied } from './ingest/apply.js';
import { DropStore } from './store/drops.js';
import { FindingStore } from './store/findings.js';
import { NodeStore } from './store/nodes.js';
import type { Resolver } from './resolve/resolver.js';
import { createApi, type RouteHandler } from './api/server.js';

export interface CollectorConfig {
  nats: string;
  natsAuth: NatsAuth;
  listen: { host: string; port: number };
  apiToken?: string;
  retentionMs: number;
  streamMaxBytes: number;
  streamReplicas: number;
  /** A node whose agent has been silent this long is unhealthy. */
  nodeStaleMs: number;
}

/** Consumers of every applied envelope beyond the stores (e.g. the Kubernetes Event writer). */
export type EnvelopeListener = (env: ValidEnvelope, applied: Applied, stores: Stores) => void;

export interface RunningCollector {
  port: number;
  stores: Stores;
  stop(): Promise<void>;
}

export interface CollectorExtras {
  listeners?: EnvelopeListener[];
  routes?: Record<string, RouteHandler>;
  /** Served at /metrics; pass one to add the pod watch's and Event writer's metrics. */
  registry?: Registry;
}

export async function runCollector(cfg: CollectorConfig, resolver: Resolver, log: Logger, extras: CollectorExtras = {}): Promise<RunningCollector> {
  const { listeners = [], routes = {}, registry = new Registry() } = extras;
  collectDefaultMetrics({ register: registry, prefix: 'nodewarden_collector_' });
  const received = new Counter({ name: 'nodewarden_collector_messages_total', help: 'messages read from the stream, by outcome', labelNames: ['outcome'], registers: [registry] });
  const stores: Stores = { drops: new DropStore(resolver), findings: new FindingStore(resolver), nodes: new NodeStore(cfg.nodeStaleMs) };
  new Gauge({ name: 'nodewarden_collector_flows', help: 'flows held in the query store', registers: [registry], collect() { this.set(stores.drops.size); } });
  const seen = new SeenSet();
  const warnOnce = onceLogger(log);
  let attached = false;
  let caughtUp = false;

  const onMessage = (data: Uint8Array, subject: string): void => {
    let env: ValidEnvelope;
    try {
      env = decodeEnvelope(data);
    } catch (err) {
      const kind = err instanceof DecodeError ? err.kind : 'corrupt';
      received.inc({ outcome: `rejected_${kind.replace(/-/g, '_')}` });
      warnOnce(`decode:${kind}`, 'ingest: rejected a message that is not a valid nodewarden envelope; further ones are only counted', { subject, reason: kind, detail: (err as Error).message });
      return;
    }
    if (!subjectMatchesNode(subject, env.node)) {
      received.inc({ outcome: 'rejected_wrong_node' });
      warnOnce('decode:wrong-node', 'ingest: rejected a message whose node is not the one of its subject; further ones are only counted', { subject, node: env.node });
      return;
    }
    const applied = applyEnvelope(env, stores, seen, Date.now());
    received.inc({ outcome: applied.kind });
    for (const l of listeners) l(env, applied, stores);
  };

  const api = createApi({
    stores, registry, token: cfg.apiToken, routes,
    ready: () => !attached ? { ok: false, reason: 'NATS consumer not attached' } : !resolver.ready() ? { ok: false, reason: 'pod cache not synced' } : { ok: true },
  });
  await new Promise<void>((resolve, reject) => { api.once('error', reject); api.listen(cfg.listen.port, cfg.listen.host, () => resolve()); });
  const port = (api.address() as { port: number }).port;
  log.info({ listen: `${cfg.listen.host}:${port}` }, 'collector: API listening');

  let nc: NatsConnection | undefined;
  let follower: { stop(): Promise<void> } | undefined;
  let stopped = false;
  const attach = async (): Promise<void> => {
    nc = await connectNats(cfg.nats, cfg.natsAuth, 'nodewarden-collector');
    if (stopped) return;
    await ensureStream(nc, { maxAgeMs: cfg.retentionMs, maxBytes: cfg.streamMaxBytes, replicas: cfg.streamReplicas }, log);
    follower = await followStream(nc, (m) => onMessage(m.data, m.subject), () => { caughtUp = true; log.info({ flows: stores.drops.size }, 'collector: caught up with the stream'); }, log);
    attached = true;
    log.info('collector: consuming');
  };
  // NATS may come up after us; keep trying without blocking the API (it answers /readyz 503 meanwhile).
  void (async () => {
    for (let delay = 500; !stopped && !attached; delay = Math.min(delay * 2, 10_000)) {
      try { await attach(); } catch (err) {
        log.error({ err: (err as Error).message, retryInMs: delay }, 'collector: cannot attach to NATS');
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  })();

  const sweep = setInterval(() => {
    const cutoff = Date.now() - cfg.retentionMs;
    stores.drops.expire(cutoff);
    stores.findings.expireCleared(cutoff);
  }, 60_000);

  return {
    port,
    stores,
    async stop() {
      stopped = true;
      clearInterval(sweep);
      await follower?.stop().catch(() => undefined);
      if (nc && !nc.isClosed()) await nc.close();
      await new Promise<void>((r) => api.close(() => r()));
      api.closeAllConnections?.();
      log.info({ caughtUp }, 'collector: stopped');
    },
  };
}
