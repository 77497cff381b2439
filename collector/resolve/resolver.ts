// Who owns an IP. Implementations: a PodList file (pods-file.ts) and the Kubernetes pod watch.
import type { PodMeta } from './pod-meta.js';

export type { PodMeta } from './pod-meta.js';
export interface PodOwner {
  kind: 'pod';
  namespace: string;
  name: string;
  uid?: string;
  node?: string;
  /** Labels, hostNetwork, named ports (shared between pods that have the same); for NetworkPolicy explanations. */
  meta?: PodMeta;
}

export interface NodeOwner {
  kind: 'node';
  name: string;
}

export type Owner = PodOwner | NodeOwner;

export interface Resolver {
  /** The owner of a canonical IP at a time (ms); recently deleted pods still answer for a grace period. */
  resolve(ip: string, atMs?: number): Owner | undefined;
  /** A pod known only by uid (findings from cgroup paths carry just that). */
  podByUid(uid: string): PodOwner | undefined;
  /** True once the first full list is in. */
  ready(): boolean;
  /**
   * A pod by namespace and name as the API knows it, host-network pods included (optional: sources
   * that cannot answer leave it out). Answers only from the API/pods file, never from runtime hints:
   * the static-pod check asks "does the API have this mirror pod?".
   */
  podByName?(namespace: string, name: string): PodOwner | undefined;
}

/** Minimal pod shape every resolver source reduces a Pod object to. */
export interface PodInfo {
  namespace: string;
  name: string;
  uid?: string;
  node?: string;
  hostNetwork: boolean;
  podIPs: string[];
  hostIPs: string[];
  meta?: PodMeta;
}

/** The owner for a PodInfo; `meta` only when known (deep-equal comparisons see no undefined key). */
export function podOwner(p: PodInfo): PodOwner {
  const o: PodOwner = { kind: 'pod', namespace: p.namespace, name: p.name, uid: p.uid, node: p.node };
  if (p.meta) o.meta = p.meta;
  return o;
}

/** An IP index over PodInfo: pod IPs name pods, host IPs (and host-network pods' IPs) name nodes. */
export class IpIndex implements Resolver {
  private byIp = new Map<string, Owner>();
  private byUid = new Map<string, PodOwner>();
  private byName = new Map<string, PodOwner>();

  constructor(
    pods: Iterable<PodInfo> = [],
    private readonly isReady: () => boolean = () => true,
  ) {
    this.replace(pods);
  }

  replace(pods: Iterable<PodInfo>): void {
    const m = new Map<string, Owner>();
    const uids = new Map<string, PodOwner>();
    const names = new Map<string, PodOwner>();
    const nodes: [string, string][] = [];
    for (const p of pods) {
      if (p.uid) uids.set(p.uid, podOwner(p));
      names.set([p.namespace, p.name].join('/'), podOwner(p));
      for (const ip of p.hostIPs) if (p.node) nodes.push([ip, p.node]);
      if (p.hostNetwork) continue;
      for (const ip of p.podIPs) m.set(ip, podOwner(p));
    }
    // A pod IP wins over a node IP: an IP is a host IP only when no pod owns it.
    for (const [ip, node] of nodes) if (!m.has(ip)) m.set(ip, { kind: 'node', name: node });
    this.byIp = m;
    this.byUid = uids;
    this.byName = names;
  }

  podByName(namespace: string, name: string): PodOwner | undefined {
    return this.byName.get(`${namespace}/${name}`);
  }

  podByUid(uid: string): PodOwner | undefined {
    return this.byUid.get(uid);
  }

  resolve(ip: string): Owner | undefined {
    return this.byIp.get(ip);
  }

  ready(): boolean {
    return this.isReady();
  }
}
