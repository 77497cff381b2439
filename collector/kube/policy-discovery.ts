// Which policy kinds besides networking.k8s.io/v1 NetworkPolicy the cluster serves (API discovery):
// cluster-scoped tiers (AdminNetworkPolicy, BaselineAdminNetworkPolicy, ClusterNetworkPolicy of
// policy.networking.k8s.io) and CNI-native policies (Calico, Cilium). Any of them can drop what
// NetworkPolicy allows (or admit what it isolates), and this version does not evaluate them, so an
// explanation lists them as notEvaluated. Discovery is readable by every authenticated user
// (system:discovery), so this needs no extra RBAC.
import { KubeApiError, statusMessage, type KubeClient } from './client.js';

interface GroupList {
  groups?: { name: string; preferredVersion?: { groupVersion?: string }; versions?: { groupVersion?: string }[] }[];
}
interface ResourceList {
  resources?: { name: string; kind: string }[];
}

/** Group -> prefix for its kinds in messages ("" = kind names are distinctive on their own). */
const GROUPS: Record<string, string> = {
  'policy.networking.k8s.io': '',
  'crd.projectcalico.org': 'Calico ',
  'projectcalico.org': 'Calico ',
  'cilium.io': '',
};

/**
 * Kind names of served policy types this version does not evaluate, sorted, e.g. ["AdminNetworkPolicy",
 * "CiliumNetworkPolicy"].
 */
export async function discoverUnevaluatedPolicyKinds(client: KubeClient): Promise<string[]> {
  const r = await client.request<GroupList>('GET', '/apis', undefined, { timeoutMs: 15_000 });
  if (r.status !== 200) throw new KubeApiError(`discovery /apis: HTTP ${r.status}: ${statusMessage(r.body)}`, r.status);
  const kinds = new Set<string>();
  for (const g of r.body.groups ?? []) {
    if (!(g.name in GROUPS)) continue;
    const gv = g.preferredVersion?.groupVersion ?? g.versions?.[0]?.groupVersion;
    if (!gv) continue;
    const rr = await client.request<ResourceList>('GET', `/apis/${gv}`, undefined, { timeoutMs: 15_000 });
    if (rr.status !== 200) {
      kinds.add(`${g.name} policies (discovery of ${gv} failed: HTTP ${rr.status})`);
      continue;
    }
    for (const res of rr.body.resources ?? []) {
      if (res.name.includes('/') || !/Policy$/.test(res.kind)) continue; // subresources; non-policy CRDs (IPPools, endpoints, ...)
      kinds.add(GROUPS[g.name] + res.kind);
    }
  }
  return [...kinds].sort();
}
