// GET /api/v1/watch: the lists' items as Server-Sent Events, for the web view and `-w` in the CLI.
// The current state first (like a list), then `synced`, then each changed item again, at most once a
// tick (changes.ts). Items are exactly those of the list answers, so one renderer serves both.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Counter } from 'prom-client';
import { readQuery, BadRequest, type ParamType } from './query.js';
import { LISTS, MAX_LIMIT } from './lists.js';
import type { ChangeFeed, ChangeSet } from './changes.js';
import type { Stores } from '../ingest/apply.js';
import type { Flow } from '../store/drops.js';
import type { Explanation } from '../explain/index.js';
import type { Freshness } from './server.js';

export const WATCH_TYPES = ['drops', 'findings', 'nodes'] as const;
export type WatchType = (typeof WATCH_TYPES)[number];

/** The watch's query schema (validated here, documented in openapi.ts from the same object). */
export const WATCH_PARAMS = {
  types: { type: 'string', description: `comma-separated, of ${WATCH_TYPES.join(', ')} (default: all)` },
  namespace: { type: 'string', description: 'drops: pods in this namespace, on either side' },
  pod: { type: 'string', description: 'drops: pods with this name, on either side' },
  node: { type: 'string', description: 'drops seen by, findings of, and the node entry of this node' },
  kind: { type: 'string', description: 'findings of this kind' },
  limit: {
    type: 'int',
    description: `initial items per type (default: each list's default, max ${MAX_LIMIT}); changes are not limited`,
  },
} satisfies Record<string, { type: ParamType; description: string }>;

/** Watchers at once; more get 503 (each holds a socket, a keepalive timer and its share of every tick). */
export const DEFAULT_MAX_WATCHERS = 256;
/** Unsent bytes a watcher may hold before it is cut off as too slow (it reconnects and starts over). */
const MAX_UNSENT_BYTES = 4 * 2 ** 20;
const KEEPALIVE_MS = 15_000;

export interface WatchDeps {
  stores: Stores;
  feed: ChangeFeed;
  now: () => number;
  freshness: () => Freshness;
  explainFlow?: (f: Flow) => Explanation | undefined;
  maxWatchers?: number;
  /** Counts watchers ended by the collector, by reason (too_many, too_slow). */
  refused: Counter<'reason'>;
}

export interface WatchFilter {
  types: Set<WatchType>;
  namespace?: string;
  pod?: string;
  node?: string;
  kind?: string;
  limit?: number;
}

/** Pure: the query -> what to send, or BadRequest. */
export function readWatchQuery(params: URLSearchParams): WatchFilter {
  const spec = Object.fromEntries(Object.entries(WATCH_PARAMS).map(([k, p]) => [k, p.type]));
  const q = readQuery(params, spec);
  const types = new Set<WatchType>();
  for (const t of String(q.types ?? WATCH_TYPES.join(','))
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    if (!(WATCH_TYPES as readonly string[]).includes(t))
      throw new BadRequest(`types: unknown type "${t}" (allowed: ${WATCH_TYPES.join(', ')})`);
    types.add(t as WatchType);
  }
  if (types.size === 0) throw new BadRequest(`types: name at least one of ${WATCH_TYPES.join(', ')}`);
  const limit = q.limit as number | undefined;
  if (limit !== undefined && (limit < 1 || limit > MAX_LIMIT))
    throw new BadRequest(`limit must be between 1 and ${MAX_LIMIT}`);
  return {
    types,
    namespace: q.namespace as string | undefined,
    pod: q.pod as string | undefined,
    node: q.node as string | undefined,
    kind: q.kind as string | undefined,
    limit,
  };
}

export function serveWatch(req: IncomingMessage, res: ServerResponse, f: WatchFilter, d: WatchDeps): void {
  if (d.feed.watchers >= (d.maxWatchers ?? DEFAULT_MAX_WATCHERS)) {
    d.refused.inc({ reason: 'too_many' });
    res.writeHead(503, { 'content-type': 'application/json; charset=utf-8', 'retry-after': '5' });
    res.end(JSON.stringify({ error: `busy: ${d.feed.watchers} watchers already; retry later` }));
    return;
  }
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    'x-accel-buffering': 'no',
  });
  res.flushHeaders();
  let ended = false;
  const end = (reason?: 'too_slow') => {
    if (ended) return;
    ended = true;
    unsubscribe();
    clearInterval(keepalive);
    if (reason) {
      d.refused.inc({ reason });
      res.destroy();
    }
  };
  const send = (event: string, data: unknown): void => {
    if (ended) return;
    if (res.writableLength > MAX_UNSENT_BYTES) return end('too_slow');
    res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  };
  const flowQuery = { namespace: f.namespace, pod: f.pod, node: f.node };
  const flow = (fl: Flow): Flow => {
    const e = d.explainFlow?.(fl);
    if (e) fl.explanation = e;
    return fl;
  };
  const counts = (n: string) => d.stores.findings.counts(n);

  // Subscribed before the initial state is read: a change in between is sent twice, never missed.
  const unsubscribe = d.feed.subscribe((c: ChangeSet) => {
    if (f.types.has('drops'))
      for (const e of c.flows) if (d.stores.drops.matches(e, flowQuery)) send('drop', flow(d.stores.drops.toFlow(e)));
    if (f.types.has('findings')) {
      for (const key of c.findings) {
        const v = d.stores.findings.matchesKey(key, { node: f.node, kind: f.kind })
          ? d.stores.findings.viewOf(key)
          : undefined;
        if (v) send('finding', v);
      }
    }
    // A finding changes its node's counts and state, so its node is sent too.
    if (f.types.has('nodes')) {
      const nodes = new Set(c.nodes);
      for (const key of c.findings) nodes.add(key.slice(0, key.indexOf('|')));
      for (const n of nodes) {
        if (f.node !== undefined && n !== f.node) continue;
        const v = d.stores.nodes.get(n, d.now(), counts);
        if (v) send('node', v);
      }
    }
  });
  const keepalive = setInterval(() => {
    if (!ended) res.write(': keepalive\n\n');
  }, KEEPALIVE_MS);
  res.once('close', () => end());
  req.once('close', () => end());

  const limit = (path: keyof typeof LISTS) => f.limit ?? LISTS[path].defaultLimit;
  if (f.types.has('drops'))
    for (const fl of d.stores.drops.query({ ...flowQuery, limit: limit('/api/v1/drops') }).items)
      send('drop', flow(fl));
  if (f.types.has('findings'))
    for (const v of d.stores.findings.page({ node: f.node, kind: f.kind }, limit('/api/v1/findings')).items)
      send('finding', v);
  if (f.types.has('nodes')) {
    const now = d.now();
    if (f.node !== undefined) {
      const v = d.stores.nodes.get(f.node, now, counts);
      if (v) send('node', v);
    } else for (const v of d.stores.nodes.list(now, counts, limit('/api/v1/nodes')).items) send('node', v);
  }
  const fr = d.freshness();
  send(
    'synced',
    fr.stale
      ? { at: new Date(d.now()).toISOString(), stale: true, staleReason: fr.reason }
      : { at: new Date(d.now()).toISOString(), stale: false },
  );
}
