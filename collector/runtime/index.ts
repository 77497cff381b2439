// The collector's side of the runtime view (issue 6): the latest RuntimeSnapshot per node, served as
// GET /api/v1/nodes/{node}/runtime; cross-checked with the pod cache (StaticPodNotMirrored,
// ContainerRestarting) and its own Status (RuntimeNotReady, RuntimeNetworkNotReady), written into the
// finding store; runtime pod IPs as low-priority resolver hints.
import type { Logger } from '../../common/log.js';
import { onceLogger } from '../../common/log.js';
import type { JobGuard } from '../../common/guard.js';
import { readFlags, type FlagSpecs } from '../../common/flags.js';
import type { Finding } from '../../proto/codec.js';
import type { EnvelopeListener } from '../collector.js';
import type { RouteHandler } from '../api/server.js';
import { NotFound, readQuery } from '../api/query.js';
import type { Stores } from '../ingest/apply.js';
import type { Resolver } from '../resolve/resolver.js';
import { RestartCheck, StaticPodCheck, type FindingChange } from './checks.js';
import { RuntimeConditionCheck } from './condition-check.js';
import { HintedResolver, RuntimeHints } from './hints.js';
import { nodeRuntimeFrom, RuntimeStore } from './store.js';
import { nodeRuntimeJson } from './view.js';

export { RuntimeStore } from './store.js';
export type { NodeRuntimeJson } from './view.js';

export interface RuntimeExtensionOptions {
  /** How long a static pod may run without its mirror pod in the API before StaticPodNotMirrored (default 2m). */
  staticPodGraceMs?: number;
  /** ContainerRestarting: this many restarts (default 3) ... */
  restartThreshold?: number;
  /** ... within this window (default 10m); cleared after a window without any. */
  restartWindowMs?: number;
  /** A node view older than this is not trusted for checks or hints (default 11m: two missed periodic resends). */
  staleMs?: number;
  /**
   * How often checks run without new views (mirror pods appear, windows pass); 0 = never (call tick()). Default 10s.
   */
  tickMs?: number;
  now?: () => number;
  /**
   * Also called for every finding written to the finding store (e.g. to write Kubernetes Events):
   * notify = a raise, a clear, or news worth telling (a raised finding that learned its cause);
   * false = the same raised finding with fresher numbers.
   */
  onFinding?: (node: string, finding: Finding, notify: boolean) => void;
  /** Catches and counts a failing timer tick (it runs again at the next one). */
  guard?: JobGuard;
}

export interface RuntimeExtension {
  /** The API resolver with runtime pod IPs as fallback hints; pass it to runCollector. */
  resolver: Resolver;
  listener: EnvelopeListener;
  routes: Record<string, RouteHandler>;
  store: RuntimeStore;
  /** Runs the checks now (the timer does this every tickMs). */
  tick(nowMs?: number): void;
  stop(): void;
}

export const runtimeCollectorFlags = {
  'static-pod-grace': {
    type: 'duration',
    arg: 'DURATION',
    default: '2m',
    help: 'A static pod running without its mirror pod in the API this long raises StaticPodNotMirrored.',
  },
  'restart-threshold': {
    type: 'int',
    arg: 'N',
    default: '3',
    help: 'ContainerRestarting when a container restarts this many times within --restart-window.',
  },
  'restart-window': {
    type: 'duration',
    arg: 'DURATION',
    default: '10m',
    help: 'Window for --restart-threshold; the finding clears after a window without restarts.',
  },
} satisfies FlagSpecs;

/** Flags -> options (ConfigError on bad values); `{}` gives the defaults. */
export function runtimeExtensionOptions(v: Record<string, unknown>): RuntimeExtensionOptions {
  const f = readFlags(runtimeCollectorFlags, v);
  return {
    staticPodGraceMs: f['static-pod-grace'],
    restartThreshold: f['restart-threshold'],
    restartWindowMs: f['restart-window'],
  };
}

const DEFAULTS = runtimeExtensionOptions({}) as Required<
  Pick<RuntimeExtensionOptions, 'staticPodGraceMs' | 'restartThreshold' | 'restartWindowMs'>
