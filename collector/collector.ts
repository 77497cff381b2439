// Wires the collector: NATS stream -> decode -> resolve -> stores -> HTTP API.
import type { NatsConnection } from '@nats-io/transport-node';
import { Registry } from 'prom-client';
import type { Logger } from '../common/log.js';
import { onceLogger } from '../common/log.js';
import type { JobGuard } from '../common/guard.js';
import type { NatsAuth } from '../common/nats.js';
import { decodeEnvelope, DecodeError, type ValidEnvelope } from '../proto/codec.js';
import { applyEnvelope, type Stores, type Applied } from './ingest/apply.js';
import { SeenSet } from './ingest/dedup.js';
import { startIngestLink } from './ingest/link.js';
import { DropStore, DEFAULT_FLOW_BOUNDS } from './store/drops.js';
import { FindingStore } from './store/findings.js';
import { NodeStore } from './store/nodes.js';
import type { BoundEvents } from './store/budget.js';
import type { Resolver } from './resolve/resolver.js';
import { createApi, type RouteHandler } from './api/server.js';
import { ChangeFeed, followNodeStates, NODE_STATE_SWEEP_MS } from './api/changes.js';
import type { Flow } from './store/drops.js';
import type { Explanation } from './explain/index.js';
import { collectorMetrics } from './metrics/index.js';

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
  /** Estimated heap bytes the flow store may hold (default: DEFAULT_FLOW_BOUNDS, sized for the deployed heap). */
  storeMaxBytes?: number;
  storeMaxFlows?: number;
  /** How often the stream's existence and the replay position are checked (default 5 s). */
  streamCheckMs?: number;
  /** Bytes of API answers in flight before more are refused with 503 busy. */
  responseBudgetBytes?: number;
  /** Distinct label sets of nodewarden_packet_drops_total before new ones fold into `_other_` (default 2000). */
  maxDropSeries?: number;
}

/** Consumers of every applied envelope beyond the stores (e.g. the Kubernetes Event writer). */
export type EnvelopeListener = (env: ValidEnvelope, applied: Applied, stores: Stores) => void;

export interface RunningCollector {
  port: number;
  stores: Stores;
  /** The collector's NATS connection once attached; the Event path shares it. */
  connection(): Promise<NatsConnection>;
  stop(): Promise<void>;
}

export interface CollectorExtras {
  listeners?: EnvelopeListener[];
  routes?: Record<string, RouteHandler>;
  /** Served at /metrics; pass one to add the pod watch's and Event writer's metrics. */
  registry?: Registry;
  /** Adds `explanation` to each flow of /api/v1/drops at query time (collector/explain/flows.ts). */
  explainFlow?: (f: Flow) => Explanation | undefined;
  /** More readiness beyond NATS and the pod cache (e.g. the policy caches): a reason while not ready. */
  notReady?: () => string | undefined;
  /** Catches and counts a failing periodic job (the retention sweep); one per registry. */
  guard?: JobGuard;
}

