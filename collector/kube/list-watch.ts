// A cluster-wide LIST (paged) + WATCH of one resource kind, feeding a sink (a cache that keeps only
// the fields its users need). The pod cache, NetworkPolicies and Namespaces all use it.
//
//   list (limit/continue) -> watch?allowWatchBookmarks&resourceVersion&timeoutSeconds -> ...
//   - the server ends a watch after timeoutSeconds: re-watch from the last resourceVersion at once;
//   - BOOKMARK events only advance the resourceVersion;
//   - 410 Gone / "Expired" (on the watch or a list continue token): relist;
//   - transport errors, 5xx, 429: reconnect with jittered exponential backoff (Retry-After honoured);
//   - a watchdog aborts a watch that has been silent longer than the bound (half-open connections
//     after a network change or an apiserver that stopped sending) and re-watches.
// The sink keeps serving the last known state throughout; ready() is true after the first full list.
import type { Logger } from '../../common/log.js';
import { KubeApiError, statusMessage, type KubeClient, type WatchHandle } from './client.js';
import { Counter, type Registry } from 'prom-client';
import { backoff } from '../../common/backoff.js';

/** A counter shared by every watched resource, its `resource` label filled in. */
interface ResourceCounter {
  inc(labels: Record<string, string>): void;
  zero(labels: Record<string, string>): void;
}

/** Where list/watch results go. Objects are the API's JSON; the sink reduces them. */
export interface ListWatchSink<T> {
  upsert(obj: T): void;
  remove(obj: T): void;
  keyOf(obj: T): string;
  /** A (re)list ended: objects whose keys were not seen are gone. */
  relistFinish(seen: Set<string>): void;
  /** Objects held (for the sync log line). */
  readonly size: number;
  /** The resourceVersion of the list or of the last event applied (bookmarks included). */
  onResourceVersion?(rv: string): void;
}

export interface ListWatchResource {
  /** Collection path, e.g. /api/v1/pods or /apis/networking.k8s.io/v1/networkpolicies. */
  path: string;
  /** Singular name for metrics and logs ("pod", "networkpolicy"). */
  name: string;
  /** Said once when a 403 comes back. */
  forbiddenHint: string;
}

export interface ListWatchOptions {
  /** LIST page size. */
  pageSize?: number;
  /** Server-side watch timeout, seconds; each watch picks a value in [t, 2t) so clients spread out. */
  watchTimeoutS?: number;
  /**
   * Abort a watch with no bytes (events or bookmarks) for this long. Default: the watch's own timeout
   * + 30 s. Bookmarks cannot be relied on as a heartbeat (an idle v1.36 apiserver sent none in 140 s),
   * so the bound must exceed the server-side timeout; the short default timeout keeps it near 4 min.
   */
  silenceMs?: number;
  backoffMinMs?: number;
  backoffMaxMs?: number;
  registry?: Registry;
}

export class ListWatch<T extends { metadata?: { resourceVersion?: string } }> {
  private rv: string | undefined;
  private stopped = false;
  private current: WatchHandle | undefined;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private readonly o: Required<Omit<ListWatchOptions, 'registry' | 'silenceMs'>> & { silenceMs?: number };
  private readonly m: { relists: ResourceCounter; restarts: ResourceCounter; events: ResourceCounter };
  /** Counters for tests and logs (mirrors the metrics). */
  readonly stats = { lists: 0, relists410: 0, watches: 0, watchdogAborts: 0, errors: 0, bookmarks: 0, events: 0 };

  private synced = false;

