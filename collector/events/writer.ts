// The I/O shell around the Correlator (what to write next) and protocol.ts (how one write goes):
// sends each request through an EventApi, logs and counts the outcomes. Module map:
//   correlator.ts  which Event is written next (per-object budget, update interval)
//   protocol.ts    POST/PATCH/GET decisions from answers (pure)
//   window.ts      requests in flight (AIMD on 429), pause after 429, the global QPS/burst bucket
//   node-uids.ts   Node uids for Node Events
//   api.ts         EventApi over the kube client
// 429/5xx/transport errors are retried with backoff honouring Retry-After; after a few attempts the
// count goes back to pending and is written later. 403 is logged once per missing permission and
// counted; the count is kept and retried with a growing backoff (2 s .. 5 min): a fresh apiserver
// denies requests for a moment until its RBAC cache is loaded, and an operator may fix a Role later.
import { Counter, Gauge, type Registry } from 'prom-client';
import { backoff } from '../../common/backoff.js';
import type { Logger } from '../../common/log.js';
import { onceLogger } from '../../common/log.js';
import { KubeClient } from '../kube/client.js';
import { kubeEventApi, type EventApi } from './api.js';
import type { StreamPosition } from './applied.js';
import { shareOf } from './replicas.js';
import type { Sharing } from './presence.js';
import { Correlator, type WriteOutcome, type WriteTask } from './correlator.js';
import { NodeUidCache } from './node-uids.js';
import type { Observation } from './messages.js';
import { begin, step, type Answer, type Carry, type EventRequest, type Outcome } from './protocol.js';
import { TokenBucket } from './token-bucket.js';
import { RequestWindow } from './window.js';

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

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export class EventWriter {
  readonly correlator: Correlator;
  private readonly api: EventApi;
  private readonly requests: RequestWindow;
  private readonly nodeUids: NodeUidCache;
  private readonly now: () => number;
  private readonly concurrency: number;
  private readonly attempts: number;
  private readonly budget: { qps: number; burst: number };
  private sharing: Sharing = { replicas: 1, divisor: 1 };
  private inflight = 0;
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;
  private stopped = false;
  /** Stopping: write what is pending now, regardless of per-object limits and update intervals. */
  private draining = false;
  private idle: (() => void)[] = [];
  private readonly warnOnce: ReturnType<typeof onceLogger>;
  private readonly m: {
    writes: Counter<'verb' | 'code'>;
    retries: Counter;
    forbidden: Counter;
    dropped: Counter<'reason'>;
    observed: Counter<'reason'>;
    suppressed: Counter;
    redelivered: Counter;
  };
  private sweeper: NodeJS.Timeout | undefined;
  private stream: StreamPosition = { epoch: 0, floor: 0 };
  private settledListener: ((key: string, seqs: Iterable<number>) => void) | undefined;
  readonly stats: WriterStats = { creates: 0, patches: 0, conflicts: 0, gets: 0, retries: 0, forbidden: 0, failed: 0 };

  constructor(
    client: KubeClient | EventApi,
    private readonly log: Logger,
    o: EventWriterOptions,
  ) {
    this.now = o.now ?? Date.now;
    this.api = client instanceof KubeClient ? kubeEventApi(client) : client;
    this.correlator = new Correlator({
      objectBurst: o.objectBurst,
      objectRefillMs: o.objectRefillMs,
      updateIntervalMs: o.updateIntervalMs ?? 5000,
    });
    this.concurrency = o.concurrency ?? 4;
    this.budget = { qps: o.qps, burst: o.burst };
    this.requests = new RequestWindow(this.concurrency, new TokenBucket(o.qps, o.burst, this.now()), this.now, sleep);
    this.attempts = o.attempts ?? 4;
    this.warnOnce = onceLogger(log);
    this.nodeUids = new NodeUidCache(
      (path) => this.getNode(path),
      this.now,
      (node) =>
        this.warnOnce(
          'forbidden:nodes:get',
          'events: cannot GET nodes (missing permission: nodes get); Node Events use the node name as uid',
          { node },
        ),
    );
    const registers = o.registry ? [o.registry] : [];
    this.m = {
      writes: new Counter({
        name: 'nodewarden_collector_events_api_requests_total',
        help: 'Event API requests by verb (create, patch, get) and HTTP status (0 = transport error)',
        labelNames: ['verb', 'code'],
        registers,
      }),
      retries: new Counter({
        name: 'nodewarden_collector_events_retries_total',
        help: 'Event writes retried after 429/5xx/transport errors',
        registers,
      }),
      forbidden: new Counter({
        name: 'nodewarden_collector_events_forbidden_total',
        help: 'Event API requests rejected with 403 (missing RBAC permission)',
        registers,
      }),
      dropped: new Counter({
        name: 'nodewarden_collector_events_discarded_occurrences_total',
        help: 'occurrences not counted on any Event, by reason (invalid: rejected by the API server; overflow: too many distinct Events pending)',
        labelNames: ['reason'],
        registers,
      }),
      observed: new Counter({
        name: 'nodewarden_collector_events_observed_occurrences_total',
        help: 'occurrences handed to the Event writer, by reason',
        labelNames: ['reason'],
        registers,
      }),
      suppressed: new Counter({
        name: 'nodewarden_collector_events_suppressed_occurrences_total',
        help: 'occurrences that did not cause a write of their own (added to the count written next)',
        registers,
      }),
      redelivered: new Counter({
        name: 'nodewarden_collector_events_redelivered_occurrences_total',
        help: 'occurrences of redelivered messages an Event already counted (skipped, not counted twice)',
        registers,
      }),
    };
    for (const reason of ['invalid', 'overflow']) this.m.dropped.inc({ reason }, 0);
    const c = this.correlator;
    new Gauge({
      name: 'nodewarden_collector_events_pending_occurrences',
      help: 'occurrences observed and not yet written',
      registers,
      collect() {
        this.set(c.pendingTotal());
      },
    });
    const sharing = () => this.sharing;
    new Gauge({
      name: 'nodewarden_collector_events_replicas',
      help: 'collector replicas present, this one included (they share the Event budget)',
      registers,
      collect() {
        this.set(sharing().replicas);
      },
    });
    new Gauge({
      name: 'nodewarden_collector_events_budget_divisor',
      help: 'what this replica divides --event-qps/--event-burst by: itself and the other replicas with Event work',
      registers,
      collect() {
        this.set(sharing().divisor);
      },
    });
    new Gauge({
      name: 'nodewarden_collector_events_tracked',
      help: 'distinct Events remembered (object, reason, message)',
      registers,
      collect() {
        this.set(c.size);
      },
    });
    this.sweeper = setInterval(() => this.correlator.sweep(this.now()), 60_000);
    this.sweeper.unref();
  }

  /** Takes (and returns) this replica's share of the QPS and burst, global and per object: the budget / `divisor`. */
  share(sharing: Sharing): { qps: number; burst: number } {
    this.sharing = sharing;
    const s = shareOf(this.budget.qps, this.budget.burst, sharing.divisor);
    this.requests.global.reshape(s.qps, s.burst, this.now());
    this.correlator.share(sharing.divisor, this.now());
    this.pump();
    return s;
  }

  /** Where the durable consumer stands: writes record sequences above its ack floor (applied.ts). */
  setStreamPosition(p: StreamPosition): void {
    this.stream = p;
  }

  /**
   * Called when an entry's write is over for good (written, or permanently refused) with the stream
   * sequences it carried: those messages' occurrences on this Event need no more work.
   */
  onSettled(fn: (key: string, seqs: Iterable<number>) => void): void {
    this.settledListener = fn;
  }

  /** The entry key the occurrences went to, or undefined when they were not taken (stopped, overflow). */
  observe(o: Observation): string | undefined {
    if (this.stopped) return undefined;
    const before = this.correlator.stats.suppressed;
    const overflowBefore = this.correlator.stats.overflow;
    const key = this.correlator.observe(o, this.now());
    this.m.observed.inc({ reason: o.reason }, o.count);
    const s = this.correlator.stats.suppressed - before;
    if (s) this.m.suppressed.inc(s);
    const ov = this.correlator.stats.overflow - overflowBefore;
    if (ov) {
      this.m.dropped.inc({ reason: 'overflow' }, ov);
      this.warnOnce('overflow', 'events: too many distinct Events pending; occurrences discarded (only counted)');
    }
    this.pump();
    return key;
  }

  /** Resolves when nothing is pending or in flight, or after timeoutMs. */
  async flush(timeoutMs: number): Promise<boolean> {
    const until = this.now() + timeoutMs;
    while (this.inflight > 0 || this.correlator.queued > 0) {
      if (this.now() > until) return false;
      this.pump();
      await new Promise<void>((r) => {
        this.idle.push(r);
        setTimeout(r, 100);
      });
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
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.timerAt = Infinity;
      this.pump();
    }, ms);
  }

  private pump(): void {
    if (this.stopped) return;
    while (this.inflight < this.concurrency) {
      const now = this.now();
      const paused = this.requests.pausedFor(now);
      if (paused > 0) {
        this.schedule(paused);
        return;
      }
      if (!this.requests.global.available(now)) {
        this.schedule(this.requests.global.waitMs(now));
        return;
      }
      const t = this.correlator.next(now, 5000, this.draining);
      if (!t) {
        this.wakeIdle();
        return;
      }
      if ('waitMs' in t) {
        this.schedule(t.waitMs);
        return;
      }
      this.inflight++;
      void this.run(t)
        .catch((err: Error): WriteOutcome => {
          this.warnOnce('bug', 'events: unexpected error in the Event writer', { err: err.message });
          return { ok: false, retryAt: this.now() + 10_000 };
        })
        .then((out) => {
          this.inflight--;
          this.correlator.complete(t, out, this.now());
          if ((out.ok || 'drop' in out) && t.parts?.size) this.settledListener?.(t.key, t.parts.keys());
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

  private async getNode(path: string): Promise<Answer> {
    const r = await this.api.request('GET', path);
    if (r.status > 0) this.m.writes.inc({ verb: 'get', code: String(r.status) });
    return r;
  }

  private async send(req: EventRequest): Promise<Answer> {
    await this.requests.acquire(req.verb !== 'get');
    let r: Answer;
    try {
      r = await this.api.request(req.method, req.path, req.body);
    } catch (err) {
      this.requests.release(undefined);
      throw err;
    }
    this.requests.release(r.status);
    this.m.writes.inc({ verb: req.verb, code: String(r.status) });
    if (r.status === 0) return r;
    if (req.verb === 'create') this.stats.creates++;
    else if (req.verb === 'patch') this.stats.patches++;
    else this.stats.gets++;
    if (req.purpose === 'write' && r.status === 409) this.stats.conflicts++;
    return r;
  }

  /** One try of a task: requests until the protocol reaches an outcome. */
  private async attempt(t: WriteTask, carry: Carry | undefined): Promise<Outcome> {
    const ob = t.object;
    let uid = ob.uid;
    if (!uid && ob.kind === 'Node') {
      const n = await this.nodeUids.uid(ob.name);
      if ('failed' in n) {
        const a = n.failed;
        const message = a.status === 0 ? (a.error ?? 'transport error') : `GET node ${ob.name}: HTTP ${a.status}`;
        if (a.status === 0 || a.status === 429 || a.status >= 500) {
          return {
            kind: 'transient',
            status: a.status,
            message,
            retryAfterMs: a.retryAfterMs,
            carry: carry ?? { conflicts: 0, forget: false },
          };
        }
        return { kind: 'failed', status: a.status, message, forget: carry?.forget ?? false };
      }
      uid = n.uid;
    }
    let s = begin(t, uid, this.now(), carry, this.stream);
    while ('request' in s) {
      const { state, request } = s;
      if (request.purpose === 'read-by-patch')
        this.warnOnce(
          'forbidden:get',
          'events: cannot GET Events (missing permission: events get); reading them with an empty PATCH instead',
        );
      s = step(state, request, await this.send(request), this.now());
    }
    return s.outcome;
  }

  private async run(t: WriteTask): Promise<WriteOutcome> {
    let transient = 0;
    let carry: Carry | undefined;
    for (;;) {
      let out: Outcome;
      try {
        out = await this.attempt(t, carry);
      } catch (err) {
        // A body without metadata, or a bug: counted as failed, retried later.
        out = { kind: 'failed', status: -1, message: (err as Error).message, forget: carry?.forget ?? false };
      }
      switch (out.kind) {
        case 'written':
          if (out.skipped) this.m.redelivered.inc(out.skipped);
          return { ok: true, known: out.known };
        case 'no-uid':
          return { ok: false, drop: true, retryAt: this.now() + 60_000 };
        case 'conflict-limit':
          return { ok: false, retryAt: this.now() + 1000, forget: true };
        case 'forbidden': {
          const { verb, namespace: ns } = out;
          this.stats.forbidden++;
          this.m.forbidden.inc();
          this.warnOnce(
            `forbidden:${verb}:${ns}`,
            `events: API server refused to ${verb} Events (missing permission: events ${verb} in namespace ${ns}); counts are kept and retried with backoff, further refusals are only counted (nodewarden_collector_events_forbidden_total)`,
            { namespace: ns, verb, message: out.message },
          );
          return {
            ok: false,
            retryAt: this.now() + backoff(t.failures, { baseMs: 2000, capMs: 300_000, jitter: 'none' }),
            forget: out.forget,
          };
        }
        case 'invalid':
          this.stats.failed++;
          this.m.dropped.inc({ reason: 'invalid' }, t.delta);
          this.warnOnce(
            `invalid:${out.verb}:${out.status}`,
            `events: API server rejected an Event ${out.verb} (HTTP ${out.status}); such Events are dropped and counted`,
            { namespace: out.namespace, reason: t.reason, message: out.message },
          );
          return { ok: false, drop: true, retryAt: this.now() + 60_000 };
        case 'failed':
          this.stats.failed++;
          this.warnOnce(`error:${out.status}`, 'events: unexpected error writing an Event', { err: out.message });
          return { ok: false, retryAt: this.now() + 10_000, forget: out.forget };
        case 'transient': {
          if (out.pauseMs !== undefined) this.requests.pause(out.pauseMs);
          carry = out.carry;
          const delay = Math.max(
            out.retryAfterMs ?? 0,
            backoff(transient, { baseMs: 250, capMs: 30_000, jitter: 'equal' }),
          );
          if (++transient >= this.attempts) {
            this.stats.failed++;
            this.warnOnce(
              `transient:${out.status}`,
              'events: Event writes failing; counts are kept and written when the API server answers again',
              { err: out.message },
            );
            const later = backoff(t.failures, { baseMs: 1000, capMs: 30_000, jitter: 'none' });
            return { ok: false, retryAt: this.now() + Math.max(delay, later), forget: carry.forget };
          }
          this.stats.retries++;
          this.m.retries.inc();
          await sleep(delay);
        }
      }
    }
  }
}
