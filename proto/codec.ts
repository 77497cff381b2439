// Envelope encode/decode with the validation the collector relies on. Both roles import this file.
import { nodewarden } from './gen/nodewarden.js';

export const pb = nodewarden.v1;
export type Envelope = nodewarden.v1.IEnvelope;
export type PacketDrop = nodewarden.v1.IPacketDrop;
export type Finding = nodewarden.v1.IFinding;
export type Heartbeat = nodewarden.v1.IHeartbeat;
export type RuntimeSnapshot = nodewarden.v1.IRuntimeSnapshot;
export type PodRef = nodewarden.v1.IPodRef;

/** RuntimeCondition as both roles hold it (no nullable fields). */
export interface RuntimeConditionView {
  type: string;
  status: boolean;
  reason: string;
  message: string;
}

/** MirrorPodError as both roles hold it; name '' applies to every static pod of the node. */
export interface MirrorPodErrorView {
  namespace: string;
  name: string;
  error: string;
  sinceMs: number;
}

export function encodeEnvelope(env: Envelope): Uint8Array {
  return pb.Envelope.encode(env).finish();
}

export type DecodeFailure = 'corrupt' | 'missing-header' | 'empty-body' | 'invalid-drop';

export class DecodeError extends Error {
  constructor(public readonly kind: DecodeFailure, message: string) {
    super(message);
  }
}

/** A decoded envelope whose header is present and whose body is one known kind. */
export interface ValidEnvelope {
  node: string;
  agentId: string;
  seq: number;
  sentMs: number;
  agentVersion: string;
  body: 'drops' | 'finding' | 'heartbeat' | 'runtime';
  msg: nodewarden.v1.Envelope;
}

export function decodeEnvelope(bytes: Uint8Array): ValidEnvelope {
  let msg: nodewarden.v1.Envelope;
  try {
    msg = pb.Envelope.decode(bytes);
  } catch (err) {
    throw new DecodeError('corrupt', `not a nodewarden.v1.Envelope: ${(err as Error).message}`);
  }
  if (!msg.node || !msg.agentId || !msg.seq) throw new DecodeError('missing-header', 'envelope without node, agent_id or seq');
  const body = msg.body as ValidEnvelope['body'] | undefined;
  if (!body) throw new DecodeError('empty-body', 'envelope without a body');
  if (body === 'drops') {
    for (const d of msg.drops?.drops ?? []) {
      if (!d.src || !d.dst || !d.count) throw new DecodeError('invalid-drop', 'drop record without src, dst or count');
    }
  }
  return { node: msg.node, agentId: msg.agentId, seq: Number(msg.seq), sentMs: msg.sentMs, agentVersion: msg.agentVersion, body, msg };
}
