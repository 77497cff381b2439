// The latest runtime view per node (what the node's `crictl pods` / `crictl ps -a` show).
import type { MirrorPodErrorView, RuntimeConditionView, RuntimeSnapshot } from '../../proto/codec.js';

export interface RuntimeContainerView {
  id: string;
  name: string;
  image: string;
  state: string;
  attempt: number;
  createdMs: number;
}

export interface RuntimePodView {
  id: string;
  namespace: string;
  name: string;
  uid: string;
  state: string;
  ips: string[];
  createdMs: number;
  attempt: number;
  runtimeHandler: string;
  hostNetwork: boolean;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  containers: RuntimeContainerView[];
}

export interface NodeRuntime {
  node: string;
  runtimeName: string;
  runtimeVersion: string;
  endpoint: string;
  full: boolean;
  /** When the agent read the runtime (its clock, never later than our receipt). */
  observedMs: number;
  receivedMs: number;
  pods: RuntimePodView[];
  /** CRI Status conditions (empty from an agent that predates them). */
  conditions: RuntimeConditionView[];
  mirrorPodErrors: MirrorPodErrorView[];
}

const s = (v: string | null | undefined): string => v ?? '';
const n = (v: number | null | undefined): number => Number(v ?? 0);

/** The protobuf message (nullable fields) -> plain views. */
export function nodeRuntimeFrom(node: string, snap: RuntimeSnapshot, sentMs: number, receivedMs: number): NodeRuntime {
  return {
    node,
    runtimeName: s(snap.runtimeName),
    runtimeVersion: s(snap.runtimeVersion),
    endpoint: s(snap.endpoint),
    full: !!snap.full,
    observedMs: sentMs > 0 ? Math.min(sentMs, receivedMs) : receivedMs,
    receivedMs,
    pods: (snap.pods ?? []).map((p) => ({
      id: s(p.id),
      namespace: s(p.namespace),
      name: s(p.name),
      uid: s(p.uid),
      state: s(p.state),
      ips: [...(p.ips ?? [])],
      createdMs: n(p.createdMs),
      attempt: n(p.attempt),
      runtimeHandler: s(p.runtimeHandler),
      hostNetwork: !!p.hostNetwork,
      labels: { ...(p.labels ?? {}) },
      annotations: { ...(p.annotations ?? {}) },
      containers: (p.containers ?? []).map((c) => ({
        id: s(c.id),
        name: s(c.name),
        image: s(c.image),
        state: s(c.state),
        attempt: n(c.attempt),
        createdMs: n(c.createdMs),
      })),
    })),
    conditions: (snap.conditions ?? []).map((c) => ({
      type: s(c.type),
      status: !!c.status,
      reason: s(c.reason),
      message: s(c.message),
    })),
    mirrorPodErrors: (snap.mirrorPodErrors ?? []).map((e) => ({
      namespace: s(e.namespace),
      name: s(e.name),
      error: s(e.error),
      sinceMs: n(e.sinceMs),
    })),
  };
}

export class RuntimeStore {
  private readonly nodes = new Map<string, NodeRuntime>();

  /** Keeps the newest view per node; an older one (a late redelivery) is ignored. Returns true when kept. */
  apply(v: NodeRuntime): boolean {
    const cur = this.nodes.get(v.node);
    if (cur && cur.observedMs > v.observedMs) return false;
    this.nodes.set(v.node, v);
    return true;
  }

  get(node: string): NodeRuntime | undefined {
    return this.nodes.get(node);
  }

  all(): IterableIterator<NodeRuntime> {
    return this.nodes.values();
  }
}
