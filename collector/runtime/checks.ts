// Pure: the runtime's view vs the API's, over time -> finding raises and clears.
//  - StaticPodNotMirrored (node, critical): a static pod (sandbox annotation kubernetes.io/config.source
//    "file") runs but the API has no pod of that name (its mirror pod) for longer than a grace period;
//    the likely cause comes from the kubelet's own error (the API server's answer to its create).
//  - ContainerRestarting (pod, warning): a container's attempt number rose N times within M.
import type { Finding, MirrorPodErrorView } from '../../proto/codec.js';
import type { PodOwner } from '../resolve/resolver.js';
import { mirrorCause } from './mirror-cause.js';
import type { NodeRuntime, RuntimePodView } from './store.js';
import { formatDuration } from '../../common/flags.js';

export interface FindingChange {
  node: string;
  finding: Finding;
  /** Worth an Event although no raise or clear: the raised finding learned its cause. */
  news?: boolean;
}

export const CONFIG_SOURCE = 'kubernetes.io/config.source';
export const CONFIG_HASH = 'kubernetes.io/config.hash';

/** The static pods of a view, one per namespace/name (a READY sandbox wins over older NOTREADY ones). */
export function staticPods(v: NodeRuntime): RuntimePodView[] {
  const by = new Map<string, RuntimePodView>();
  for (const p of v.pods) {
    if (p.annotations[CONFIG_SOURCE] !== 'file') continue;
    const k = `${p.namespace}/${p.name}`;
    const cur = by.get(k);
    const better =
      !cur ||
      (p.state === 'SANDBOX_READY' && cur.state !== 'SANDBOX_READY') ||
      (p.state === cur.state && p.createdMs > cur.createdMs);
    if (better) by.set(k, p);
  }
  return [...by.values()].filter((p) => p.state === 'SANDBOX_READY');
}

interface StaticState {
  absentSince?: number;
  raised: boolean;
  pod: RuntimePodView;
  /** The kubelet error the raised finding reported (a new one refreshes it). */
  reportedError?: string;
}

/** The kubelet's error for this static pod, else one that stops every mirror pod of the node. */
export function mirrorErrorFor(v: NodeRuntime, p: RuntimePodView): MirrorPodErrorView | undefined {
  return (
    v.mirrorPodErrors.find((e) => e.namespace === p.namespace && e.name === p.name) ??
    v.mirrorPodErrors.find((e) => e.name === '')
  );
}

/**
 * Tracks static pods per node. evaluate() is called with every node's latest view that is fresh
 * enough to trust and with the API lookup; absence is only judged while the pod cache is ready.
 */
export class StaticPodCheck {
  private readonly state = new Map<string, Map<string, StaticState>>();

  constructor(private readonly graceMs: number) {}

  evaluate(
    nowMs: number,
    views: NodeRuntime[],
    lookup: (namespace: string, name: string) => PodOwner | undefined,
  ): FindingChange[] {
    const out: FindingChange[] = [];
    for (const v of views) {
      const st = this.state.get(v.node) ?? new Map<string, StaticState>();
      this.state.set(v.node, st);
      const seen = new Set<string>();
      for (const p of staticPods(v)) {
        const key = `${p.namespace}/${p.name}`;
        seen.add(key);
        const s = st.get(key) ?? { raised: false, pod: p };
        s.pod = p;
        st.set(key, s);
        // kubelet names the mirror pod exactly like the static pod: <manifest name>-<node name>.
        const mirror = lookup(p.namespace, p.name);
        if (mirror) {
          s.absentSince = undefined;
          if (s.raised) {
            s.raised = false;
            s.reportedError = undefined;
            out.push({
              node: v.node,
              finding: this.finding(v.node, p, false, nowMs, `mirror pod ${key} is in the API now`, {
                mirrorPod: key,
                ...(mirror.uid ? { mirrorUid: mirror.uid } : {}),
              }),
            });
          }
          continue;
        }
        s.absentSince ??= nowMs;
        const err = mirrorErrorFor(v, p);
        const due = !s.raised && nowMs - s.absentSince >= this.graceMs;
        // Raised already: a new or different kubelet error refreshes the finding with it.
        if (due || (s.raised && err && err.error !== s.reportedError)) {
          out.push({
            node: v.node,
            news: s.raised,
            finding: this.finding(v.node, p, true, nowMs, this.raiseMessage(key, p, err), {
              absentSince: new Date(s.absentSince).toISOString(),
              ...causeEvidence(err),
            }),
          });
          s.raised = true;
          s.reportedError = err?.error;
        }
      }
      for (const [key, s] of st) {
        if (seen.has(key)) continue;
        st.delete(key);
        if (s.raised)
          out.push({
            node: v.node,
            finding: this.finding(v.node, s.pod, false, nowMs, `static pod ${key} no longer runs on the node`, {}),
          });
      }
    }
    return out;
  }

