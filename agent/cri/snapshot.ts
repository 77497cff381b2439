// Pure: the runtime's lists -> one compact RuntimeSnapshot, its digest, and when to send it.
import { createHash } from 'node:crypto';
import type { nodewarden } from '../../proto/gen/nodewarden.js';
import type { MirrorPodErrorView, RuntimeConditionView } from '../../proto/codec.js';
import type { Container, RuntimeVersion, Sandbox, SandboxNetwork } from './types.js';

type Snapshot = nodewarden.v1.IRuntimeSnapshot;
type Pod = nodewarden.v1.IRuntimePod;
type Ctr = nodewarden.v1.IRuntimeContainer;

/**
 * Sandbox annotations worth sending: the kubelet's config source/hash (static pods), the mirror
 * marker and when the kubelet first saw the pod. Other pod annotations can be large (for example
 * kubectl's last-applied-configuration) and the collector has them from the API anyway.
 */
export const KEPT_ANNOTATIONS = [
  'kubernetes.io/config.source',
  'kubernetes.io/config.hash',
  'kubernetes.io/config.mirror',
  'kubernetes.io/config.seen',
];
/** Sandbox labels that repeat the metadata (name, namespace, uid) are not sent twice. */
const DUPLICATE_LABELS = new Set(['io.kubernetes.pod.name', 'io.kubernetes.pod.namespace', 'io.kubernetes.pod.uid']);
const MAX_LABELS = 64;
const MAX_VALUE = 256;

function sortedMap(
  src: Record<string, string>,
  keep: (k: string) => boolean,
  max = MAX_LABELS,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of Object.keys(src).filter(keep).sort().slice(0, max))
    out[k] = src[k].length > MAX_VALUE ? `${src[k].slice(0, MAX_VALUE)}…` : src[k];
  return out;
}

const ms = (ns: number): number => Math.round(ns / 1e6);

export interface SnapshotInput {
  endpoint: string;
  version: RuntimeVersion;
  sandboxes: Sandbox[];
  containers: Container[];
  networks: ReadonlyMap<string, SandboxNetwork>;
  conditions: RuntimeConditionView[];
  /** What the kubelet logged about mirror pods it could not create (empty without its journal). */
  mirrorPodErrors?: MirrorPodErrorView[];
}

/**
 * The node's pods with their containers nested, sorted so equal views encode equally. Containers
 * whose sandbox is not in the list (created or removed between the two list calls) wait for the next poll.
 */
export function buildSnapshot(i: SnapshotInput): Snapshot {
  const bySandbox = new Map<string, Container[]>();
  for (const c of i.containers) {
    const list = bySandbox.get(c.podSandboxId);
    if (list) list.push(c);
    else bySandbox.set(c.podSandboxId, [c]);
  }
  const pods: Pod[] = i.sandboxes.map((s) => {
    const net = i.networks.get(s.id);
    const containers: Ctr[] = (bySandbox.get(s.id) ?? [])
      .sort((a, b) => a.name.localeCompare(b.name) || a.attempt - b.attempt || a.id.localeCompare(b.id))
      .map((c) => ({
        id: c.id,
        name: c.name,
        image: c.image,
        state: c.state,
        attempt: c.attempt,
        createdMs: ms(c.createdNs),
      }));
    return {
      id: s.id,
      namespace: s.namespace,
      name: s.name,
      uid: s.uid,
      state: s.state,
      ips: net ? [...net.ips] : [],
      createdMs: ms(s.createdNs),
      labels: sortedMap(s.labels, (k) => !DUPLICATE_LABELS.has(k)),
      annotations: sortedMap(s.annotations, (k) => KEPT_ANNOTATIONS.includes(k)),
      containers,
      attempt: s.attempt,
      runtimeHandler: s.runtimeHandler,
      hostNetwork: net?.hostNetwork ?? false,
    };
  });
  pods.sort(
    (a, b) =>
      a.namespace!.localeCompare(b.namespace!) ||
      a.name!.localeCompare(b.name!) ||
      a.createdMs! - b.createdMs! ||
      a.id!.localeCompare(b.id!),
  );
  const conditions = [...i.conditions].sort((a, b) => a.type.localeCompare(b.type));
  return {
    full: false,
    runtimeName: i.version.runtimeName,
    runtimeVersion: i.version.runtimeVersion,
    endpoint: i.endpoint,
    pods,
    conditions,
    mirrorPodErrors: i.mirrorPodErrors ?? [],
  };
}

/** A digest of everything but `full`: two polls that saw the same thing give the same digest. */
export function snapshotDigest(s: Snapshot): string {
  return createHash('sha256')
    .update(JSON.stringify({ ...s, full: undefined }))
    .digest('hex');
}

/** Sandboxes whose addresses are not known yet (new ids); known ones keep theirs for their lifetime. */
export function sandboxesToInspect(sandboxes: Sandbox[], known: ReadonlyMap<string, SandboxNetwork>): string[] {
  return sandboxes.filter((s) => !known.has(s.id)).map((s) => s.id);
}

/**
 * When to send: the first snapshot and then one at least every fullEveryMs ("full"), and in between
 * only when the view changed ("change"). Nothing when a poll saw what was last sent.
 */
export class SnapshotGate {
  private lastDigest: string | undefined;
  private lastSentMs = -Infinity;

  constructor(private readonly fullEveryMs: number) {}

  decide(digest: string, nowMs: number): 'full' | 'change' | undefined {
    if (this.lastDigest === undefined || nowMs - this.lastSentMs >= this.fullEveryMs) return 'full';
    return digest !== this.lastDigest ? 'change' : undefined;
  }

  sent(digest: string, nowMs: number): void {
    this.lastDigest = digest;
    this.lastSentMs = nowMs;
  }
}
