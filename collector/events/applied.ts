// Pure: which stream messages an Event's count already includes, kept on the Event itself.
//
// A message is acked only after its occurrences are written (acks.ts), so a replica that dies
// between the write and the ack leaves a message that JetStream delivers again, perhaps to the other
// replica. The Event carries the stream sequences it counted in an annotation; the next write of
// that Event skips sequences already there, so a redelivery is never counted twice. Sequences at or
// below the durable consumer's ack floor can never come back and are pruned; `epoch` (the stream's
// creation time) keeps a re-created stream's small sequences from matching an older stream's.
//
// Value: `<epoch>:<ranges>`, ranges ascending and comma-separated, e.g. `1733274000000:17-42,45,51-60`.

export const APPLIED_ANNOTATION = 'nodewarden.io/stream-seqs';
/** Ranges kept per Event (the oldest go first): a few KiB even for a pod every node drops traffic to. */
export const MAX_RANGES = 400;

export interface StreamPosition {
  /** The stream's creation time (ms); 0 when not known yet (nothing is recorded then). */
  epoch: number;
  /** The durable consumer's ack floor: every sequence at or below it is acked. */
  floor: number;
}

/** The sequences an annotation value records for stream `epoch` (empty for another stream or junk). */
export function parseApplied(value: unknown, epoch: number): Set<number> {
  const out = new Set<number>();
  if (typeof value !== 'string' || epoch <= 0) return out;
  const colon = value.indexOf(':');
  if (colon < 0 || Number(value.slice(0, colon)) !== epoch) return out;
  let budget = MAX_RANGES * 4096; // a forged annotation cannot make us enumerate billions
  for (const part of value.slice(colon + 1).split(',')) {
    const m = /^(\d{1,15})(?:-(\d{1,15}))?$/.exec(part);
    if (!m) continue;
    const a = Number(m[1]);
    const b = m[2] === undefined ? a : Number(m[2]);
    for (let s = a; s <= b && budget > 0; s++, budget--) out.add(s);
  }
  return out;
}

/** The annotation value for `seqs` above `pos.floor`; undefined when nothing is left to record. */
export function formatApplied(seqs: Iterable<number>, pos: StreamPosition): string | undefined {
  if (pos.epoch <= 0) return undefined;
  const sorted = [...new Set(seqs)].filter((s) => s > pos.floor).sort((a, b) => a - b);
  const ranges: string[] = [];
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j] + 1) j++;
    ranges.push(i === j ? `${sorted[i]}` : `${sorted[i]}-${sorted[j]}`);
    i = j + 1;
  }
  if (ranges.length === 0) return undefined;
  return `${pos.epoch}:${ranges.slice(-MAX_RANGES).join(',')}`;
}
