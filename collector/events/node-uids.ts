// Node uids for Node Events (involvedObject.uid), cached for 10 minutes. Without `nodes get` (403) or
// for an unknown node (404) the node name serves as uid — the kubelet's way, which kubectl describe
// node also lists — cached for one minute only: a 403 may be a fresh apiserver whose RBAC is not loaded.
import type { Answer } from './protocol.js';

const TTL_MS = 600_000;
const FALLBACK_TTL_MS = 60_000;

export type NodeUid = { uid: string } | { failed: Answer };

export class NodeUidCache {
  private readonly uids = new Map<string, { uid: string; until: number }>();

  constructor(
    private readonly get: (path: string) => Promise<Answer>,
    private readonly now: () => number,
    private readonly onForbidden: (node: string) => void,
  ) {}

  async uid(name: string): Promise<NodeUid> {
    const c = this.uids.get(name);
    if (c && this.now() < c.until) return { uid: c.uid };
    const r = await this.get(`/api/v1/nodes/${encodeURIComponent(name)}`);
    const uid = (r.body as { metadata?: { uid?: string } } | undefined)?.metadata?.uid;
    if (r.status === 200 && uid) {
      this.uids.set(name, { uid, until: this.now() + TTL_MS });
      return { uid };
    }
    if (r.status === 403 || r.status === 404) {
      if (r.status === 403) this.onForbidden(name);
      this.uids.set(name, { uid: name, until: this.now() + FALLBACK_TTL_MS });
      return { uid: name };
    }
    return { failed: r };
  }
}
