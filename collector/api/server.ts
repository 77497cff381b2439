// The collector's HTTP API (docs/architecture.md#api) on node:http: a handful of read-only JSON routes.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { timingSafeEqual } from 'node:crypto';
import { Counter, type Registry } from 'prom-client';
import { readQuery, BadRequest, NotFound } from './query.js';
import { specOf, limitOf } from './lists.js';
import { openapi } from './openapi.js';
import { VERSION, REVISION } from '../../common/version.js';
import { sendJson, sendList, isListBody } from './respond.js';
import { readWatchQuery, serveWatch } from './watch.js';
import type { ChangeFeed } from './changes.js';
import { isWebPath, serveWeb } from '../web/serve.js';
import type { Stores } from '../ingest/apply.js';
import type { Flow } from '../store/drops.js';
import type { Explanation } from '../explain/index.js';

/** Whether the stores are complete: false while replaying the stream or cut off from NATS. */
export type Freshness = { stale: false } | { stale: true; reason: string };

/** Bytes of /api/* answers being written at once before new ones are refused (503 busy). */
export const DEFAULT_RESPONSE_BUDGET = 32 * 2 ** 20;

/** A client that stops reading for this long loses its answer (and the budget it holds). */
const STALLED_CLIENT_MS = 30_000;

export interface ApiDeps {
  stores: Stores;
  registry: Registry;
  ready: () => { ok: boolean; reason?: string };
  /** When set, /api/* requires "Authorization: Bearer <token>". */
  token?: string;
  now?: () => number;
  /** More read-only routes: a path pattern (":name" segments) -> handler with those segments. */
  routes?: Record<string, RouteHandler>;
  /** Default: always fresh (a store that is not fed from a stream). */
  freshness?: () => Freshness;
  /** See DEFAULT_RESPONSE_BUDGET. */
  responseBudgetBytes?: number;
  /** Each flow of /api/v1/drops gets `explanation` from this, at query time (cached by the explainer). */
  explainFlow?: (f: Flow) => Explanation | undefined;
  /** Serves GET /api/v1/watch from these changes (absent: 404). */
  feed?: ChangeFeed;
  /** See DEFAULT_MAX_WATCHERS (watch.ts). */
  maxWatchers?: number;
}

type Handler = (params: URLSearchParams) => unknown;
export type RouteHandler = (params: URLSearchParams, path: Record<string, string>) => unknown;

/** Matches "/api/v1/nodes/:node/runtime" against a path; returns the named segments. */
function matchPattern(pattern: string, path: string): Record<string, string> | undefined {
  const a = pattern.split('/'),
    b = path.split('/');
  if (a.length !== b.length) return undefined;
  const out: Record<string, string> = {};
  for (let i = 0; i < a.length; i++) {
    if (a[i].startsWith(':')) {
      if (!b[i]) return undefined;
      out[a[i].slice(1)] = decodeURIComponent(b[i]);
    } else if (a[i] !== b[i]) return undefined;
  }
  return out;
}