export async function runCollector(
  cfg: CollectorConfig,
  resolver: Resolver,
  log: Logger,
  extras: CollectorExtras = {},
): Promise<RunningCollector> {
  const { listeners = [], routes = {}, registry = new Registry(), explainFlow, notReady, guard } = extras;
  // The metrics read the stores only when scraped; the stores report evictions to the metrics.
  const m = collectorMetrics(registry, () => stores, resolver, { maxDropSeries: cfg.maxDropSeries });
  const bounded = (store: 'flows' | 'findings' | 'nodes'): BoundEvents => ({
    evicted: (reason) => m.evicted(store, reason),
    episode: (reason, entries, bytes) =>
      log.warn(
        { store, bound: reason, entries, estimatedBytes: bytes },
        `store: ${store} reached the ${reason === 'bytes' ? 'byte' : 'entry'} bound; evicting the oldest (counted in nodewarden_collector_store_evictions_total, logged once per episode)`,
      ),
  });
  const stores: Stores = {
    drops: new DropStore(
      resolver,
      {
        maxBytes: cfg.storeMaxBytes ?? DEFAULT_FLOW_BOUNDS.maxBytes,
        maxEntries: cfg.storeMaxFlows ?? DEFAULT_FLOW_BOUNDS.maxEntries,
      },
      bounded('flows'),
    ),
    findings: new FindingStore(resolver, {}, bounded('findings')),
    nodes: new NodeStore(cfg.nodeStaleMs, {}, bounded('nodes')),
  };
  const seen = new SeenSet();
  const feed = new ChangeFeed();
  const warnOnce = onceLogger(log);

  const countAdjusted = (env: ValidEnvelope, subject: string): void => {
    m.adjusted(env);
    for (const reason of Object.keys(env.adjusted.droppedReasons)) {
      warnOnce(
        `record:${reason}`,
        'ingest: refused drop records of an otherwise valid message; further ones are only counted',
        { subject, node: env.node, reason },
      );
    }
  };

  const onMessage = (data: Uint8Array, subject: string): void => {
    let env: ValidEnvelope;
    try {
      env = decodeEnvelope(data, { subject, retentionMs: cfg.retentionMs });
    } catch (err) {
      const kind = err instanceof DecodeError ? err.kind : 'corrupt';
      m.rejected(kind);
      warnOnce(
        `decode:${kind}`,
        'ingest: rejected a message that is not a valid nodewarden envelope; further ones are only counted',
        { subject, reason: kind, detail: (err as Error).message },
      );
      return;
    }
    if (env.adjusted.droppedRecords || env.adjusted.truncated) countAdjusted(env, subject);
    const applied = applyEnvelope(env, stores, seen, Date.now());
    m.applied(env, applied);
    feed.applied(env.node, applied);
    for (const l of listeners) l(env, applied, stores);
  };

  const link = startIngestLink(
    {
      nats: cfg.nats,
      natsAuth: cfg.natsAuth,
      checkMs: cfg.streamCheckMs ?? 5000,
      stream: { maxAgeMs: cfg.retentionMs, maxBytes: cfg.streamMaxBytes, replicas: cfg.streamReplicas },
    },
    {
      onMessage: (m) => onMessage(m.data, m.subject),
      onAttached: () => log.info('collector: consuming'),
      onCaughtUp: () => {
        m.caughtUp();
        log.info({ flows: stores.drops.size }, 'collector: caught up with the stream');
      },
      recreated: m.recreated,
    },
    log,
  );
  m.freshness(() => link.freshness());

  m.position(() => link.position());

  const api = createApi({
    stores,
    registry,
    token: cfg.apiToken,
    routes,
    responseBudgetBytes: cfg.responseBudgetBytes,
    explainFlow,
    feed,
    freshness: () => link.freshness(),
    ready: () => {
      const f = link.freshness();
      if (f.stale) return { ok: false, reason: f.reason };
      if (!resolver.ready()) return { ok: false, reason: 'pod cache not synced' };
      const more = notReady?.();
      return more ? { ok: false, reason: more } : { ok: true };
    },
  });
  try {
    await new Promise<void>((resolve, reject) => {
      api.once('error', reject);
      api.listen(cfg.listen.port, cfg.listen.host, () => resolve());
    });
  } catch (err) {
    await link.stop();
    throw err;
  }
  const port = (api.address() as { port: number }).port;
  log.info({ listen: `${cfg.listen.host}:${port}` }, 'collector: API listening');

  const expire = (): void => {
    const cutoff = Date.now() - cfg.retentionMs;
    stores.drops.expire(cutoff);
    stores.findings.expireCleared(cutoff);
    stores.nodes.expire(cutoff);
  };
  const sweep = setInterval(guard ? guard.wrap('retention-sweep', expire) : expire, 60_000);
  const stopNodeStates = followNodeStates(
    feed,
    () => stores.nodes.list(Date.now(), (n) => stores.findings.counts(n)).items,
    NODE_STATE_SWEEP_MS,
    (job) => (guard ? guard.wrap('node-state-sweep', job) : job),
  );

  return {
    port,
    stores,
    connection: () => link.connection(),
    async stop() {
      clearInterval(sweep);
      stopNodeStates();
      feed.stop();
      await link.stop();
      await new Promise<void>((r) => api.close(() => r()));
      api.closeAllConnections?.();
      log.info({ caughtUp: !link.freshness().stale }, 'collector: stopped');
    },
  };
}
