// Runtime pod IPs as resolver hints, below the API: the agents' CRI views name a pod IP the pod
// cache does not know (yet) — a pod seconds old, a cache that lags, a collector without a cluster.
import type { Owner, PodOwner, Resolver } from '../resolve/resolver.js';
import type { NodeRuntime } from './store.js';

interface Hint {
  owner: PodOwner;
  node: string;
  observedMs: number;
}

/** IP and uid -> pod, from each node's latest view (READY sandboxes with their own network only). */
export class RuntimeHints {
  private readonly byIp = new Map<string, Hint>();
  private readonly byUid = new Map<string, Hint>();
  private readonly perNode = new Map<string, { ips: string[]; uids: string[]; observedMs: number }>();

  constructor(
    private readonly staleMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Replaces one node's hints. Where two nodes claim an IP, the more recent view wins. */
  update(v: NodeRuntime): void {
    const old = this.perNode.get(v.node);
    if (old) {
      for (const ip of old.ips) if (this.byIp.get(ip)?.node === v.node) this.byIp.delete(ip);
      for (const uid of old.uids) if (this.byUid.get(uid)?.node === v.node) this.byUid.delete(uid);
    }
    const ips: string[] = [],
      uids: string[] = [];
    for (const p of v.pods) {
      if (p.state !== 'SANDBOX_READY') continue;
      const owner: PodOwner = {
        kind: 'pod',
        namespace: p.namespace,
        name: p.name,
        uid: p.uid || undefined,
        node: v.node,
      };
      const hint = { owner, node: v.node, observedMs: v.observedMs };
      if (p.uid) {
        const cur = this.byUid.get(p.uid);
        if (!cur || cur.observedMs <= v.observedMs) this.byUid.set(p.uid, hint);
        uids.push(p.uid);
      }
      // A host-network pod's addresses are the node's: they name the node, not this pod.
      if (p.hostNetwork) continue;
      for (const ip of p.ips) {
        const cur = this.byIp.get(ip);
        if (!cur || cur.node === v.node || cur.observedMs <= v.observedMs) this.byIp.set(ip, hint);
        ips.push(ip);
      }
    }
    this.perNode.set(v.node, { ips, uids, observedMs: v.observedMs });
  }

  private fresh(h: Hint | undefined): PodOwner | undefined {
    if (!h) return undefined;
    // A node whose agent went quiet: its view may name pods long gone and IPs since reused.
    const n = this.perNode.get(h.node);
    return n && this.now() - n.observedMs <= this.staleMs ? h.owner : undefined;
  }

  resolve(ip: string): PodOwner | undefined {
    return this.fresh(this.byIp.get(ip));
  }

  podByUid(uid: string): PodOwner | undefined {
    return this.fresh(this.byUid.get(uid));
  }
}

/** Asks the API resolver first and falls back to the runtime hints; ready() and podByName are the API's. */
export class HintedResolver implements Resolver {
  readonly podByName?: (namespace: string, name: string) => PodOwner | undefined;

  constructor(
    private readonly api: Resolver,
    private readonly hints: RuntimeHints,
  ) {
    // API only: "is the mirror pod in the API" must not be answered by the runtime's own view.
    if (api.podByName) this.podByName = (ns, name) => api.podByName!(ns, name);
  }

  resolve(ip: string, atMs?: number): Owner | undefined {
    return this.api.resolve(ip, atMs) ?? this.hints.resolve(ip);
  }

  podByUid(uid: string): PodOwner | undefined {
    return this.api.podByUid(uid) ?? this.hints.podByUid(uid);
  }

  ready(): boolean {
    return this.api.ready();
  }
}