  constructor(
    private readonly client: KubeClient,
    protected readonly log: Logger,
    private readonly res: ListWatchResource,
    private readonly sink: ListWatchSink<T>,
    opts: ListWatchOptions = {},
  ) {
    this.o = { pageSize: 500, watchTimeoutS: 120, backoffMinMs: 500, backoffMaxMs: 30_000, ...opts };
    const resource = res.name;
    // One metric per name for all resources (pods, networkpolicies, namespaces share a registry).
    const shared = (name: string, help: string, label: string): ResourceCounter => {
      const c =
        (opts.registry?.getSingleMetric(name) as Counter<string> | undefined) ??
        new Counter({ name, help, labelNames: ['resource', label], registers: opts.registry ? [opts.registry] : [] });
      return { inc: (labels) => c.inc({ resource, ...labels }), zero: (labels) => c.inc({ resource, ...labels }, 0) };
    };
    this.m = {
      relists: shared(
        'nodewarden_collector_kube_lists_total',
        'full LISTs of a watched resource, by reason (initial, expired, error)',
        'reason',
      ),
      restarts: shared(
        'nodewarden_collector_kube_watch_restarts_total',
        'watch (re)starts of a resource, by reason (timeout, error, watchdog, expired)',
        'reason',
      ),
      events: shared('nodewarden_collector_kube_watch_events_total', 'watch events of a resource, by type', 'type'),
    };
    for (const reason of ['initial', 'expired', 'error']) this.m.relists.zero({ reason });
    for (const reason of ['timeout', 'error', 'watchdog', 'expired']) this.m.restarts.zero({ reason });
    for (const type of ['ADDED', 'MODIFIED', 'DELETED', 'BOOKMARK']) this.m.events.zero({ type });
  }

  /** True once the first full list is in. */
  ready(): boolean {
    return this.synced;
  }

  start(): void {
    this.loop = this.run();
  }

