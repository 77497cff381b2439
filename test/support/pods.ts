// A full pod list into a PodCache the way the pod watch applies one (upsert each, then the relist's end).
import type { PodCache, PodJson } from '../../collector/kube/pod-cache.js';

export function listInto(cache: PodCache, items: PodJson[]): void {
  for (const p of items) cache.upsert(p);
  cache.relistFinish(new Set(items.map((p) => cache.keyOf(p))));
}