export function createApi(d: ApiDeps): Server {
  const now = d.now ?? Date.now;
  const freshness = d.freshness ?? ((): Freshness => ({ stale: false }));
  const budget = d.responseBudgetBytes ?? DEFAULT_RESPONSE_BUDGET;
  const busy = new Counter({
    name: 'nodewarden_collector_api_busy_total',
    help: 'API requests refused with 503 because the in-flight answers already hold the response budget',
    registers: [d.registry],
  });
  const watchRefused = new Counter({
    name: 'nodewarden_collector_api_watchers_refused_total',
    help: 'GET /api/v1/watch streams refused or cut off by the collector: too_many watchers at once, or too_slow to read what it was sent',
    labelNames: ['reason'] as const,
    registers: [d.registry],
  });
  for (const reason of ['too_many', 'too_slow']) watchRefused.inc({ reason }, 0);
  let inFlight = 0;
  /** Every list answer says whether it may be incomplete (200 either way: the data is still useful). */
  const withFreshness = <T extends object>(page: T): T & { stale: boolean; staleReason?: string } => {
    const f = freshness();
    return f.stale ? { ...page, stale: true, staleReason: f.reason } : { ...page, stale: false };
  };
  const routes: Record<string, Handler> = {
    '/api/v1/drops': (p) => {
      const f = readQuery(p, specOf('/api/v1/drops'));
      const page = d.stores.drops.query({
        namespace: f.namespace as string | undefined,
        pod: f.pod as string | undefined,
        node: f.node as string | undefined,
        sinceMs: f.since === undefined ? undefined : now() - (f.since as number),
        limit: limitOf('/api/v1/drops', f),
      });
      if (d.explainFlow)
        for (const flow of page.items) {
          const e = d.explainFlow(flow);
          if (e) flow.explanation = e;
        }
      return withFreshness(page);
    },
    '/api/v1/findings': (p) => {
      const f = readQuery(p, specOf('/api/v1/findings'));
      return withFreshness(
        d.stores.findings.page(
          {
            node: f.node as string | undefined,
            kind: f.kind as string | undefined,
            active: f.active as boolean | undefined,
            severity: f.severity as string | undefined,
            namespace: f.namespace as string | undefined,
            pod: f.pod as string | undefined,
            sinceMs: f.since === undefined ? undefined : now() - (f.since as number),
          },
          limitOf('/api/v1/findings', f),
        ),
      );
    },
    '/api/v1/nodes': (p) => {
      const f = readQuery(p, specOf('/api/v1/nodes'));
      return withFreshness(d.stores.nodes.list(now(), (n) => d.stores.findings.counts(n), limitOf('/api/v1/nodes', f)));
    },
    '/api/v1/version': (p) => {
      readQuery(p, {});
      return { version: VERSION, revision: REVISION };
    },
    '/openapi.json': (p) => {
      readQuery(p, {});
      return openapi;
    },
  };

  return createServer((req, res) => {
    handle(req, res).catch((err: Error) => {
      if (res.headersSent)
        res.destroy(err); // mid-answer: the client sees a cut answer, not a wrong one
      else send(res, 500, { error: err.message });
    });
  });

  function patternRoute(path: string): Handler | undefined {
    for (const [pattern, h] of Object.entries(d.routes ?? {})) {
      const seg = matchPattern(pattern, path);
      if (seg) return (p: URLSearchParams) => h(p, seg);
    }
    return undefined;
  }

  /** Answers 401 (and says so) when a token is required and missing or wrong. */
  function denied(req: IncomingMessage, res: ServerResponse): boolean {
    if (!d.token || authorized(req.headers.authorization, d.token)) return false;
    res.setHeader('www-authenticate', 'Bearer');
    send(res, 401, { error: 'missing or invalid bearer token' });
    return true;
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    if (req.method !== 'GET' && req.method !== 'HEAD')
      return send(res, 405, { error: `method ${req.method} not allowed` });
    if (url.pathname === '/healthz') return sendText(res, 200, 'ok\n');
    if (url.pathname === '/readyz') {
      const r = d.ready();
      return sendText(res, r.ok ? 200 : 503, r.ok ? 'ok\n' : `not ready: ${r.reason ?? ''}\n`);
    }
    if (url.pathname === '/metrics') {
      res.writeHead(200, { 'content-type': d.registry.contentType });
      res.end(await d.registry.metrics());
      return;
    }
    if (url.pathname === '/api/v1/watch' && d.feed) {
      if (denied(req, res)) return;
      let filter;
      try {
        filter = readWatchQuery(url.searchParams);
      } catch (err) {
        if (err instanceof BadRequest) return send(res, 400, { error: err.message });
        throw err;
      }
      return serveWatch(req, res, filter, {
        stores: d.stores,
        feed: d.feed,
        now,
        freshness,
        explainFlow: d.explainFlow,
        maxWatchers: d.maxWatchers,
        refused: watchRefused,
      });
    }
    if (isWebPath(url.pathname)) return serveWeb(req, res, url.pathname); // the page only; its data comes from /api/*
    const route: Handler | undefined = routes[url.pathname] ?? patternRoute(url.pathname);
    if (!route) return send(res, 404, { error: `no such path: ${url.pathname}` });
    if (url.pathname.startsWith('/api/') && denied(req, res)) return;
    // Answers are built and their size reserved synchronously, so checking before building bounds
    // what is held to the budget plus one answer (≤ MAX_LIMIT items), however many arrive together.
    if (inFlight >= budget) {
      busy.inc();
      res.setHeader('retry-after', '1');
      return send(res, 503, {
        error: `busy: ${Math.round(inFlight / 2 ** 20)} MiB of answers are still being sent; retry shortly or ask for a smaller limit`,
      });
    }
    const f = url.pathname.startsWith('/api/') ? freshness() : { stale: false as const };
    if (f.stale) res.setHeader('x-nodewarden-stale', f.reason);
    let body: unknown;
    try {
      body = route(url.searchParams);
    } catch (err) {
      if (err instanceof BadRequest) return send(res, 400, { error: err.message });
      if (err instanceof NotFound) return send(res, 404, { error: err.message });
      throw err;
    }
    let held = 0;
    const reserve = (bytes: number) => {
      held = bytes;
      inFlight += bytes;
    };
    const release = () => {
      inFlight -= held;
      held = 0;
    };
    res.once('finish', release);
    res.once('close', release);
    res.setTimeout(STALLED_CLIENT_MS, () => res.destroy());
    if (isListBody(body)) await sendList(res, 200, body, reserve);
    else reserve(sendJson(res, 200, body));
  }
}

function authorized(header: string | undefined, token: string): boolean {
  const m = /^Bearer (.+)$/.exec(header ?? '');
  if (!m) return false;
  const a = Buffer.from(m[1]),
    b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

function send(res: ServerResponse, status: number, body: unknown): void {
  sendJson(res, status, body);
}

function sendText(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' });
  res.end(text);
}
