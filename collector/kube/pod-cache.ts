// The collector's pod cache (pure: no I/O, the clock is passed in). Fed by the pod list+watch, it
// answers Resolver queries: IP -> pod (or node for host IPs), uid -> pod.
//
// Only PodInfo-sized facts are kept, never whole Pod objects. Every IP has a short list of "claims"
// (which pod held it, from when, until when). A deleted or finished pod's claims are closed, not
// dropped, and kept for a grace period so late drops (agents batch, NATS buffers) are still named;
// a drop is attributed to the pod that held the IP at the drop's time.
import { podOwner, type Owner, type PodInfo, type PodOwner, type Resolver } from '../resolve/resolver.js';
import { podInfoFromJson } from '../resolve/pods-file.js';
import type { PodMetaJson } from '../resolve/pod-meta.js';

interface Claim {
  owner: PodOwner;
  /** Lower bound of when the pod got the IP (its creationTimestamp). */
  since: number;
  /** When we saw the pod let go of the IP (deleted, finished, IP changed); Infinity while held. */
  until: number;
}

interface NodeClaim {
  node: string;
  /** Live pods reporting this host IP; 0 = closed (kept until `until` + grace). */
  refs: number;
  until: number;
}

interface PodRec {
  owner: PodOwner;
  ips: string[];
  hostIps: string[];
  since: number;
  resourceVersion?: string;
}

/** A live pod as podsIn() lists it. */
export interface ListedPod {
  owner: PodOwner;
  podIps: readonly string[];
  hostIps: readonly string[];
}

export interface PodJson {
  metadata?: {
    namespace?: string;
    name?: string;
    uid?: string;
    creationTimestamp?: string;
    resourceVersion?: string;
    deletionTimestamp?: string;
    labels?: Record<string, string> | null;
  };
  spec?: PodMetaJson['spec'] & { nodeName?: string };
  status?: { phase?: string; podIP?: string; podIPs?: { ip?: string }[]; hostIP?: string; hostIPs?: { ip?: string }[] };
}

const TERMINAL = new Set(['Succeeded', 'Failed']);

export class PodCache implements Resolver {
  private pods = new Map<string, PodRec>();
  /** namespace/name -> live pod (host-network pods included). */
  private names = new Map<string, PodOwner>();
  private gone = new Map<string, { owner: PodOwner; until: number }>();
  private claims = new Map<string, Claim[]>();
  private nodeIps = new Map<string, NodeClaim>();
  private synced = false;
  private gen = 0;

