// Shared by the runtime tests: a recording FindingSink, a quiet logger, bounded waits, envelopes.
import pino from 'pino';
import { Registry } from 'prom-client';
import type { FindingReport, FindingSink } from '../../agent/findings.js';
import { decodeEnvelope, encodeEnvelope, type RuntimeSnapshot, type ValidEnvelope } from '../../proto/codec.js';

export const testLog = pino({ level: process.env.NODEWARDEN_LOG_LEVEL ?? 'silent' }, pino.destination(2));

export class RecordingSink implements FindingSink {
  readonly findings: FindingReport[] = [];
  readonly statuses: { name: string; ok: boolean; detail: string; atMs: number }[] = [];
  report(f: FindingReport): void {
    this.findings.push(f);
  }
  status(name: string, ok: boolean, detail: string): void {
    this.statuses.push({ name, ok, detail, atMs: Date.now() });
  }
}

/** Detector deps that keep what the agent would have sent. */
export function recordingDeps() {
  const snapshots: { snapshot: RuntimeSnapshot; atMs: number }[] = [];
  return { snapshots, deps: { log: testLog, registry: new Registry(), stateDir: '/nonexistent', publishRuntime: (s: RuntimeSnapshot) => snapshots.push({ snapshot: s, atMs: Date.now() }) } };
}

export { sleep } from '../support/wait.js';
import { sleep } from '../support/wait.js';

export async function waitFor<T>(what: string, timeoutMs: number, pick: () => T | undefined | false | Promise<T | undefined | false>, context: () => unknown = () => ''): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await pick();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}\n${JSON.stringify(context(), null, 1)?.slice(0, 4000)}`);
    await sleep(20);
  }
}

let seq = 0;
/** What the collector's listener gets for a snapshot: through the real protobuf encode/decode. */
export function runtimeEnvelope(node: string, snapshot: RuntimeSnapshot, sentMs: number, agentId = 'agent1'): ValidEnvelope {
  // Decoded as of the test's own clock (the snapshot's send time), as a collector at that time would.
  return decodeEnvelope(encodeEnvelope({ node, agentId, seq: ++seq, sentMs, agentVersion: 'test', runtime: snapshot }), { nowMs: sentMs });
}
