// The collector's cluster-wide NetworkPolicy and Namespace watches (one list+watch each, same
// machinery as the pod watch) feeding one PolicyCache, plus a periodic API discovery of policy kinds
// we do not evaluate. Needs RBAC: networkpolicies (networking.k8s.io) and namespaces get/list/watch.
import type { Logger } from '../../common/log.js';
import type { KubeClient } from './client.js';
import { ListWatch, type ListWatchOptions } from './list-watch.js';
import { PolicyCache, type NamespaceJson, type PolicyWireJson, type PolicyStateStamp } from './policy-cache.js';
import { discoverUnevaluatedPolicyKinds } from './policy-discovery.js';
import type { NetworkPolicyJson, Labels } from '../explain/evaluator.js';
import { Gauge } from 'prom-client';

/** What the explainer reads: PolicyWatch in a cluster; a bare PolicyCache in tests and benchmarks. */
export interface PolicySource {
  policiesIn(namespace: string): readonly NetworkPolicyJson[];
  namespaceLabels(name: string): Labels | undefined;
  state(): PolicyStateStamp;
  /** Served policy kinds this version does not evaluate (the same array until the answer changes). */
  notEvaluated(): string[];
  ready(): boolean;
}

export interface PolicyWatchOptions extends ListWatchOptions {
  /** How often API discovery is repeated (CRDs come and go). Default 5 min. */
  discoveryMs?: number;
  now?: () => number;
}

export class PolicyWatch implements PolicySource {
  readonly cache: PolicyCache;
  readonly policies: ListWatch<PolicyWireJson>;
  readonly namespaces: ListWatch<NamespaceJson>;
  private kinds: string[] | undefined;
  private discoveryTried = false;
  private discoveryTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly client: KubeClient,
    private readonly log: Logger,
    private readonly opts: PolicyWatchOptions = {},
  ) {
    this.cache = new PolicyCache(opts.now);
    this.policies = new ListWatch(
      client,
      log,
      {
        path: '/apis/networking.k8s.io/v1/networkpolicies',
        name: 'networkpolicy',
        forbiddenHint:
          'the collector needs networkpolicies (networking.k8s.io) get/list/watch cluster-wide to explain drops',
      },
      this.cache.policySink,
      opts,
    );
    this.namespaces = new ListWatch(
      client,
      log,
      {
        path: '/api/v1/namespaces',
        name: 'namespace',
        forbiddenHint: 'the collector needs namespaces get/list/watch to explain drops',
      },
      this.cache.namespaceSink,
      opts,
    );
    const registers = opts.registry ? [opts.registry] : [];
    const cache = this.cache;
    new Gauge({
      name: 'nodewarden_collector_kube_networkpolicies',
      help: 'NetworkPolicies in the collector cache',
      registers,
      collect() {
        this.set(cache.policyCount);
      },
    });
    new Gauge({
      name: 'nodewarden_collector_kube_policy_generation',
      help: 'changes to NetworkPolicies or namespace labels seen (explanations are recomputed after each)',
      registers,
      collect() {
        this.set(cache.generation);
      },
    });
  }

  policiesIn(namespace: string): readonly NetworkPolicyJson[] {
    return this.cache.policiesIn(namespace);
  }
  namespaceLabels(name: string): Labels | undefined {
    return this.cache.namespaceLabels(name);
  }
  state(): PolicyStateStamp {
    return this.cache.state();
  }
  /**
   * Both caches synced and discovery tried once (a failed discovery must not block explanations: they then list the
   * unknown).
   */
  ready(): boolean {
    return this.policies.ready() && this.namespaces.ready() && this.discoveryTried;
  }
  notEvaluated(): string[] {
    return this.kinds ?? ['unknown policy kinds (API discovery has not answered)'];
  }

  start(): void {
    this.policies.start();
    this.namespaces.start();
    void this.discover();
    this.discoveryTimer = setInterval(() => void this.discover(), this.opts.discoveryMs ?? 5 * 60_000);
    this.discoveryTimer.unref();
  }

  /** Runs API discovery now (also on the timer); keeps the last answer when it fails. */
  async discover(): Promise<void> {
    try {
      const k = await discoverUnevaluatedPolicyKinds(this.client);
      if (this.kinds && k.join() === this.kinds.join()) return; // the same array: callers cache by its identity
      if (this.kinds) this.log.info({ kinds: k }, 'kube: policy kinds not evaluated by explanations changed');
      this.kinds = k;
    } catch (err) {
      this.log.warn(
        { err: (err as Error).message },
        'kube: API discovery of policy kinds failed; keeping the last answer',
      );
    } finally {
      this.discoveryTried = true;
    }
  }

  async waitReady(timeoutMs: number): Promise<void> {
    const until = Date.now() + timeoutMs;
    while (!this.ready()) {
      if (Date.now() > until) throw new Error(`policy and namespace caches not synced within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.discoveryTimer);
    await Promise.all([this.policies.stop(), this.namespaces.stop()]);
  }
}

/** A PolicySource over a cache fed by something else (a test, a benchmark, a file). */
export function cacheSource(cache: PolicyCache, notEvaluated: string[] = []): PolicySource {
  return {
    policiesIn: (ns) => cache.policiesIn(ns),
    namespaceLabels: (n) => cache.namespaceLabels(n),
    state: () => cache.state(),
    notEvaluated: () => notEvaluated,
    ready: () => true,
  };
}
