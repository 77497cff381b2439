// A PodList JSON exactly as `kubectl get pods -A -o json` prints it -> PodInfo.
import { readFileSync } from 'node:fs';
import { canonicalIp } from '../../common/ip.js';
import { ConfigError } from '../../common/flags.js';
import { IpIndex, type PodInfo } from './resolver.js';
import { podMetaFromJson, type PodMetaJson } from './pod-meta.js';

interface PodJson extends PodMetaJson {
  metadata?: { namespace?: string; name?: string; uid?: string; labels?: Record<string, string> | null };
  spec?: PodMetaJson['spec'] & { nodeName?: string };
  status?: { podIP?: string; podIPs?: { ip?: string }[]; hostIP?: string; hostIPs?: { ip?: string }[] };
}

export function podInfoFromJson(p: PodJson): PodInfo | undefined {
  const ns = p.metadata?.namespace,
    name = p.metadata?.name;
  if (!ns || !name) return undefined;
  const ips = (list: (string | undefined)[]) => [
    ...new Set(list.map((x) => (x ? canonicalIp(x) : undefined)).filter((x): x is string => !!x)),
  ];
  const st = p.status ?? {};
  return {
    namespace: ns,
    name,
    uid: p.metadata?.uid,
    node: p.spec?.nodeName,
    hostNetwork: p.spec?.hostNetwork === true,
    podIPs: ips([st.podIP, ...(st.podIPs ?? []).map((x) => x.ip)]),
    hostIPs: ips([st.hostIP, ...(st.hostIPs ?? []).map((x) => x.ip)]),
    meta: podMetaFromJson(p),
  };
}

export function loadPodsFile(path: string): IpIndex {
  let doc: { kind?: string; items?: PodJson[] };
  try {
    doc = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new ConfigError(
      `--pods-file ${path}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : `not JSON (${(err as Error).message})`}`,
    );
  }
  if (!doc || !Array.isArray(doc.items))
    throw new ConfigError(
      `--pods-file ${path}: expected a PodList ({"kind":"List","items":[...]}) as printed by kubectl get pods -A -o json`,
    );
  return new IpIndex(doc.items.map(podInfoFromJson).filter((x): x is PodInfo => !!x));
}
