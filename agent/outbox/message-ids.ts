// The outbox's message IDs <node>/<agentId>/<seq>, and what a JetStream duplicate ack means for them.
// JetStream drops a publish whose ID it already has: right for our own retries (the ack was lost),
// silent data loss when someone else published under our IDs first. This tells the two apart.
import { messageId } from '../../common/subjects.js';
import { encodeEnvelope, pb } from '../../proto/codec.js';
import type { SpoolMessage } from './spool.js';

export class MessageIds {
  private seq = 0;
  /** IDs this process has published at least once (until acked): a duplicate for one of them is a retry. */
  private readonly sent = new Set<string>();

  constructor(
    private readonly node: string,
    private readonly agentId: string,
  ) {}

  next(): { seq: number; msgId: string } {
    const seq = ++this.seq;
    return { seq, msgId: messageId(this.node, this.agentId, seq) };
  }

  /** Call before publishing; per message: would a duplicate ack be unexpected? Resumed spool files never are. */
  sending(messages: readonly SpoolMessage[], resumed: boolean): boolean[] {
    const firstTime = messages.map((m) => !resumed && !this.sent.has(m.msgId));
    for (const m of messages) this.sent.add(m.msgId);
    return firstTime;
  }

  /** Acked for good: their IDs need no remembering. */
  done(messages: readonly SpoolMessage[]): void {
    for (const m of messages) this.sent.delete(m.msgId);
  }

  /** The same body under a fresh sequence number and ID (the envelope carries its seq too). */
  reissue(m: SpoolMessage): SpoolMessage {
    const env = pb.Envelope.decode(m.data);
    const { seq, msgId } = this.next();
    env.seq = seq;
    env.sentMs = Date.now();
    this.sent.delete(m.msgId);
    return { subject: m.subject, msgId, data: encodeEnvelope(env) };
  }
}
