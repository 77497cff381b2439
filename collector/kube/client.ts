// A small Kubernetes API client on node:https — deliberately our own, not @kubernetes/client-node:
// client-node 2.x crashes on Node 20 (it needs newer runtime APIs), and 1.x pulls in ~60 MiB of
// dependencies and has known watch stalls (no watchdog, bookmarks not surfaced). The collector needs
// five calls (list/watch pods, get node, create/patch/get events), so a few hundred lines we fully
// control (timeouts, streaming, token rotation, Retry-After) are cheaper than that dependency.
import * as https from 'node:https';
import * as http from 'node:http';
import type { KubeConfig } from './config.js';

// biome-ignore lint/suspicious/noExplicitAny: API server JSON; each caller reads the fields it needs
export interface KubeResponse<T = any> {
  status: number;
  body: T;
  headers: http.IncomingHttpHeaders;
}

/** A non-2xx answer (status > 0) or a transport failure (status 0). */
export class KubeApiError extends Error {
  constructor(
    message: string,
    public readonly status: number,
    public readonly reason?: string,
    /** From Retry-After (429/5xx), in ms. */
    public readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

/** Retry-After is seconds or an HTTP date; anything else is ignored. */
export function retryAfterMs(h: string | string[] | undefined, now = Date.now()): number | undefined {
  const v = Array.isArray(h) ? h[0] : h;
  if (!v) return undefined;
  if (/^\d+$/.test(v.trim())) return Number(v.trim()) * 1000;
  const t = Date.parse(v);
  return Number.isNaN(t) ? undefined : Math.max(0, t - now);
}

export interface KubeRequestOptions {
  contentType?: string;
  timeoutMs?: number;
}

export interface WatchHandle {
  /** Resolves when the server ends the stream (its timeoutSeconds); rejects on errors or abort. */
  done: Promise<void>;
  abort(reason: string): void;
}

export class KubeClient {
  private readonly agent: https.Agent | http.Agent;
  private readonly base: URL;

  constructor(
    private readonly cfg: KubeConfig,
    opts: { maxSockets?: number } = {},
  ) {
    this.base = new URL(cfg.server);
    const tls = this.tlsOptions();
    this.agent =
      this.base.protocol === 'https:'
        ? new https.Agent({ keepAlive: true, maxSockets: opts.maxSockets ?? 8, ...tls })
        : new http.Agent({ keepAlive: true, maxSockets: opts.maxSockets ?? 8 });
  }

  private tlsOptions(): https.AgentOptions {
    const o: https.AgentOptions = {};
    if (this.cfg.ca) o.ca = this.cfg.ca;
    if (this.cfg.cert) o.cert = this.cfg.cert;
    if (this.cfg.key) o.key = this.cfg.key;
    if (this.cfg.insecureSkipTlsVerify) o.rejectUnauthorized = false;
    if (this.cfg.tlsServerName) o.servername = this.cfg.tlsServerName;
    return o;
  }

  private headers(extra: http.OutgoingHttpHeaders = {}): http.OutgoingHttpHeaders {
    const h: http.OutgoingHttpHeaders = { Accept: 'application/json', 'User-Agent': 'nodewarden-collector', ...extra };
    const tok = this.cfg.auth.token();
    if (tok) h.Authorization = `Bearer ${tok}`;
    else if (this.cfg.basic)
      h.Authorization = `Basic ${Buffer.from(`${this.cfg.basic.username}:${this.cfg.basic.password}`).toString('base64')}`;
    return h;
  }

  private url(path: string): URL {
    const prefix = this.base.pathname.replace(/\/+$/, '');
    return new URL(prefix + path, this.base);
  }

  /** One request; HTTP error statuses are returned, not thrown. Transport failures throw KubeApiError(status 0). */
  // biome-ignore lint/suspicious/noExplicitAny: API server JSON; each caller reads the fields it needs
  async request<T = any>(
    method: string,
    path: string,
    body?: unknown,
    opts: KubeRequestOptions = {},
  ): Promise<KubeResponse<T>> {
    let r = await this.once<T>(method, path, body, opts);
    if (r.status === 401) {
      // A rotated token file: re-read once and retry.
      this.cfg.auth.invalidate();
      r = await this.once<T>(method, path, body, opts);
    }
    return r;
  }

  private once<T>(method: string, path: string, body: unknown, opts: KubeRequestOptions): Promise<KubeResponse<T>> {
    const payload =
      body === undefined ? undefined : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
    const extra: http.OutgoingHttpHeaders = {};
    if (payload) {
      extra['Content-Type'] =
        opts.contentType ?? (method === 'PATCH' ? 'application/merge-patch+json' : 'application/json');
      extra['Content-Length'] = payload.length;
    }
    const timeoutMs = opts.timeoutMs ?? 30_000;
    const mod = this.base.protocol === 'https:' ? https : http;
    return new Promise((resolve, reject) => {
      const req = mod.request(
        this.url(path),
        { method, headers: this.headers(extra), agent: this.agent, timeout: timeoutMs },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', (err) => reject(new KubeApiError(`${method} ${path}: ${err.message}`, 0)));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            // biome-ignore lint/suspicious/noExplicitAny: API server JSON; each caller reads the fields it needs
            let parsed: any = text;
            if (text && /json/.test(String(res.headers['content-type'] ?? ''))) {
              try {
                parsed = JSON.parse(text);
              } catch {
                /* leave text */
              }
            }
            resolve({ status: res.statusCode ?? 0, body: parsed as T, headers: res.headers });
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error(`timed out after ${timeoutMs} ms`)));
      req.on('error', (err) => reject(new KubeApiError(`${method} ${path}: ${err.message}`, 0)));
      req.end(payload);
    });
  }

  /**
   * A watch: newline-delimited JSON objects streamed to onEvent. onActivity is called for every chunk
   * (the watchdog's heartbeat). A non-200 answer rejects with KubeApiError carrying the Status reason.
   */
  // biome-ignore lint/suspicious/noExplicitAny: API server JSON; each caller reads the fields it needs
  watch(path: string, onEvent: (ev: { type: string; object: any }) => void, onActivity: () => void): WatchHandle {
    const mod = this.base.protocol === 'https:' ? https : http;
    let req: http.ClientRequest | undefined;
    let abortReason: string | undefined;
    const done = new Promise<void>((resolve, reject) => {
      const fail = (err: Error | KubeApiError) =>
        reject(
          err instanceof KubeApiError
            ? err
            : new KubeApiError(abortReason ?? `watch: ${err.message}`, 0, abortReason ? 'Aborted' : undefined),
        );
      // A dedicated connection per watch (agent: false): a stuck watch must not hold a pooled socket.
      req = mod.request(
        this.url(path),
        { method: 'GET', headers: this.headers(), agent: false, ...this.tlsOptions() },
        (res) => {
          if (res.statusCode !== 200) {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('error', fail);
            res.on('end', () => {
              let reason: string | undefined,
                msg = Buffer.concat(chunks).toString('utf8').slice(0, 500);
              try {
                const s = JSON.parse(msg);
                reason = s.reason;
                msg = s.message ?? msg;
              } catch {
                /* text */
              }
              if (res.statusCode === 401) this.cfg.auth.invalidate();
              reject(
                new KubeApiError(
                  `watch: HTTP ${res.statusCode}: ${msg}`,
                  res.statusCode ?? 0,
                  reason,
                  retryAfterMs(res.headers['retry-after']),
                ),
              );
            });
            return;
          }
          onActivity();
          let buf = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            onActivity();
            buf += chunk;
            let nl: number;
            while ((nl = buf.indexOf('\n')) >= 0) {
              const line = buf.slice(0, nl);
              buf = buf.slice(nl + 1);
              if (!line.trim()) continue;
              // biome-ignore lint/suspicious/noExplicitAny: API server JSON; each caller reads the fields it needs
              let ev: { type: string; object: any };
              try {
                ev = JSON.parse(line);
              } catch {
                req?.destroy(new Error('watch: undecodable line from the API server'));
                return;
              }
              onEvent(ev);
            }
          });
          res.on('error', fail);
          res.on('aborted', () => fail(new Error('connection aborted')));
          res.on('end', () => resolve());
        },
      );
      req.on('socket', (s) => s.setKeepAlive(true, 30_000));
      req.on('error', fail);
      req.end();
    });
    return {
      done,
      abort(reason) {
        abortReason = reason;
        req?.destroy(new Error(reason));
      },
    };
  }

  close(): void {
    this.agent.destroy();
  }
}

/** A Status body's message, or the text. */
export function statusMessage(body: unknown): string {
  if (body && typeof body === 'object' && 'message' in body) return String((body as { message: unknown }).message);
  return String(body ?? '').slice(0, 300);
}