  private raiseMessage(key: string, p: RuntimePodView, err: MirrorPodErrorView | undefined): string {
    const head = `static pod ${key} runs on the node (config hash ${p.annotations[CONFIG_HASH] || 'unknown'}) but the API server has had no mirror pod for it for more than ${formatDuration(this.graceMs)}; kubectl does not show it`;
    if (!err)
      return `${head} (mirror pod creation rejected, e.g. by an admission policy, or the kubelet cannot reach the API; the kubelet's log on the node says which)`;
    return `${head}. Likely cause: ${mirrorCause(err.error).summary}. The kubelet${err.name ? '' : ' (for every static pod)'} got: ${err.error}`;
  }

  private finding(
    node: string,
    p: RuntimePodView,
    active: boolean,
    nowMs: number,
    message: string,
    extra: Record<string, string>,
  ): Finding {
    const key = `${p.namespace}/${p.name}`;
    return {
      kind: 'StaticPodNotMirrored',
      severity: 'critical',
      active,
      message,
      key,
      evidence: {
        pod: key,
        mirrorPodName: p.name,
        configSource: 'file',
        configHash: p.annotations[CONFIG_HASH] ?? '',
        sandbox: p.id,
        node,
        ...extra,
      },
      firstSeenMs: nowMs,
      lastSeenMs: nowMs,
    };
  }
}

function causeEvidence(err: MirrorPodErrorView | undefined): Record<string, string> {
  if (!err) return {};
  return {
    cause: mirrorCause(err.error).kind,
    kubeletError: err.error,
    kubeletErrorSince: new Date(err.sinceMs).toISOString(),
  };
}

interface RestartState {
  node: string;
  pod: RuntimePodView;
  container: string;
  firstAttempt: number;
  lastAttempt: number;
  /** The attempt the last raise (or refresh) reported. */
  reportedAttempt: number;
  lastState: string;
  lastId: string;
  /** Rises of the attempt number: when seen, by how much. */
  rises: { atMs: number; n: number }[];
  raised: boolean;
  /** The container left the node: evaluate() clears a raised finding and forgets it. */
  gone: boolean;
  seenMs: number;
}

export interface RestartOptions {
  /** Restarts within the window that raise the finding. */
  threshold: number;
  windowMs: number;
}

/**
 * Per (node, pod uid, container name): the highest attempt number seen. Each rise between two
 * views is one or more restarts, dated by when the agent saw it (views replayed after a collector
 * restart keep their dates, so old restarts do not raise anything). Raised at `threshold` restarts
 * within the window; cleared once the window holds none (a back-off that slows to one restart every
 * few minutes keeps it raised).
 */
export class RestartCheck {
  private readonly state = new Map<string, RestartState>();
  private readonly byNode = new Map<string, Set<string>>();

  constructor(private readonly o: RestartOptions) {}

