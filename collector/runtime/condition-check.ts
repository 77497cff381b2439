// Pure: a node's CRI Status conditions over time -> RuntimeNotReady / RuntimeNetworkNotReady raises
// and clears (node, critical). NetworkReady=false is what a node with a broken or missing CNI config
// shows: pods that need the pod network cannot start there; the kubelet marks the node NotReady.
import type { Finding, RuntimeConditionView } from '../../proto/codec.js';
import type { FindingChange } from './checks.js';
import type { NodeRuntime } from './store.js';

/** The conditions every CRI runtime must report (cri-api RuntimeCondition) and the finding each one raises. */
export const CONDITION_KINDS: Record<string, string> = {
  RuntimeReady: 'RuntimeNotReady',
  NetworkReady: 'RuntimeNetworkNotReady',
};

export class RuntimeConditionCheck {
  /** node -> condition type -> the message of the raised finding. */
  private readonly raised = new Map<string, Map<string, string>>();

  evaluate(nowMs: number, v: NodeRuntime): FindingChange[] {
    // An agent that predates conditions sends none: nothing to judge.
    if (v.conditions.length === 0) return [];
    const out: FindingChange[] = [];
    const mine = this.raised.get(v.node) ?? new Map<string, string>();
    this.raised.set(v.node, mine);
    for (const [type, kind] of Object.entries(CONDITION_KINDS)) {
      const c = v.conditions.find((x) => x.type === type);
      const was = mine.get(type);
      if (c && !c.status) {
        const message = `container runtime ${v.runtimeName} reports ${type}=false${c.reason ? ` (${c.reason})` : ''}${c.message ? `: ${c.message}` : ''}${type === 'NetworkReady' ? '; new pods on this node get no pod network (check the CNI config and plugin)' : '; the kubelet cannot run pods on this node'}`;
        if (was === message) continue;
        mine.set(type, message);
        out.push({ node: v.node, finding: finding(kind, type, c, true, message, nowMs, v) });
      } else if (was !== undefined) {
        // true again, or no longer reported (the runtime was replaced): cleared either way.
        mine.delete(type);
        out.push({
          node: v.node,
          finding: finding(
            kind,
            type,
            c,
            false,
            `container runtime ${v.runtimeName} reports ${type}=${c ? 'true' : 'nothing'} again`,
            nowMs,
            v,
          ),
        });
      }
    }
    return out;
  }
}

function finding(
  kind: string,
  type: string,
  c: RuntimeConditionView | undefined,
  active: boolean,
  message: string,
  nowMs: number,
  v: NodeRuntime,
): Finding {
  return {
    kind,
    severity: 'critical',
    active,
    message,
    key: type,
    evidence: {
      condition: type,
      status: String(c?.status ?? ''),
      reason: c?.reason ?? '',
      conditionMessage: c?.message ?? '',
      runtime: `${v.runtimeName} ${v.runtimeVersion}`,
      endpoint: v.endpoint,
    },
    firstSeenMs: nowMs,
    lastSeenMs: nowMs,
  };
}
