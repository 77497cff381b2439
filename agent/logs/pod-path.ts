// Pod identity from kubelet's log paths (pure). The real file
// `/var/log/pods/<ns>_<pod>_<uid>/<container>/<n>.log` is authoritative; the symlink name
// `/var/log/containers/<pod>_<ns>_<container>-<id>.log` is a fallback (kubelet cuts it to 255 bytes).
import path from 'node:path';

export interface PodMeta {
  namespace?: string;
  name?: string;
  uid?: string;
  container?: string;
  /** Runtime container id, from the symlink name (may be cut short by kubelet's 255-byte limit). */
  containerId?: string;
}

/** `<pod>_<ns>_<container>-<id>.log`; `_` never occurs in DNS names, so it is a safe separator. */
export function metaFromLinkName(file: string): PodMeta {
  const base = path.basename(file);
  if (!base.endsWith('.log')) return {};
  const parts = base.slice(0, -4).split('_');
  if (parts.length !== 3) return {};
  const [name, namespace, rest] = parts;
  const dash = rest.lastIndexOf('-');
  const meta: PodMeta = { namespace, name };
  if (dash > 0 && rest.length - dash - 1 >= 6) {
    meta.container = rest.slice(0, dash);
    meta.containerId = rest.slice(dash + 1);
  } else meta.container = rest;
  return meta;
}

/** `…/<ns>_<pod>_<uid>/<container>/<n>.log` (also a rotated `<n>.log.<timestamp>`). */
export function metaFromPodsPath(file: string): PodMeta {
  const container = path.basename(path.dirname(file));
  const podDir = path.basename(path.dirname(path.dirname(file)));
  if (!/^\d+\.log(\.|$)/.test(path.basename(file))) return {};
  const parts = podDir.split('_');
  if (parts.length !== 3 || !parts[0] || !parts[1] || !parts[2] || !container) return {};
  return { namespace: parts[0], name: parts[1], uid: parts[2], container };
}

/** Identity of a tailed file: the real path wins field by field, the link name fills the gaps. */
export function podMeta(link: string, target: string | undefined): PodMeta {
  const fromLink = metaFromLinkName(link);
  const fromTarget = target ? metaFromPodsPath(target) : {};
  const meta: PodMeta = { ...fromLink };
  for (const [k, v] of Object.entries(fromTarget) as [keyof PodMeta, string | undefined][]) if (v) meta[k] = v;
  return meta;
}
