// The collector's /metrics: what nodewarden found (packet drops, findings, nodes: the domain metrics,
// `nodewarden_*`) and how its pipeline runs (`nodewarden_collector_*`). Every label value that is
// known up front is registered at start, so rate() and absent() work from the first scrape.
// Names, types and labels: README "Metrics" (test/metrics-readme.test.ts keeps the two equal).
import { Counter, Gauge, type Registry } from 'prom-client';
import { registerRoleMetrics } from '../../common/metrics.js';
import { DECODE_FAILURES, type DecodeFailure, type ValidEnvelope } from '../../proto/codec.js';
import type { Stores, Applied } from '../ingest/apply.js';
import type { Resolver } from '../resolve/resolver.js';
import type { EvictReason } from '../store/budget.js';
import type { Freshness } from '../api/server.js';
import { peerNamespace, seriesKey, SeriesCap, OTHER_LABELS, type DropLabels } from './drop-series.js';

/** Distinct label sets of nodewarden_packet_drops_total kept before new ones fold into `_other_`. */
export const DEFAULT_DROP_SERIES = 2000;

const OUTCOMES = ['drops', 'finding', 'heartbeat', 'runtime', 'duplicate', 'rejected'] as const;
/** The reasons proto/validate.ts refuses a single drop record for (the rest of its message is kept). */
const RECORD_REASONS = ['invalid-drop', 'bad-time'] as const satisfies readonly DecodeFailure[];
const STORES = ['flows', 'findings', 'nodes'] as const;
const BOUNDS: readonly EvictReason[] = ['entries', 'bytes'];
const NODE_STATES = ['healthy', 'unhealthy', 'stale'] as const;

/** Label values are the codec's reasons in snake_case, like every other label value here. */
const snake = (s: string): string => s.replace(/-/g, '_');

export interface CollectorMetrics {
  /** A message decoded and applied (or recognised as a duplicate). */
  applied(env: ValidEnvelope, applied: Applied): void;
  /** A message refused at decode. */
  rejected(reason: DecodeFailure): void;
  /** Records refused inside an otherwise valid message, and texts cut to their limits. */
  adjusted(env: ValidEnvelope): void;
  evicted(store: (typeof STORES)[number], reason: EvictReason): void;
  recreated: Counter;
  /** The start-up replay is over: its drop counts are published, new label sets are held back one scrape. */
  caughtUp(): void;
  /** Exports the ingest link's state as nodewarden_collector_stream_fresh. */
  freshness(f: () => Freshness): void;
  /** Exports how far behind the stream this replica's store is (the stream's end as of the last stream check). */
  position(p: () => { read: number; streamLast?: number }): void;
}