  /** Resolves once the first full list is in (or rejects after timeoutMs). */
  async waitReady(timeoutMs: number): Promise<void> {
    const until = Date.now() + timeoutMs;
    while (!this.ready()) {
      if (this.stopped) throw new Error(`${this.res.name} watch stopped`);
      if (Date.now() > until) throw new Error(`${this.res.name} cache not synced within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.current?.abort('stopping');
    this.wake?.();
    // a LIST page in flight finishes on its own; do not hold shutdown for it
    await Promise.race([this.loop?.catch(() => undefined), new Promise((r) => setTimeout(r, 2000).unref())]);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((r) => {
      const t = setTimeout(() => {
        this.wake = undefined;
        r();
      }, ms);
      this.wake = () => {
        clearTimeout(t);
        this.wake = undefined;
        r();
      };
    });
  }

  private async run(): Promise<void> {
    let failures = 0;
    let listReason = 'initial';
    while (!this.stopped) {
      try {
        if (this.rv === undefined) {
          await this.list(listReason);
          failures = 0;
        }
        const started = Date.now();
        const outcome = await this.watchOnce();
        if (outcome === 'expired') {
          this.rv = undefined;
          listReason = 'expired';
          continue;
        }
        // A server-side timeout is the normal end: re-watch at once. A watch that ends right away
        // (or a watchdog abort) backs off, so a misbehaving server or proxy is not hammered.
        if (outcome === 'watchdog' || Date.now() - started < 1000) await this.sleep(this.backoff(failures++));
        else failures = 0;
      } catch (err) {
        if (this.stopped) break;
        const e = err as KubeApiError;
        this.stats.errors++;
        if (e.status === 410 || e.reason === 'Expired' || e.reason === 'Gone') {
          this.rv = undefined;
          listReason = 'expired';
          this.log.info({ err: e.message }, `kube: resourceVersion expired; relisting ${this.res.name}s`);
          continue;
        }
        if (this.rv === undefined) listReason = 'error';
        const delay = Math.max(this.backoff(failures++), e.retryAfterMs ?? 0);
        const level = failures <= 1 ? 'warn' : 'debug';
        this.log[level](
          { err: e.message, status: e.status || undefined, retryInMs: delay, synced: this.ready() },
          e.status === 403
            ? `kube: ${this.res.name} list/watch forbidden (${this.res.forbiddenHint})`
            : `kube: ${this.res.name} list/watch failed; retrying`,
        );
        this.m.restarts.inc({ reason: 'error' });
        await this.sleep(delay);
      }
    }
  }

  private backoff(n: number): number {
    return backoff(n, { baseMs: this.o.backoffMinMs, capMs: this.o.backoffMaxMs, jitter: 'equal' });
  }

  private async list(reason: string): Promise<void> {
    const seen = new Set<string>();
    let cont: string | undefined;
    let rv: string | undefined;
    let pages = 0;
    const t0 = Date.now();
    do {
      const q = new URLSearchParams({ limit: String(this.o.pageSize) });
      if (cont) q.set('continue', cont);
      const r = await this.client.request<{ metadata?: { resourceVersion?: string; continue?: string }; items?: T[] }>(
        'GET',
        `${this.res.path}?${q}`,
        undefined,
        { timeoutMs: 60_000 },
      );
      if (r.status !== 200) {
        const reason = (r.body as { reason?: string })?.reason;
        throw new KubeApiError(`list ${this.res.path}: HTTP ${r.status}: ${statusMessage(r.body)}`, r.status, reason);
      }
      for (const p of r.body.items ?? []) {
        seen.add(this.sink.keyOf(p));
        this.sink.upsert(p);
      }
      cont = r.body.metadata?.continue || undefined;
      rv = r.body.metadata?.resourceVersion;
      pages++;
      if (this.stopped) return;
    } while (cont);
    this.sink.relistFinish(seen);
    this.synced = true;
    this.rv = rv;
    if (rv) this.sink.onResourceVersion?.(rv);
    this.stats.lists++;
    if (reason === 'expired') this.stats.relists410++;
    this.m.relists.inc({ reason });
    this.log.info(
      { [`${this.res.name}s`]: this.sink.size, pages, resourceVersion: rv, ms: Date.now() - t0, reason },
      `kube: ${this.res.name} cache synced`,
    );
  }

  /** One watch from this.rv. Returns how it ended; throws on errors. */
  private watchOnce(): Promise<'timeout' | 'expired' | 'watchdog'> {
    const timeoutS = this.o.watchTimeoutS + Math.floor(Math.random() * this.o.watchTimeoutS);
    const q = new URLSearchParams({
      watch: '1',
      allowWatchBookmarks: 'true',
      resourceVersion: this.rv!,
      timeoutSeconds: String(timeoutS),
    });
    const silenceMs = this.o.silenceMs ?? (timeoutS + 30) * 1000;
    let last = Date.now();
    let expired = false;
    let watchdog = false;
    const h = this.client.watch(
      `${this.res.path}?${q}`,
      (ev) =>
        this.onEvent(ev, () => {
          expired = true;
          h.abort('expired');
        }),
      () => {
        last = Date.now();
      },
    );
    this.current = h;
    this.stats.watches++;
    const dog = setInterval(
      () => {
        if (Date.now() - last > silenceMs) {
          watchdog = true;
          this.stats.watchdogAborts++;
          this.log.warn(
            { silentMs: Date.now() - last, boundMs: silenceMs },
            `kube: ${this.res.name} watch silent past the bound; restarting it`,
          );
          h.abort('watchdog: silent watch');
        }
      },
      Math.min(1000, Math.max(100, silenceMs / 4)),
    );
    return h.done
      .then(
        () => {
          this.m.restarts.inc({ reason: 'timeout' });
          return 'timeout' as const;
        },
        (err) => {
          if (expired) {
            this.m.restarts.inc({ reason: 'expired' });
            return 'expired' as const;
          }
          if (watchdog) {
            this.m.restarts.inc({ reason: 'watchdog' });
            return 'watchdog' as const;
          }
          if (this.stopped) return 'timeout' as const;
          if ((err as Error).message === 'resourceVersion forced') return 'timeout' as const;
          throw err;
        },
      )
      .finally(() => {
        clearInterval(dog);
        this.current = undefined;
      });
  }

  // biome-ignore lint/suspicious/noExplicitAny: API server JSON; each caller reads the fields it needs
  private onEvent(ev: { type: string; object: any }, onExpired: () => void): void {
    this.stats.events++;
    this.m.events.inc({ type: ev.type });
    const rv: string | undefined = ev.object?.metadata?.resourceVersion;
    switch (ev.type) {
      case 'ADDED':
      case 'MODIFIED':
        this.sink.upsert(ev.object as T);
        break;
      case 'DELETED':
        this.sink.remove(ev.object as T);
        break;
      case 'BOOKMARK':
        this.stats.bookmarks++;
        break;
      case 'ERROR': {
        const code = ev.object?.code;
        if (code === 410 || ev.object?.reason === 'Expired' || ev.object?.reason === 'Gone') {
          this.log.info({ message: ev.object?.message }, `kube: ${this.res.name} watch expired (410); relisting`);
          onExpired();
        } else {
          this.log.warn({ status: ev.object }, `kube: ${this.res.name} watch error event`);
          this.current?.abort(`watch error: ${ev.object?.message ?? code}`);
        }
        return;
      }
      default:
        return;
    }
    if (rv) {
      this.rv = rv;
      this.sink.onResourceVersion?.(rv);
    }
  }
}
