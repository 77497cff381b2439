// The collector's HTTP API (DESIGN.md 3.2) on node:http: a handful of read-only JSON routes.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { timingSafeEqual } from 'node:crypto';
import type { Registry } from 'prom-client';
import { readQuery, BadRequest, NotFound } from './query.js';
import { openapi } from './openapi.js';
import type { Stores } from '../ingest/apply.js';

export interface ApiDeps {
  stores: Stores;
  registry: Registry;
  ready: () => { ok: boolean; reason?: string };
  /** When set, /api/* requires "Authorization: Bearer <token>". */
  token?: string;
  now?: () => number;
  /** More read-only routes: a path pattern (":name" segments) -> handler with those segments. */
  routes?: Record<string, RouteHandler>;
}

type Handler = (params: URLSearchParams) => unknown;
export type RouteHandler = (params: URLSearchParams, path: Record<string, string>) => unknown;

/** Matches "/api/v1/nodes/:node/runtime" against a path; returns the named segments. */
function matchPattern(pattern: string, path: string): Record<string, string> | undefined {
  const a = pattern.split('/'), b = path.split('/');
  if (a.length !== b.length) return undefined;
  const out: Record<string, string> = {};
  for (let i = 0; i < a.length; i++) {
    if (a[i].startsWith(':')) { if (!b[i]) return undefined; out[a[i].slice(1)] = decodeURIComponent(b[i]); }
    else if (a[i] !== b[i]) return undefined;
  }
  return out;
}

const MAX_LIMIT = 10_000;

export function createApi(d: ApiDeps): Server {
  const now = d.now ?? Date.now;
  const routes: Record<string, Handler> = {
    '/api/v1/drops': (p) => {
      const f = readQuery(p, { namespace: 'string', pod: 'string', node: 'string', since: 'duration', limit: 'int' });
      const limit = (f.limit as number | undefined) ?? 100;
      if (limit < 1 || limit > MAX_LIMIT) throw new BadRequest(`limit must be between 1 and ${MAX_LIMIT}`);
      return d.stores.drops.query({
        namespace: f.namespace as string | undefined, pod: f.pod as string | undefined, node: f.node as string | undefined,
        sinceMs: f.since === undefined ? undefined : now() - (f.since as number), limit,
      });
    },
    '/api/v1/findings': (p) => {
      const f = readQuery(p, { node: 'string', kind: 'string', active: 'bool' });
      return { items: d.stores.findings.query({ node: f.node as string | undefined, kind: f.kind as string | undefined, active: f.active as boolean | undefined }) };
    },
    '/api/v1/nodes': (p) => {
      readQuery(p, {});
      const fs = d.stores.findings;
      return { items: d.stores.nodes.list(now(), (n) => fs.activeCritical(n), (n) => fs.activeCount(n)) };
    },
    '/openapi.json': (p) => { readQuery(p, {}); return openapi; },
  };

  return createServer((req, res) => {
    handle(req, res).catch((err: Error) => send(res, 500, { error: err.message }));
  });

  function patternRoute(path: string): Handler | undefined {
    for (const [pattern, h] of Object.entries(d.routes ?? {})) {
      const seg = matchPattern(pattern, path);
      if (seg) return (p: URLSearchParams) => h(p, seg);
    }
    return undefined;
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, { error: `method ${req.method} not allowed` });
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
    const route: Handler | undefined = routes[url.pathname] ?? patternRoute(url.pathname);
    if (!route) return send(res, 404, { error: `no such path: ${url.pathname}` });
    if (d.token && url.pathname.startsWith('/api/') && !authorized(req.headers.authorization, d.token)) {
      res.setHeader('www-authenticate', 'Bearer');
      return send(res, 401, { error: 'missing or invalid bearer token' });
    }
    try {
      send(res, 200, route(url.searchParams));
    } catch (err) {
      if (err instanceof BadRequest) return send(res, 400, { error: err.message });
      if (err instanceof NotFound) return send(res, 404, { error: err.message });
      throw err;
    }
  }
}

function authorized(header: string | undefined, token: string): boolean {
  const m = /^Bearer (.+)$/.exec(header ?? '');
  if (!m) return false;
  const a = Buffer.from(m[1]), b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function sendText(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' });
  res.end(text);
}