  constructor(
    private readonly graceMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  get size(): number {
    return this.pods.size;
  }
  get tombstones(): number {
    return this.gone.size;
  }
  ready(): boolean {
    return this.synced;
  }
  /**
   * Bumped when a live pod appears, goes, or changes anything a NetworkPolicy evaluation reads
   * (labels/ports/hostNetwork via its owner object, node, IPs); status-only updates leave it alone,
   * so checks that evaluate policies against pods (apiserver-egress.ts) recompute only when it moves.
   */
  get generation(): number {
    return this.gen;
  }

  /** Live pods of one namespace with their IPs (pod IPs; host IPs, which host-network pods' IPs are). */
  podsIn(namespace: string): ListedPod[] {
    const out: ListedPod[] = [];
    for (const r of this.pods.values())
      if (r.owner.namespace === namespace) out.push({ owner: r.owner, podIps: r.ips, hostIps: r.hostIps });
    return out;
  }

  /** Adds or updates a pod from its JSON (watch ADDED/MODIFIED, or a list item). */
  upsert(p: PodJson): void {
    const info = podInfoFromJson(p);
    if (!info) return;
    const key = info.uid ?? `${info.namespace}/${info.name}`;
    const terminal = TERMINAL.has(p.status?.phase ?? '');
    const created = Date.parse(p.metadata?.creationTimestamp ?? '');
    this.apply(key, info, terminal, Number.isNaN(created) ? 0 : created, p.metadata?.resourceVersion);
  }

  /** Applies a reduced pod (used by upsert and by tests/benchmarks). */
  apply(key: string, info: PodInfo, terminal: boolean, since: number, resourceVersion?: string): void {
    const now = this.now();
    const old = this.pods.get(key);
    const owner: PodOwner = old && sameOwner(old.owner, info) ? old.owner : podOwner(info);
    // A host-network pod's IPs are its node's: they name the node, never the pod.
    const ips = terminal || info.hostNetwork ? [] : info.podIPs;
    const hostIps =
      terminal || !info.node ? [] : [...new Set([...info.hostIPs, ...(info.hostNetwork ? info.podIPs : [])])];
    if (old) {
      for (const ip of old.ips) if (!ips.includes(ip)) this.close(ip, old.owner, now);
      for (const ip of old.hostIps)
        if (!hostIps.includes(ip) || old.owner.node !== info.node) this.unrefNode(ip, old.owner.node!, now);
    }
    for (const ip of ips) {
      const list = this.claims.get(ip) ?? [];
      const c = list.find((x) => x.owner === old?.owner && x.until === Infinity);
      if (c) c.owner = owner;
      else {
        list.push({ owner, since, until: Infinity });
        this.claims.set(ip, list);
      }
    }
    for (const ip of hostIps)
      if (!old?.hostIps.includes(ip) || old.owner.node !== info.node) this.refNode(ip, info.node!);
    if (!old || old.owner !== owner || !sameList(old.ips, ips) || !sameList(old.hostIps, hostIps)) this.gen++;
    this.pods.set(key, { owner, ips, hostIps, since, resourceVersion });
    this.names.set([info.namespace, info.name].join('/'), owner); // flat key (a template keeps a cons-string tree)
    this.gone.delete(key);
  }

  /** A pod is gone (watch DELETED, or missing from a relist). */
  remove(p: PodJson | string): void {
    const key = typeof p === 'string' ? p : (p.metadata?.uid ?? `${p.metadata?.namespace}/${p.metadata?.name}`);
    const rec = this.pods.get(key);
    if (!rec) return;
    const now = this.now();
    for (const ip of rec.ips) this.close(ip, rec.owner, now);
    for (const ip of rec.hostIps) this.unrefNode(ip, rec.owner.node!, now);
    this.pods.delete(key);
    this.gen++;
    const nk = `${rec.owner.namespace}/${rec.owner.name}`;
    if (this.names.get(nk) === rec.owner) this.names.delete(nk);
    this.gone.set(key, { owner: rec.owner, until: now });
  }

  /** Ends a paged relist: pods whose keys (keyOf) were not seen are treated as deleted now. Marks the cache synced. */
  relistFinish(seen: Set<string>): void {
    for (const key of [...this.pods.keys()]) if (!seen.has(key)) this.remove(key);
    this.synced = true;
  }

  keyOf(p: PodJson): string {
    return p.metadata?.uid ?? `${p.metadata?.namespace}/${p.metadata?.name}`;
  }

  resolve(ip: string, atMs?: number): Owner | undefined {
    let list = this.claims.get(ip);
    // The common case, one pod holding the IP now: it is the answer at any time (see below).
    if (list?.length === 1 && list[0].until === Infinity) return list[0].owner;
    const now = this.now();
    if (list) {
      this.pruneClaims(ip, list, now);
      list = this.claims.get(ip) ?? [];
      const at = atMs ?? now;
      let best: Claim | undefined;
      // The claim that covers the drop's time, latest start first ...
      for (const c of list) if (c.since <= at && at <= c.until && (!best || c.since > best.since)) best = c;
      // ... else the pod holding it now, else the one that let go last (clock skew, drops older than our view).
      if (!best) for (const c of list) if (c.until === Infinity && (!best || c.since > best.since)) best = c;
      if (!best) for (const c of list) if (!best || c.until > best.until) best = c;
      if (best) return best.owner;
    }
    const n = this.nodeIps.get(ip);
    if (n) {
      if (n.refs === 0 && now - n.until > this.graceMs) {
        this.nodeIps.delete(ip);
        return undefined;
      }
      return { kind: 'node', name: n.node };
    }
    return undefined;
  }

  /** A live pod by namespace/name (host-network pods included); deleted pods are not answered. */
  podByName(namespace: string, name: string): PodOwner | undefined {
    return this.names.get(`${namespace}/${name}`);
  }

  podByUid(uid: string): PodOwner | undefined {
    const rec = this.pods.get(uid);
    if (rec) return rec.owner;
    const g = this.gone.get(uid);
    if (g && this.now() - g.until <= this.graceMs) return g.owner;
    return undefined;
  }

  /** Drops closed claims and tombstones older than the grace period. Call periodically. */
  sweep(): void {
    const now = this.now();
    for (const [ip, list] of this.claims) this.pruneClaims(ip, list, now);
    for (const [k, g] of this.gone) if (now - g.until > this.graceMs) this.gone.delete(k);
    for (const [ip, n] of this.nodeIps) if (n.refs === 0 && now - n.until > this.graceMs) this.nodeIps.delete(ip);
  }

  stats(): { pods: number; tombstones: number; ips: number; nodeIps: number } {
    return { pods: this.pods.size, tombstones: this.gone.size, ips: this.claims.size, nodeIps: this.nodeIps.size };
  }

  private close(ip: string, owner: PodOwner, now: number): void {
    for (const c of this.claims.get(ip) ?? []) if (c.owner === owner && c.until === Infinity) c.until = now;
  }

  private pruneClaims(ip: string, list: Claim[], now: number): void {
    if (list.every((c) => c.until === Infinity || now - c.until <= this.graceMs)) return;
    const kept = list.filter((c) => c.until === Infinity || now - c.until <= this.graceMs);
    if (kept.length) this.claims.set(ip, kept);
    else this.claims.delete(ip);
  }

  private refNode(ip: string, node: string): void {
    const n = this.nodeIps.get(ip);
    if (!n || n.node !== node) this.nodeIps.set(ip, { node, refs: 1, until: Infinity });
    else {
      n.refs++;
      n.until = Infinity;
    }
  }

  private unrefNode(ip: string, node: string, now: number): void {
    const n = this.nodeIps.get(ip);
    if (!n || n.node !== node || n.refs === 0) return;
    if (--n.refs === 0) n.until = now;
  }
}

function sameOwner(o: PodOwner, i: PodInfo): boolean {
  return o.namespace === i.namespace && o.name === i.name && o.uid === i.uid && o.node === i.node && o.meta === i.meta;
}

const sameList = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((x, i) => x === b[i]);
