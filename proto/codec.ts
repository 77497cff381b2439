// Envelope encode/decode with the validation the collector relies on. Both roles import this file.
import { nodewarden } from './gen/nodewarden.js';
import { DecodeError, LIMITS, validateEnvelope, type Adjustments } from './validate.js';
import { subjectFor, type BodyKind } from '../common/subjects.js';

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

export { DecodeError, DECODE_FAILURES, LIMITS, type DecodeFailure, type Adjustments } from './validate.js';

/** A decoded envelope whose every field passed proto/validate.ts (numbers are plain numbers, texts bounded). */
export interface ValidEnvelope {
  node: string;
  agentId: string;
  seq: number;
  sentMs: number;
  agentVersion: string;
  body: 'drops' | 'finding' | 'heartbeat' | 'runtime';
  msg: nodewarden.v1.Envelope;
  /** Drop records refused inside an otherwise good batch, and texts cut to their bound. */
  adjusted: Adjustments;
}

export interface DecodeOptions {
  /** The NATS subject it arrived on: must be the envelope's own node and body (a node speaks only for itself). */
  subject?: string;
  nowMs?: number;
  /** How far back event times may lie (the stream's retention); default 7 days. */
  retentionMs?: number;
}

/** Decodes and validates; throws DecodeError (with the reason to count) for anything it refuses. */
export function decodeEnvelope(bytes: Uint8Array, o: DecodeOptions = {}): ValidEnvelope {
  if (bytes.length > LIMITS.envelopeBytes)
    throw new DecodeError('oversized', `${bytes.length} bytes, more than ${LIMITS.envelopeBytes}`);
  let msg: nodewarden.v1.Envelope;
  try {
    msg = pb.Envelope.decode(bytes);
  } catch (err) {
    throw new DecodeError('corrupt', `not a nodewarden.v1.Envelope: ${(err as Error).message}`);
  }
  const adjusted = validateEnvelope(msg, o.subject, (node, body) => subjectFor(node, body as BodyKind), {
    nowMs: o.nowMs ?? Date.now(),
    retentionMs: o.retentionMs ?? 7 * 86_400_000,
  });
  const body = msg.body as ValidEnvelope['body'];
  return {
    node: msg.node,
    agentId: msg.agentId,
    seq: msg.seq as number,
    sentMs: msg.sentMs,
    agentVersion: msg.agentVersion,
    body,
    msg,
    adjusted,
  };
}
