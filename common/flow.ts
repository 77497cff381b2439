// What makes two drop records the same flow, for both sides of the wire: the agent coalesces by it
// (agent/outbox/coalescer.ts), the collector's flow store counts by it per node (collector/store/drops.ts).
// An absent port or ICMP type is the empty field. Built with join, not a template: a template key
// stays a tree of cons strings in a Map (several times the size).
type Opt<T> = T | null | undefined;

export interface FlowFields {
  prefix?: Opt<string>;
  src?: Opt<string>;
  dst?: Opt<string>;
  proto?: Opt<string>;
  dstPort?: Opt<number>;
  icmpType?: Opt<number>;
}

/** prefix|src|dst|proto|dstPort|icmpType|in|out, led by node| when given. */
export function flowKey(f: FlowFields, inIface: Opt<string>, outIface: Opt<string>, node?: string): string {
  const k = [
    f.prefix ?? '',
    f.src ?? '',
    f.dst ?? '',
    f.proto ?? '',
    f.dstPort ?? '',
    f.icmpType ?? '',
    inIface ?? '',
    outIface ?? '',
  ];
  if (node !== undefined) k.unshift(node);
  return k.join('|');
}