  observe(v: NodeRuntime): void {
    const keys = new Set<string>();
    for (const p of v.pods) {
      const max = new Map<string, { attempt: number; state: string; id: string }>();
      for (const c of p.containers) {
        const m = max.get(c.name);
        if (!m || c.attempt > m.attempt) max.set(c.name, { attempt: c.attempt, state: c.state, id: c.id });
      }
      for (const [name, m] of max) {
        const key = `${v.node}|${p.uid || `${p.namespace}/${p.name}`}|${name}`;
        keys.add(key);
        const s = this.state.get(key);
        if (!s) {
          this.state.set(key, {
            node: v.node,
            pod: p,
            container: name,
            firstAttempt: m.attempt,
            lastAttempt: m.attempt,
            reportedAttempt: m.attempt,
            lastState: m.state,
            lastId: m.id,
            rises: [],
            raised: false,
            gone: false,
            seenMs: v.observedMs,
          });
          continue;
        }
        if (v.observedMs < s.seenMs) continue; // an older view arriving late
        if (m.attempt > s.lastAttempt) s.rises.push({ atMs: v.observedMs, n: m.attempt - s.lastAttempt });
        if (m.attempt < s.lastAttempt) s.firstAttempt = m.attempt; // the runtime forgot the pod's history (new sandbox)
        Object.assign(s, {
          pod: p,
          lastAttempt: m.attempt,
          lastState: m.state,
          lastId: m.id,
          seenMs: v.observedMs,
          gone: false,
        });
      }
    }
    // Containers that left the node are marked; evaluate() clears a raised finding and forgets them.
    const mine = this.byNode.get(v.node) ?? new Set<string>();
    for (const k of mine) {
      if (keys.has(k)) continue;
      const s = this.state.get(k);
      if (s) s.gone = true;
      else mine.delete(k);
    }
    for (const k of keys) mine.add(k);
    this.byNode.set(v.node, mine);
  }

  /** Every container's window (the timer), or one node's (right after its view arrived). */
  evaluate(nowMs: number, node?: string): FindingChange[] {
    const out: FindingChange[] = [];
    const since = nowMs - this.o.windowMs;
    const keys = node === undefined ? [...this.state.keys()] : [...(this.byNode.get(node) ?? [])];
    for (const key of keys) {
      const s = this.state.get(key);
      if (!s) continue;
      s.rises = s.rises.filter((r) => r.atMs > since);
      const restarts = s.rises.reduce((a, r) => a + r.n, 0);
      if (s.gone) {
        if (s.raised)
          out.push({
            node: s.node,
            finding: this.finding(
              s,
              false,
              nowMs,
              restarts,
              `container ${s.container} of ${s.pod.namespace}/${s.pod.name} is gone from the node`,
            ),
          });
        this.state.delete(key);
        this.byNode.get(s.node)?.delete(key);
        continue;
      }
      const raising = !s.raised && restarts >= this.o.threshold;
      // Still restarting: the same raised finding with fresh evidence (not a new transition).
      const refreshing = s.raised && restarts > 0 && s.lastAttempt !== s.reportedAttempt;
      if (raising || refreshing) {
        s.raised = true;
        s.reportedAttempt = s.lastAttempt;
        out.push({
          node: s.node,
          finding: this.finding(
            s,
            true,
            nowMs,
            restarts,
            `container ${s.container} of ${s.pod.namespace}/${s.pod.name} restarted ${restarts} times in the last ${formatDuration(this.o.windowMs)} (attempt ${s.lastAttempt}, now ${stateWord(s.lastState)})`,
          ),
        });
      } else if (s.raised && restarts === 0) {
        s.raised = false;
        out.push({
          node: s.node,
          finding: this.finding(
            s,
            false,
            nowMs,
            0,
            `container ${s.container} of ${s.pod.namespace}/${s.pod.name} has not restarted for ${formatDuration(this.o.windowMs)} (attempt ${s.lastAttempt})`,
          ),
        });
      }
    }
    return out;
  }

  private finding(s: RestartState, active: boolean, nowMs: number, restarts: number, message: string): Finding {
    return {
      kind: 'ContainerRestarting',
      severity: 'warning',
      active,
      message,
      key: `${s.pod.uid || `${s.pod.namespace}/${s.pod.name}`}/${s.container}`,
      pod: { namespace: s.pod.namespace, name: s.pod.name, uid: s.pod.uid, container: s.container },
      evidence: {
        container: s.container,
        attempts: `${s.firstAttempt}→${s.lastAttempt}`,
        attempt: String(s.lastAttempt),
        restartsInWindow: String(restarts),
        window: formatDuration(this.o.windowMs),
        state: s.gone ? 'GONE' : s.lastState,
        containerId: s.lastId,
      },
      firstSeenMs: nowMs,
      lastSeenMs: nowMs,
    };
  }
}

function stateWord(state: string): string {
  return (
    (
      {
        CONTAINER_RUNNING: 'running',
        CONTAINER_EXITED: 'exited',
        CONTAINER_CREATED: 'created',
        CONTAINER_UNKNOWN: 'unknown',
      } as Record<string, string>
    )[state] ?? state.toLowerCase()
  );
}
