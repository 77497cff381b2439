// Shared by the runtime tests: detector deps that record, envelopes.
import { Registry } from 'prom-client';
import { testLog } from '../support/log.js';
import { decodeEnvelope, encodeEnvelope, type RuntimeSnapshot, type ValidEnvelope } from '../../proto/codec.js';

/** Detector deps that keep what the agent would have sent. */
export function recordingDeps() {
  const snapshots: { snapshot: RuntimeSnapshot; atMs: number }[] = [];
  return {
    snapshots,
    deps: {
      log: testLog,
      registry: new Registry(),
      stateDir: '/nonexistent',
      publishRuntime: (s: RuntimeSnapshot) => snapshots.push({ snapshot: s, atMs: Date.now() }),
    },
  };
}

let seq = 0;
/** What the collector's listener gets for a snapshot: through the real protobuf encode/decode. */
export function runtimeEnvelope(
  node: string,
  snapshot: RuntimeSnapshot,
  sentMs: number,
  agentId = 'agent1',
): ValidEnvelope {
  // Decoded as of the test's own clock (the snapshot's send time), as a collector at that time would.
  return decodeEnvelope(
    encodeEnvelope({ node, agentId, seq: ++seq, sentMs, agentVersion: 'test', runtime: snapshot }),
    { nowMs: sentMs },
  );
}
