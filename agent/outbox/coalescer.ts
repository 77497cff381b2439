// Pure: identical flows within one window become one record with a count.
import type { Drop } from '../parse/packet-drop.js';
import type { PacketDrop } from '../../proto/codec.js';
import { flowKey } from '../../common/flow.js';

/** Sample lines are for people; the kernel's own lines are far shorter than this. */
export const MAX_SAMPLE_CHARS = 2048;

export class Coalescer {
  private flows = new Map<string, PacketDrop>();

  /** Returns true when the window holds maxFlows distinct flows and should be sealed now. */
  add(d: Drop, timeMs: number, maxFlows: number): boolean {
    const key = flowKey(d, d.in, d.out);
    const f = this.flows.get(key);
    if (f) {
      f.count = (f.count as number) + 1;
      if (timeMs > (f.lastSeenMs as number)) f.lastSeenMs = timeMs;
      if (timeMs < (f.firstSeenMs as number)) f.firstSeenMs = timeMs;
      return false;
    }
    this.flows.set(key, {
      prefix: d.prefix,
      family: d.family,
      proto: d.proto,
      src: d.src,
      dst: d.dst,
      srcPort: d.srcPort,
      dstPort: d.dstPort,
      icmpType: d.icmpType,
      icmpCode: d.icmpCode,
      inIface: d.in ?? '',
      outIface: d.out ?? '',
      ttl: d.ttl,
      count: 1,
      firstSeenMs: timeMs,
      lastSeenMs: timeMs,
      sample: d.message.length > MAX_SAMPLE_CHARS ? d.message.slice(0, MAX_SAMPLE_CHARS) : d.message,
    });
    return this.flows.size >= maxFlows;
  }

  get size(): number {
    return this.flows.size;
  }

  /** Empties the window and returns its records. */
  take(): PacketDrop[] {
    const out = [...this.flows.values()];
    this.flows = new Map();
    return out;
  }
}
