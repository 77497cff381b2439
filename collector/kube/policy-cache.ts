// NetworkPolicies and Namespace labels as the explainer needs them (pure: no I/O; clock passed in).
// Fed by two list+watches (policy-watch.ts). Holds each policy's metadata name/namespace and spec only
// (no managedFields, annotations, status) and each namespace's labels only.
//
// `generation` counts changes that can alter an explanation: a policy added, removed or with a new
// spec; a namespace added, removed or relabelled. Resyncs, relists and status-only updates leave it
// alone, so callers cache explanations by generation and recompute only when it moves.
import type { NetworkPolicyJson, Labels } from '../explain/evaluator.js';
import type { ListWatchSink } from './list-watch.js';

export interface NamespaceJson {
  metadata?: { name?: string; labels?: Record<string, string> | null; resourceVersion?: string };
}
export interface PolicyWireJson {
  metadata?: { namespace?: string; name?: string; resourceVersion?: string };
  spec?: NetworkPolicyJson['spec'];
}

export interface PolicyStateStamp {
  /** Bumped by every change relevant to an explanation. */
  generation: number;
  /** The newest resourceVersion the policy and namespace views are current to. */
  resourceVersion: string;
  /** When generation last moved (ms). */
  changedAtMs: number;
}

/** Newer of two resourceVersions: they are etcd revisions (decimal) on every real apiserver; opaque otherwise. */
function newerRv(a: string, b: string): string {
  if (/^\d+$/.test(a) && /^\d+$/.test(b)) return BigInt(b) > BigInt(a) ? b : a;
  return b;
}

export class PolicyCache {
  private byNs = new Map<string, Map<string, { p: NetworkPolicyJson; specText: string }>>();
  /** policiesIn() answers, built on first use after a change of that namespace. */
  private lists = new Map<string, NetworkPolicyJson[]>();
  private ns = new Map<string, Labels>();
  private gen = 0;
  private rv = '';
  private changedAt: number;

  state(): PolicyStateStamp {
    return { generation: this.gen, resourceVersion: this.rv, changedAtMs: this.changedAt };
  }
  get generation(): number {
    return this.gen;
  }

  /** The policies of one namespace, sorted by name (stable array until that namespace changes). */
  policiesIn(namespace: string): NetworkPolicyJson[] {
    let l = this.lists.get(namespace);
    if (!l) {
      const m = this.byNs.get(namespace);
      l = m ? [...m.values()].map((x) => x.p).sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : 1)) : [];
      this.lists.set(namespace, l);
    }
    return l;
  }

  /** undefined: no such namespace (as far as the watch knows). */
  namespaceLabels(name: string): Labels | undefined {
    return this.ns.get(name);
  }

  get policyCount(): number {
    let n = 0;
    for (const m of this.byNs.values()) n += m.size;
    return n;
  }
  get namespaceCount(): number {
    return this.ns.size;
  }

  private bump(): void {
    this.gen++;
    this.changedAt = this.now();
  }
  private seeRv(rv: string | undefined): void {
    if (rv) this.rv = this.rv ? newerRv(this.rv, rv) : rv;
  }

  readonly policySink: ListWatchSink<PolicyWireJson>;
  readonly namespaceSink: ListWatchSink<NamespaceJson>;

  constructor(private readonly now: () => number = Date.now) {
    this.changedAt = now();
    const cache = this;
    this.policySink = {
      keyOf: (p) => `${p.metadata?.namespace}/${p.metadata?.name}`,
      upsert: (p) => {
        const namespace = p.metadata?.namespace,
          name = p.metadata?.name;
        if (!namespace || !name || !p.spec) return;
        const spec = {
          podSelector: p.spec.podSelector,
          policyTypes: p.spec.policyTypes,
          ingress: p.spec.ingress,
          egress: p.spec.egress,
        };
        const specText = JSON.stringify(spec);
        let m = this.byNs.get(namespace);
        const old = m?.get(name);
        if (old && old.specText === specText) return;
        if (!m) this.byNs.set(namespace, (m = new Map()));
        m.set(name, {
          p: { metadata: { namespace, name, resourceVersion: p.metadata?.resourceVersion }, spec },
          specText,
        });
        this.lists.delete(namespace);
        this.bump();
      },
      remove: (p) => {
        const m = this.byNs.get(p.metadata?.namespace ?? '');
        if (!m?.delete(p.metadata?.name ?? '')) return;
        if (!m.size) this.byNs.delete(p.metadata!.namespace!);
        this.lists.delete(p.metadata!.namespace!);
        this.bump();
      },
      relistFinish: (seen) => {
        for (const [namespace, m] of this.byNs)
          for (const name of [...m.keys()])
            if (!seen.has(`${namespace}/${name}`)) this.policySink.remove({ metadata: { namespace, name } });
      },
      get size() {
        return cache.policyCount;
      },
      onResourceVersion: (rv) => this.seeRv(rv),
    };
    this.namespaceSink = {
      keyOf: (n) => n.metadata?.name ?? '',
      upsert: (n) => {
        const name = n.metadata?.name;
        if (!name) return;
        const labels = n.metadata?.labels ?? {};
        const old = this.ns.get(name);
        if (old && sameLabels(old, labels)) return;
        this.ns.set(name, Object.freeze({ ...labels }));
        this.bump();
      },
      remove: (n) => {
        if (this.ns.delete(n.metadata?.name ?? '')) this.bump();
      },
      relistFinish: (seen) => {
        for (const name of [...this.ns.keys()]) if (!seen.has(name)) this.namespaceSink.remove({ metadata: { name } });
      },
      get size() {
        return cache.namespaceCount;
      },
      onResourceVersion: (rv) => this.seeRv(rv),
    };
  }
}

function sameLabels(a: Labels, b: Record<string, string>): boolean {
  const ka = Object.keys(a),
    kb = Object.keys(b);
  return ka.length === kb.length && ka.every((k) => a[k] === b[k]);
}
