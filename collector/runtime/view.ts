// Pure: a node's runtime view -> the JSON of GET /api/v1/nodes/{node}/runtime (a remote
// `crictl pods` + `crictl ps -a`), newest first like crictl.
import type { PodOwner } from '../resolve/resolver.js';
import { CONFIG_HASH, CONFIG_SOURCE, mirrorErrorFor } from './checks.js';
import { mirrorCause } from './mirror-cause.js';
import type { RuntimeConditionView } from '../../proto/codec.js';
import type { NodeRuntime } from './store.js';

export interface RuntimePodJson {
  id: string;
  name: string;
  namespace: string;
  uid: string;
  state: string;
  attempt: number;
  createdAt: string;
  ips: string[];
  hostNetwork: boolean;
  runtimeHandler: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  /**
   * Static pods (config source "file"): their hash, whether the API has the mirror pod (null: cannot
   * tell), and what the kubelet logged when it could not create it (with the likely cause).
   */
  staticPod?: {
    configHash: string;
    mirrorPod: boolean | null;
    kubeletError?: { error: string; cause: string; since: string };
  };
}

export interface RuntimeContainerJson {
  id: string;
  name: string;
  image: string;
  state: string;
  attempt: number;
  createdAt: string;
  podId: string;
  podName: string;
  podNamespace: string;
  podUid: string;
}

export interface NodeRuntimeJson {
  node: string;
  runtime: { name: string; version: string; endpoint: string };
  /** CRI Status (`crictl info`): RuntimeReady, NetworkReady, and any the runtime adds. */
  conditions: RuntimeConditionView[];
  /** When the agent read the runtime. */
  observedAt: string;
  receivedAt: string;
  /** No view from the agent for longer than the staleness bound: the node's runtime may have changed since. */
  stale: boolean;
  pods: RuntimePodJson[];
  containers: RuntimeContainerJson[];
}

const iso = (ms: number) => new Date(ms).toISOString();

export function nodeRuntimeJson(
  v: NodeRuntime,
  nowMs: number,
  staleMs: number,
  mirror?: (namespace: string, name: string) => PodOwner | undefined,
  apiReady = true,
): NodeRuntimeJson {
  const pods = [...v.pods].sort((a, b) => b.createdMs - a.createdMs);
  const containers: RuntimeContainerJson[] = [];
  for (const p of pods) {
    for (const c of p.containers) {
      containers.push({
        id: c.id,
        name: c.name,
        image: c.image,
        state: c.state,
        attempt: c.attempt,
        createdAt: iso(c.createdMs),
        podId: p.id,
        podName: p.name,
        podNamespace: p.namespace,
        podUid: p.uid,
      });
    }
  }
  containers.sort((a, b) => b.createdAt.localeCompare(a.createdAt));
  return {
    node: v.node,
    runtime: { name: v.runtimeName, version: v.runtimeVersion, endpoint: v.endpoint },
    conditions: v.conditions,
    observedAt: iso(v.observedMs),
    receivedAt: iso(v.receivedMs),
    stale: nowMs - v.observedMs > staleMs,
    pods: pods.map((p) => {
      const j: RuntimePodJson = {
        id: p.id,
        name: p.name,
        namespace: p.namespace,
        uid: p.uid,
        state: p.state,
        attempt: p.attempt,
        createdAt: iso(p.createdMs),
        ips: p.ips,
        hostNetwork: p.hostNetwork,
        runtimeHandler: p.runtimeHandler,
        labels: p.labels,
        annotations: p.annotations,
      };
      if (p.annotations[CONFIG_SOURCE] === 'file') {
        j.staticPod = {
          configHash: p.annotations[CONFIG_HASH] ?? '',
          mirrorPod: mirror && apiReady ? !!mirror(p.namespace, p.name) : null,
        };
        const err = mirrorErrorFor(v, p);
        if (err)
          j.staticPod.kubeletError = {
            error: err.error,
            cause: mirrorCause(err.error).summary,
            since: iso(err.sinceMs),
          };
      }
      return j;
    }),
    containers,
  };
}
