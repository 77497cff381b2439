/** NATS naming shared by agent and collector. */
export const STREAM = 'NODEWARDEN';
export const SUBJECT_ROOT = 'nodewarden.v1';
export const CONSUMER = 'nodewarden-collector';

export type BodyKind = 'drops' | 'finding' | 'heartbeat' | 'runtime';

/**
 * Node names are DNS subdomains and may contain '.', which NATS treats as a token separator.
 * '.' -> '_' is reversible because '_' is not allowed in node names; the real name travels in the payload.
 */
export function nodeToken(node: string): string {
  return node.replace(/\./g, '_').replace(/[\s*>]/g, '-');
}

export function subjectFor(node: string, kind: BodyKind): string {
  return `${SUBJECT_ROOT}.${nodeToken(node)}.${kind}`;
}

export function messageId(node: string, agentId: string, seq: number): string {
  return `${node}/${agentId}/${seq}`;
}

/**
 * Reply inboxes of a node's agent. With auth callout an agent may subscribe only here, so its
 * JetStream acks must come back under this prefix (nats.js `inboxPrefix`).
 */
export function agentInboxPrefix(node: string): string {
  return `_INBOX_${nodeToken(node)}`;
}
