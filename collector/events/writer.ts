// The HTTP shell around the Correlator: writes core/v1 Events.
//
// Protocol per write (one task = one Event, `delta` new occurrences):
//   unknown Event -> POST with the deterministic name and count=delta
//       201 -> known;  409 AlreadyExists (another replica, or our restart) -> GET it, then PATCH
//   known Event   -> merge-PATCH {metadata.resourceVersion, count: known+delta, lastTimestamp}
//       200 -> known;  409 Conflict (someone else updated it) -> GET, PATCH again;  404 (expired) -> POST
// The resourceVersion precondition makes concurrent replicas add their counts instead of overwriting
// each other. Every write attempt takes a token from the global bucket (QPS/burst): the API server
// never sees more than burst + qps*t writes from this process. 429/5xx/transport errors are retried
// with backoff honouring Retry-After (a 429 also pauses all writes and halves the number of requests
// in flight, which grows back by one per five windows of successes); after a few attempts the count
// goes back to pending and is written later. 403 is logged once per missing permission and counted;
// the count is kept and retried with a growing backoff (2 s .. 5 min): a fresh apiserver denies
// requests for a moment until its RBAC cache is loaded, and an operator may fix a Role later.
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Logger } from '../../common/log.js';
import { onceLogger } from '../../common/log.js';
import { KubeApiError, retryAfterMs, statusMessage, type KubeClient, type KubeResponse } from '../kube/client.js';
import { Correlator, TokenBucket, type KnownEvent, type WriteOutcome, type WriteTask } from './correlator.js';
import { eventBody, eventName, eventNamespace, k8sTime, type EventObject, type Observation } from './messages.js';

export interface EventWriterOptions {
  /** Global sustained writes per second. */
  qps: number;
  /** Global burst (writes). */
  burst: number;
  objectBurst: number;
  objectRefillMs: number;
  /** Minimum time between two writes of the same Event. */
  updateIntervalMs?: number;
  /** Concurrent requests. */
  concurrency?: number;
  /** Attempts per write for 429/5xx/transport errors before the count goes back to pending. */
  attempts?: number;
  registry?: Registry;
  now?: () => number;
}

