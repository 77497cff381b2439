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
// Kept as ranges throughout (never expanded), so a forged `1-999999999999` costs one range.

export const APPLIED_ANNOTATION = 'nodewarden.io/stream-seqs';
/** Ranges kept per Event (the oldest go first): a few KiB even for a pod every node drops traffic to. */
export const MAX_RANGES = 400;
/** Parts read from an annotation at most (a longer value is someone else's, or junk). */
const MAX_PARTS = 4 * MAX_RANGES;

export interface StreamPosition {
  /** The stream's creation time (ms); 0 when not known yet (nothing is recorded then). */
  epoch: number;
  /** The durable consumer's ack floor: every sequence at or below it is acked. */
  floor: number;
}

type Range = readonly [number, number];

/** Sorted, disjoint, non-adjacent ranges from any ranges. */
function merged(rs: Range[]): Range[] {
  const sorted = [...rs].sort((a, b) => a[0] - b[0]);
  const out: [number, number][] = [];
  for (const [a, b] of sorted) {
    const last = out[out.length - 1];
    if (last && a <= last[1] + 1) last[1] = Math.max(last[1], b);
    else out.push([a, b]);
  }
  return out;
}

export class SeqRanges {
  private constructor(readonly ranges: readonly Range[]) {}

  static readonly none = new SeqRanges([]);

  static of(seqs: Iterable<number>): SeqRanges {
    return SeqRanges.none.with(seqs);
  }

  /** The sequences an annotation value records for stream `epoch` (none for another stream or junk). */
  static parse(value: unknown, epoch: number): SeqRanges {
    if (typeof value !== 'string' || epoch <= 0) return SeqRanges.none;
    const colon = value.indexOf(':');
    if (colon < 0 || Number(value.slice(0, colon)) !== epoch) return SeqRanges.none;
    const rs: Range[] = [];
    for (const part of value.slice(colon + 1).split(',', MAX_PARTS)) {
      const m = /^(\d{1,15})(?:-(\d{1,15}))?$/.exec(part);
      if (!m) continue;
      const a = Number(m[1]);
      const b = m[2] === undefined ? a : Number(m[2]);
      if (a >= 1 && b >= a) rs.push([a, b]);
    }
    return new SeqRanges(merged(rs).slice(-MAX_RANGES));
  }

  has(seq: number): boolean {
    let lo = 0;
    let hi = this.ranges.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const [a, b] = this.ranges[mid];
      if (seq < a) hi = mid - 1;
      else if (seq > b) lo = mid + 1;
      else return true;
    }
    return false;
  }

  with(seqs: Iterable<number>): SeqRanges {
    const rs: Range[] = [...this.ranges];
    for (const s of seqs) rs.push([s, s]);
    return new SeqRanges(merged(rs));
  }

  /** The annotation value for what lies above `pos.floor`; undefined when nothing is left to record. */
  format(pos: StreamPosition): string | undefined {
    if (pos.epoch <= 0) return undefined;
    const above = this.ranges
      .filter(([, b]) => b > pos.floor)
      .map(([a, b]) => [Math.max(a, pos.floor + 1), b] as const)
      .slice(-MAX_RANGES);
    if (above.length === 0) return undefined;
    return `${pos.epoch}:${above.map(([a, b]) => (a === b ? `${a}` : `${a}-${b}`)).join(',')}`;
  }
}
