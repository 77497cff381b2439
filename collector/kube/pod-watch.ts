// The one cluster-wide pod list+watch (list-watch.ts) feeding the PodCache; implements Resolver.
// Deleted pods keep naming their IPs for graceMs (swept on a timer).
import type { Logger } from '../../common/log.js';
import type { Owner, PodOwner, Resolver } from '../resolve/resolver.js';
import type { KubeClient } from './client.js';
import { ListWatch, type ListWatchOptions } from './list-watch.js';
import { PodCache, type ListedPod, type PodJson } from './pod-cache.js';
import { Gauge } from 'prom-client';

export interface PodWatchOptions extends ListWatchOptions {
  /** Deleted pods keep naming their IPs this long. */
  graceMs: number;
  now?: () => number;
}

export class PodWatch extends ListWatch<PodJson> implements Resolver {
  readonly cache: PodCache;
  private sweepTimer: NodeJS.Timeout | undefined;
  private readonly graceMs: number;

  constructor(client: KubeClient, log: Logger, opts: PodWatchOptions) {
    const cache = new PodCache(opts.graceMs, opts.now);
    super(
      client,
      log,
      { path: '/api/v1/pods', name: 'pod', forbiddenHint: 'the collector needs pods get/list/watch cluster-wide' },
      cache,
      opts,
    );
    this.cache = cache;
    this.graceMs = opts.graceMs;
    const registers = opts.registry ? [opts.registry] : [];
    new Gauge({
      name: 'nodewarden_collector_kube_pods',
      help: 'pods in the collector cache (live)',
      registers,
      collect() {
        this.set(cache.size);
      },
    });
    new Gauge({
      name: 'nodewarden_collector_kube_pod_tombstones',
      help: 'deleted pods still naming their IPs (grace period)',
      registers,
      collect() {
        this.set(cache.tombstones);
      },
    });
  }

  resolve(ip: string, atMs?: number): Owner | undefined {
    return this.cache.resolve(ip, atMs);
  }
  podByUid(uid: string): PodOwner | undefined {
    return this.cache.podByUid(uid);
  }
  podByName(namespace: string, name: string): PodOwner | undefined {
    return this.cache.podByName(namespace, name);
  }
  override ready(): boolean {
    return this.cache.ready();
  }
  get generation(): number {
    return this.cache.generation;
  }
  podsIn(namespace: string): ListedPod[] {
    return this.cache.podsIn(namespace);
  }

  override start(): void {
    super.start();
    this.sweepTimer = setInterval(() => this.cache.sweep(), Math.max(1000, Math.min(30_000, this.graceMs / 2)));
    this.sweepTimer.unref();
  }

  override async stop(): Promise<void> {
    clearInterval(this.sweepTimer);
    await super.stop();
  }
}