/** storesOf: read at scrape time only, so the metrics can exist before the stores that report to them. */
export function collectorMetrics(
  registry: Registry,
  storesOf: () => Stores,
  resolver: Resolver,
  o: { maxDropSeries?: number },
): CollectorMetrics {
  const registers = [registry];
  registerRoleMetrics(registry, 'collector');
  const messages = new Counter({
    name: 'nodewarden_collector_messages_total',
    help: 'messages read from the stream, by outcome (rejected: see nodewarden_collector_messages_rejected_total)',
    labelNames: ['outcome'],
    registers,
  });
  for (const outcome of OUTCOMES) messages.inc({ outcome }, 0);
  const rejected = new Counter({
    name: 'nodewarden_collector_messages_rejected_total',
    help: 'messages refused at decode and validation, by reason',
    labelNames: ['reason'],
    registers,
  });
  for (const reason of DECODE_FAILURES) rejected.inc({ reason: snake(reason) }, 0);
  const records = new Counter({
    name: 'nodewarden_collector_drop_records_rejected_total',
    help: 'drop records refused inside an otherwise valid message (the rest of it is kept), by reason',
    labelNames: ['reason'],
    registers,
  });
  for (const reason of RECORD_REASONS) records.inc({ reason: snake(reason) }, 0);
  const truncated = new Counter({
    name: 'nodewarden_collector_texts_truncated_total',
    help: 'texts in valid messages cut to their length limit (samples, messages, names)',
    registers,
  });
  const evictions = new Counter({
    name: 'nodewarden_collector_store_evictions_total',
    help: 'entries evicted from a query store before their retention, oldest written first, by store and the bound reached',
    labelNames: ['store', 'reason'],
    registers,
  });
  for (const store of STORES) for (const reason of BOUNDS) evictions.inc({ store, reason }, 0);
  const recreated = new Counter({
    name: 'nodewarden_collector_stream_recreated_total',
    help: 'times the stream was found missing (deleted, or NATS restarted without its store) and recreated',
    registers,
  });
  new Gauge({
    name: 'nodewarden_collector_flows',
    help: 'flows held in the query store',
    registers,
    collect() {
      this.set(storesOf().drops.size);
    },
  });
  new Gauge({
    name: 'nodewarden_collector_flow_store_bytes',
    help: 'estimated heap bytes held by the flow store (bound: --store-max-bytes)',
    registers,
    collect() {
      this.set(storesOf().drops.bytes);
    },
  });

  // Domain metrics. Every replica reads the whole stream (an ordered consumer) and so exports the same
  // totals: aggregate replicas with max, not sum. At start a collector replays the retained stream,
  // so its counter starts at the replayed total (README "Metrics": restarts and replay).
  // A series' first sample is where rate() and increase() start, so a label set first seen with 5 drops
  // would never show them. Once live, new label sets are exposed at 0 for one scrape and get their counts
  // at the next (collect() runs once per scrape); later increments go straight in. The start-up replay is
  // summed aside and published whole once caught up: the series then start at the replayed totals (a
  // new target's first sample, which rate() does not count), and a restarted target goes from its old
  // value to the same or a higher one, never through a partial total Prometheus would take for a reset.
  let live = false;
  const replayed = new Map<string, { labels: DropLabels; n: number }>();
  const firstCounts = new Map<string, { labels: DropLabels; n: number; exposed: boolean }>();
  const drops = new Counter({
    name: 'nodewarden_packet_drops_total',
    help: 'packets the kernel logged as dropped, by source and destination namespace (pod namespace, or node/external/unknown), protocol and node',
    labelNames: ['src_namespace', 'dst_namespace', 'proto', 'node'],
    registers,
    collect() {
      for (const [k, p] of firstCounts) {
        if (!p.exposed) {
          p.exposed = true;
          continue;
        }
        this.inc({ ...p.labels }, p.n);
        firstCounts.delete(k);
      }
    },
  });
  drops.inc({ ...OTHER_LABELS }, 0);
  const folded = new Counter({
    name: 'nodewarden_collector_drop_series_overflow_total',
    help: 'drop records counted under the all-"_other_" label set of nodewarden_packet_drops_total because --metrics-max-drop-series label sets exist already',
    registers,
  });
  const cap = new SeriesCap(o.maxDropSeries ?? DEFAULT_DROP_SERIES);
  new Gauge({
    name: 'nodewarden_findings_active',
    help: 'findings active now, by kind, severity and node',
    labelNames: ['kind', 'severity', 'node'],
    registers,
    collect() {
      this.reset();
      const n = new Map<string, { kind: string; severity: string; node: string; v: number }>();
      for (const f of storesOf().findings.query({ active: true })) {
        const k = `${f.kind}\t${f.severity}\t${f.node}`;
        const e = n.get(k) ?? { kind: f.kind, severity: f.severity, node: f.node, v: 0 };
        e.v++;
        n.set(k, e);
      }
      for (const e of n.values()) this.set({ kind: e.kind, severity: e.severity, node: e.node }, e.v);
    },
  });
  new Gauge({
    name: 'nodewarden_nodes',
    help: 'nodes whose agent reported within the retention, by state (stale: silent longer than --node-stale; unhealthy: an active critical finding)',
    labelNames: ['state'],
    registers,
    collect() {
      const by: Record<string, number> = Object.fromEntries(NODE_STATES.map((s) => [s, 0]));
      const stores = storesOf();
      for (const v of stores.nodes.list(Date.now(), (node) => stores.findings.counts(node)).items) by[v.state]++;
      for (const state of NODE_STATES) this.set({ state }, by[state]);
    },
  });

  const countDrops = (env: ValidEnvelope): void => {
    for (const d of env.msg.drops?.drops ?? []) {
      const n = Number(d.count);
      if (!Number.isFinite(n) || n <= 0) continue;
      const at = Number(d.lastSeenMs) || Date.now();
      const src = d.src ?? '',
        dst = d.dst ?? '';
      const {
        labels,
        folded: over,
        fresh,
      } = cap.admit({
        src_namespace: peerNamespace(resolver.resolve(src, at), src),
        dst_namespace: peerNamespace(resolver.resolve(dst, at), dst),
        proto: d.proto || 'unknown',
        node: env.node,
      });
      if (over) folded.inc();
      const key = seriesKey(labels);
      if (!live) {
        const r = replayed.get(key);
        if (r) r.n += n;
        else replayed.set(key, { labels, n });
        continue;
      }
      const first = firstCounts.get(key);
      if (first) first.n += n;
      else if (fresh) {
        drops.inc({ ...labels }, 0);
        firstCounts.set(key, { labels, n, exposed: false });
      } else drops.inc({ ...labels }, n);
    }
  };

  return {
    applied(env, a) {
      messages.inc({ outcome: a.kind });
      if (a.kind === 'drops') countDrops(env);
    },
    rejected(reason) {
      messages.inc({ outcome: 'rejected' });
      rejected.inc({ reason: snake(reason) });
    },
    adjusted(env) {
      for (const [reason, n] of Object.entries(env.adjusted.droppedReasons)) records.inc({ reason: snake(reason) }, n);
      if (env.adjusted.truncated) truncated.inc(env.adjusted.truncated);
    },
    evicted: (store, reason) => evictions.inc({ store, reason }),
    caughtUp() {
      if (live) return;
      live = true;
      for (const r of replayed.values()) drops.inc({ ...r.labels }, r.n);
      replayed.clear();
    },
    recreated,
    freshness(f) {
      new Gauge({
        name: 'nodewarden_collector_stream_fresh',
        help: '1 while connected to NATS, attached to the stream and caught up with it (what /readyz needs of NATS)',
        registers,
        collect() {
          this.set(f().stale ? 0 : 1);
        },
      });
    },
    position(p) {
      new Gauge({
        name: 'nodewarden_collector_stream_read_seq',
        help: 'stream sequence of the last message this replica read',
        registers,
        collect() {
          this.set(p().read);
        },
      });
      new Gauge({
        name: 'nodewarden_collector_stream_lag_messages',
        help: "messages between the last one read and the stream's last sequence at the last stream check",
        registers,
        collect() {
          const q = p();
          this.set(Math.max(0, (q.streamLast ?? 0) - q.read));
        },
      });
    },
  };
}