>;

export function runtimeExtension(
  apiResolver: Resolver,
  log: Logger,
  opts: RuntimeExtensionOptions = {},
): RuntimeExtension {
  const now = opts.now ?? Date.now;
  const staleMs = opts.staleMs ?? 11 * 60_000;
  const store = new RuntimeStore();
  const hints = new RuntimeHints(staleMs, now);
  const resolver = new HintedResolver(apiResolver, hints);
  const statics = new StaticPodCheck(opts.staticPodGraceMs ?? DEFAULTS.staticPodGraceMs);
  const conditions = new RuntimeConditionCheck();
  const restarts = new RestartCheck({
    threshold: opts.restartThreshold ?? DEFAULTS.restartThreshold,
    windowMs: opts.restartWindowMs ?? DEFAULTS.restartWindowMs,
  });
  const warnOnce = onceLogger(log);
  let stores: Stores | undefined;

  /** All nodes (the timer), or only the node whose view just arrived (cheap during a stream replay). */
  const check = (nowMs: number, node?: string): void => {
    if (!stores) return; // nothing received yet
    const views = node === undefined ? [...store.all()] : [store.get(node)!];
    const fresh = views.filter((v) => nowMs - v.observedMs <= staleMs);
    const changes: FindingChange[] = [];
    if (!apiResolver.podByName)
      warnOnce(
        'runtime:no-podByName',
        'runtime: the pod source cannot look pods up by name; StaticPodNotMirrored is not checked',
      );
    else if (apiResolver.ready())
      changes.push(...statics.evaluate(nowMs, fresh, (ns, name) => apiResolver.podByName!(ns, name)));
    changes.push(...restarts.evaluate(nowMs, node));
    // Conditions change only with a new view: judged when one arrives.
    if (node !== undefined) changes.push(...conditions.evaluate(nowMs, views[0]));
    for (const c of changes) {
      const changed = stores.findings.apply(c.node, c.finding, nowMs);
      if (changed)
        log.info(
          { node: c.node, kind: c.finding.kind, key: c.finding.key, active: c.finding.active },
          `runtime: ${c.finding.kind} ${c.finding.active ? 'raised' : 'cleared'}`,
        );
      opts.onFinding?.(c.node, c.finding, changed || !!c.news);
    }
  };
  const tick = (nowMs = now()): void => check(nowMs);

  const listener: EnvelopeListener = (env, applied, s) => {
    stores = s;
    if (env.body !== 'runtime' || applied.kind === 'duplicate' || !env.msg.runtime) return;
    const v = nodeRuntimeFrom(env.node, env.msg.runtime, env.sentMs, now());
    if (!store.apply(v)) return;
    hints.update(v);
    restarts.observe(v);
    check(now(), v.node);
  };

  const routes: Record<string, RouteHandler> = {
    '/api/v1/nodes/:node/runtime': (query, { node }) => {
      readQuery(query, {});
      const v = store.get(node);
      if (!v) {
        const known = stores?.nodes.get(node, now(), (n) => stores!.findings.counts(n));
        const probe = known?.probes?.find((p) => p.name === 'runtime');
        throw new NotFound(
          !known
            ? `no agent has reported from node "${node}"`
            : probe && !probe.ok
              ? `node "${node}" has no runtime view: its agent cannot read the container runtime (${probe.detail})`
              : `node "${node}" has sent no runtime view yet`,
        );
      }
      return nodeRuntimeJson(
        v,
        now(),
        staleMs,
        apiResolver.podByName ? (ns, name) => apiResolver.podByName!(ns, name) : undefined,
        apiResolver.ready(),
      );
    },
  };

  const tickMs = opts.tickMs ?? 10_000;
  const timed = opts.guard ? opts.guard.wrap('runtime-checks', () => tick()) : () => tick();
  const timer = tickMs > 0 ? setInterval(timed, tickMs) : undefined;
  timer?.unref();

  return { resolver, listener, routes, store, tick, stop: () => clearInterval(timer) };
}