export interface WriterStats {
  creates: number;
  patches: number;
  conflicts: number;
  gets: number;
  retries: number;
  forbidden: number;
  failed: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class EventWriter {
  readonly correlator: Correlator;
  private readonly global: TokenBucket;
  private readonly now: () => number;
  private readonly concurrency: number;
  private readonly attempts: number;
  private inflight = 0;
  /** Requests allowed in flight: halved on every 429, grown back by one per five windows of successes (AIMD). */
  private window: number;
  /** HTTP requests in flight. */
  private requests = 0;
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;
  private pausedUntil = 0;
  private stopped = false;
  /** Stopping: write what is pending now, regardless of per-object limits and update intervals. */
  private draining = false;
  private idle: (() => void)[] = [];
  private nodeUids = new Map<string, { uid: string; at: number }>();
  private readonly warnOnce: ReturnType<typeof onceLogger>;
  private readonly m: { writes: Counter<'verb' | 'code'>; retries: Counter; forbidden: Counter; dropped: Counter<'reason'>; observed: Counter<'reason'>; suppressed: Counter };
  private sweeper: NodeJS.Timeout | undefined;
  readonly stats: WriterStats = { creates: 0, patches: 0, conflicts: 0, gets: 0, retries: 0, forbidden: 0, failed: 0 };

  constructor(private readonly client: KubeClient, private readonly log: Logger, o: EventWriterOptions) {
    this.now = o.now ?? Date.now;
    this.global = new TokenBucket(o.qps, o.burst, this.now());
    this.correlator = new Correlator({ objectBurst: o.objectBurst, objectRefillMs: o.objectRefillMs, updateIntervalMs: o.updateIntervalMs ?? 5000 });
    this.concurrency = o.concurrency ?? 4;
    this.window = this.concurrency;
    this.attempts = o.attempts ?? 4;
    this.warnOnce = onceLogger(log);
    const registers = o.registry ? [o.registry] : [];
    this.m = {
      writes: new Counter({ name: 'nodewarden_collector_events_api_requests_total', help: 'Event API requests by verb (create, patch, get) and HTTP status (0 = transport error)', labelNames: ['verb', 'code'], registers }),
      retries: new Counter({ name: 'nodewarden_collector_events_retries_total', help: 'Event writes retried after 429/5xx/transport errors', registers }),
      forbidden: new Counter({ name: 'nodewarden_collector_events_forbidden_total', help: 'Event API requests rejected with 403 (missing RBAC permission)', registers }),
      dropped: new Counter({ name: 'nodewarden_collector_events_discarded_occurrences_total', help: 'occurrences not counted on any Event, by reason (invalid: rejected by the API server; overflow: too many distinct Events pending)', labelNames: ['reason'], registers }),
      observed: new Counter({ name: 'nodewarden_collector_events_observed_occurrences_total', help: 'occurrences handed to the Event writer, by reason', labelNames: ['reason'], registers }),
      suppressed: new Counter({ name: 'nodewarden_collector_events_suppressed_occurrences_total', help: 'occurrences that did not cause a write of their own (added to the count written next)', registers }),
    };
    for (const reason of ['invalid', 'overflow']) this.m.dropped.inc({ reason }, 0);
    const c = this.correlator;
    new Gauge({ name: 'nodewarden_collector_events_pending_occurrences', help: 'occurrences observed and not yet written', registers, collect() { this.set(c.pendingTotal()); } });
    new Gauge({ name: 'nodewarden_collector_events_tracked', help: 'distinct Events remembered (object, reason, message)', registers, collect() { this.set(c.size); } });
    this.sweeper = setInterval(() => this.correlator.sweep(this.now()), 60_000);
    this.sweeper.unref();
  }

  observe(o: Observation): void {
    if (this.stopped) return;
    const before = this.correlator.stats.suppressed;
    const overflowBefore = this.correlator.stats.overflow;
    this.correlator.observe(o, this.now());
    this.m.observed.inc({ reason: o.reason }, o.count);
    const s = this.correlator.stats.suppressed - before;
    if (s) this.m.suppressed.inc(s);
    const ov = this.correlator.stats.overflow - overflowBefore;
    if (ov) {
      this.m.dropped.inc({ reason: 'overflow' }, ov);
      this.warnOnce('overflow', 'events: too many distinct Events pending; occurrences discarded (only counted)');
    }
    this.pump();
  }

  /** Resolves when nothing is pending or in flight, or after timeoutMs. */
  async flush(timeoutMs: number): Promise<boolean> {
    const until = this.now() + timeoutMs;
    while (this.inflight > 0 || this.correlator.queued > 0) {
      if (this.now() > until) return false;
      this.pump();
      await new Promise<void>((r) => { this.idle.push(r); setTimeout(r, 100); });
    }
    return true;
  }

  async stop(flushMs = 5000): Promise<void> {
    this.draining = true;
    const ok = await this.flush(flushMs);
    if (!ok) this.log.warn({ pending: this.correlator.pendingTotal() }, 'events: stopping with unwritten counts');
    this.stopped = true;
    clearTimeout(this.timer);
    clearInterval(this.sweeper);
  }

  private schedule(ms: number): void {
    const at = this.now() + ms;
    if (this.timer && this.timerAt <= at) return;
    clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(() => { this.timer = undefined; this.timerAt = Infinity; this.pump(); }, ms);
  }

  private pump(): void {
    if (this.stopped) return;
    while (this.inflight < this.concurrency) {
      const now = this.now();
      if (now < this.pausedUntil) { this.schedule(this.pausedUntil - now); return; }
      if (!this.global.available(now)) { this.schedule(this.global.waitMs(now)); return; }
      const t = this.correlator.next(now, 5000, this.draining);
      if (!t) { this.wakeIdle(); return; }
      if ('waitMs' in t) { this.schedule(t.waitMs); return; }
      this.inflight++;
      void this.run(t).catch((err: Error): WriteOutcome => {
        this.warnOnce('bug', 'events: unexpected error in the Event writer', { err: err.message });
        return { ok: false, retryAt: this.now() + 10_000 };
      }).then((out) => {
        this.inflight--;
        this.correlator.complete(t, out, this.now());
        this.pump();
        if (this.inflight === 0 && this.correlator.queued === 0) this.wakeIdle();
      });
    }
  }

  private wakeIdle(): void {
    const w = this.idle;
    this.idle = [];
    for (const r of w) r();
  }

  /**
   * Waits for a request slot (at most `window` requests in flight) and, for writes, a global token:
   * every write attempt, retries included, takes one. send() gives the slot back.
   */
  private async acquire(write: boolean): Promise<void> {
    for (;;) {
      const now = this.now();
      if (now >= this.pausedUntil && this.requests < Math.floor(this.window) && (!write || this.global.take(now))) {
        this.requests++;
        return;
      }
      await sleep(Math.max(5, this.pausedUntil - now, write ? this.global.waitMs(now) : 0));
    }
  }

  private async nodeUid(name: string): Promise<string> {
    const c = this.nodeUids.get(name);
    if (c && this.now() - c.at < 600_000) return c.uid;
    const r = await this.client.request('GET', `/api/v1/nodes/${encodeURIComponent(name)}`);
    this.m.writes.inc({ verb: 'get', code: String(r.status) });
    let uid: string;
    if (r.status === 200 && r.body?.metadata?.uid) {
      uid = r.body.metadata.uid;
      this.nodeUids.set(name, { uid, at: this.now() });
    } else if (r.status === 403 || r.status === 404) {
      // kubectl describe node also lists Events whose involvedObject.uid is the node name (the kubelet's
      // way). Not cached for long: a 403 may be a fresh apiserver whose RBAC is not loaded yet.
      if (r.status === 403) this.warnOnce('forbidden:nodes:get', 'events: cannot GET nodes (missing permission: nodes get); Node Events use the node name as uid', { node: name });
      uid = name;
      this.nodeUids.set(name, { uid, at: this.now() - 540_000 });
    } else throw new KubeApiError(`GET node ${name}: HTTP ${r.status}: ${statusMessage(r.body)}`, r.status, undefined, retryAfterMs(r.headers['retry-after']));
    return uid;
  }

  private async send(verb: 'create' | 'patch' | 'get', method: string, path: string, body?: unknown): Promise<KubeResponse> {
    await this.acquire(verb !== 'get');
    let r: KubeResponse;
    try {
      r = await this.client.request(method, path, body);
    } catch (err) {
      this.m.writes.inc({ verb, code: '0' });
      throw err;
    } finally {
      this.requests--;
    }
    this.m.writes.inc({ verb, code: String(r.status) });
    if (r.status === 429) this.window = Math.max(1, this.window / 2);
    else if (r.status < 300) this.window = Math.min(this.concurrency, this.window + 0.2 / this.window);
    if (verb === 'create') this.stats.creates++;
    else if (verb === 'patch') this.stats.patches++;
    else this.stats.gets++;
    return r;
  }

  private async run(t: WriteTask): Promise<WriteOutcome> {
    let transient = 0;
    let conflicts = 0;
    let known: KnownEvent | undefined = t.known;
    let forget = false;
    for (;;) {
      try {
        const ob: EventObject = t.object;
        const uid = ob.uid ?? (ob.kind === 'Node' ? await this.nodeUid(ob.name) : undefined);
        if (!uid) return { ok: false, drop: true, retryAt: this.now() + 60_000 };
        const ns = eventNamespace(ob);
        const base = `/api/v1/namespaces/${encodeURIComponent(ns)}/events`;
        const now = this.now();
        const lastMs = Math.min(now, t.lastMs);
        const firstMs = Math.min(lastMs, t.firstMs);
        let r: KubeResponse;
        let verb: 'create' | 'patch';
        if (!known) {
          verb = 'create';
          const name = eventName(ob.name, uid, t.reason, t.message);
          r = await this.send('create', 'POST', base, eventBody(name, { ...ob, uid }, t, t.delta, firstMs, lastMs));
          if (r.status === 201 || r.status === 200) return { ok: true, known: this.knownFrom(r.body, lastMs) };
          if (r.status === 409) {
            this.stats.conflicts++;
            known = await this.fetch(`${base}/${encodeURIComponent(name)}`);
            if (++conflicts > 5) return { ok: false, retryAt: this.now() + 1000, forget: true };
            continue;
          }
        } else {
          verb = 'patch';
          const last = Math.max(known.lastMs, lastMs);
          r = await this.send('patch', 'PATCH', `${base}/${encodeURIComponent(known.name)}`, {
            metadata: { resourceVersion: known.resourceVersion },
            count: known.count + t.delta,
            lastTimestamp: k8sTime(last),
          });
          if (r.status === 200) return { ok: true, known: this.knownFrom(r.body, last) };
          if (r.status === 409) {
            this.stats.conflicts++;
            known = await this.fetch(`${base}/${encodeURIComponent(known.name)}`);
            if (++conflicts > 5) return { ok: false, retryAt: this.now() + 1000, forget: true };
            continue;
          }
          if (r.status === 404) { known = undefined; forget = true; continue; }
        }
        // errors
        if (r.status === 403) {
          this.stats.forbidden++;
          this.m.forbidden.inc();
          this.warnOnce(`forbidden:${verb}:${ns}`, `events: API server refused to ${verb} Events (missing permission: events ${verb} in namespace ${ns}); counts are kept and retried with backoff, further refusals are only counted (nodewarden_collector_events_forbidden_total)`, { namespace: ns, verb, message: statusMessage(r.body) });
          return { ok: false, retryAt: this.now() + Math.min(300_000, 2000 * 2 ** Math.min(t.failures, 8)), forget };
        }
        if (r.status === 429 || r.status >= 500) {
          const ra = retryAfterMs(r.headers['retry-after']);
          if (r.status === 429) this.pausedUntil = Math.max(this.pausedUntil, this.now() + (ra ?? 1000));
          throw new KubeApiError(`${verb} event: HTTP ${r.status}: ${statusMessage(r.body)}`, r.status, undefined, ra);
        }
        this.stats.failed++;
        this.m.dropped.inc({ reason: 'invalid' }, t.delta);
        this.warnOnce(`invalid:${verb}:${r.status}`, `events: API server rejected an Event ${verb} (HTTP ${r.status}); such Events are dropped and counted`, { namespace: ns, reason: t.reason, message: statusMessage(r.body) });
        return { ok: false, drop: true, retryAt: this.now() + 60_000 };
      } catch (err) {
        const e = err as KubeApiError;
        if (e.status !== 0 && e.status !== 429 && !(e.status >= 500)) {
          this.stats.failed++;
          this.warnOnce(`error:${e.status}`, 'events: unexpected error writing an Event', { err: e.message });
          return { ok: false, retryAt: this.now() + 10_000, forget };
        }
        const delay = Math.max(e.retryAfterMs ?? 0, Math.min(30_000, 250 * 2 ** transient) * (0.5 + Math.random() / 2));
        if (++transient >= this.attempts) {
          this.stats.failed++;
          this.warnOnce(`transient:${e.status}`, 'events: Event writes failing; counts are kept and written when the API server answers again', { err: e.message });
          return { ok: false, retryAt: this.now() + Math.max(delay, Math.min(30_000, 1000 * 2 ** Math.min(t.failures, 5))), forget };
        }
        this.stats.retries++;
        this.m.retries.inc();
        await sleep(delay);
      }
    }
  }

  private knownFrom(body: any, lastMs: number): KnownEvent {
    return { name: body.metadata.name, count: Number(body.count ?? 1), resourceVersion: body.metadata.resourceVersion, lastMs: Date.parse(body.lastTimestamp ?? '') || lastMs };
  }

  /**
   * GET an Event after a 409: its current count and resourceVersion (undefined if it is gone). Without
   * the `events get` permission, an empty merge-PATCH (allowed by `events patch`) returns the same.
   */
  private async fetch(path: string): Promise<KnownEvent | undefined> {
    let r = await this.send('get', 'GET', path);
    if (r.status === 403) {
      this.warnOnce('forbidden:get', 'events: cannot GET Events (missing permission: events get); reading them with an empty PATCH instead');
      r = await this.send('patch', 'PATCH', path, {});
    }
    if (r.status === 404) return undefined;
    if (r.status !== 200) throw new KubeApiError(`get event: HTTP ${r.status}: ${statusMessage(r.body)}`, r.status, undefined, retryAfterMs(r.headers['retry-after']));
    return this.knownFrom(r.body, 0);
  }
}
