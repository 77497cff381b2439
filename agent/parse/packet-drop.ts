// Pure parser for kernel iptables/nftables LOG lines ("calico-packet: IN=... SRC=... DST=...").
import { canonicalIp } from '../../common/ip.js';

export const DEFAULT_DROP_PREFIXES = ['calico-packet:', 'calico-drop:'];
export const MAX_LINE_BYTES = 64 * 1024;

export interface Drop {
  prefix: string;
  family: 4 | 6;
  proto: string;
  src: string;
  dst: string;
  srcPort?: number;
  dstPort?: number;
  icmpType?: number;
  icmpCode?: number;
  /** Empty when the kernel printed "IN=" (locally generated packet); undefined when absent. */
  in?: string;
  out?: string;
  ttl?: number;
  /** The log message the drop came from (from the prefix on). */
  message: string;
}

export type RejectReason = 'too-long' | 'binary' | 'missing-address' | 'bad-address' | 'bad-number';

export interface Reject {
  reject: RejectReason;
  detail: string;
}

/**
 * Parses one log message. Returns undefined when no configured prefix occurs (not a drop line),
 * a Reject when a prefix occurs but the line cannot be a valid drop record.
 * The prefix may stand anywhere (raw syslog lines carry a header before it); fields are read only
 * after it, so a prefix such as "INPUT-DROP:" is never taken for the IN= field.
 */
export function parseDropMessage(message: string, prefixes: readonly string[]): Drop | Reject | undefined {
  let at = -1;
  let prefix = '';
  for (const p of prefixes) {
    const i = message.indexOf(p);
    if (i >= 0 && (at < 0 || i < at)) { at = i; prefix = p; }
  }
  if (at < 0) return undefined;
  if (message.length > MAX_LINE_BYTES) return { reject: 'too-long', detail: `${message.length} characters` };
  if (message.indexOf('\u0000') >= 0 || message.indexOf('\uFFFD') >= 0) return { reject: 'binary', detail: 'NUL or invalid UTF-8' };
  return parseFields(message, at, prefix);
}

function parseFields(message: string, at: number, prefix: string): Drop | Reject {
  let src: string | undefined, dst: string | undefined, proto: string | undefined;
  let spt: string | undefined, dpt: string | undefined, type: string | undefined, code: string | undefined;
  let inIf: string | undefined, outIf: string | undefined, ttl: string | undefined;
  const end = message.length;
  let i = at + prefix.length;
  while (i < end) {
    while (i < end && message.charCodeAt(i) === 32) i++;
    if (i >= end) break;
    // "[SRC=... DST=...]" after ICMP errors describes the embedded packet, not this one.
    if (message.charCodeAt(i) === 91 /* [ */) break;
    let j = i;
    let eq = -1;
    while (j < end) {
      const c = message.charCodeAt(j);
      if (c === 32) break;
      if (c === 61 /* = */ && eq < 0) eq = j;
      j++;
    }
    if (eq > i) {
      const key = message.slice(i, eq);
      const value = message.slice(eq + 1, j);
      // First occurrence wins: UDP lines carry LEN twice, and only the first SRC/DST is this packet's.
      switch (key) {
        case 'SRC': src ??= value; break;
        case 'DST': dst ??= value; break;
        case 'PROTO': proto ??= value; break;
        case 'SPT': spt ??= value; break;
        case 'DPT': dpt ??= value; break;
        case 'TYPE': type ??= value; break;
        case 'CODE': code ??= value; break;
        case 'IN': inIf ??= value; break;
        case 'OUT': outIf ??= value; break;
        case 'TTL': case 'HOPLIMIT': ttl ??= value; break;
      }
    }
    i = j;
  }
  if (src === undefined || dst === undefined) return { reject: 'missing-address', detail: 'no SRC= or DST=' };
  const s = canonicalIp(src), d = canonicalIp(dst);
  if (s === undefined || d === undefined) return { reject: 'bad-address', detail: `SRC=${src.slice(0, 64)} DST=${dst.slice(0, 64)}` };
  const family: 4 | 6 = s.includes(':') ? 6 : 4;
  const drop: Drop = { prefix: prefix.trim(), family, proto: proto === undefined ? 'UNKNOWN' : proto.toUpperCase(), src: s, dst: d, message: at === 0 ? message : message.slice(at) };
  if (inIf !== undefined) drop.in = inIf;
  if (outIf !== undefined) drop.out = outIf;
  const bad = (name: string, v: string): Reject => ({ reject: 'bad-number', detail: `${name}=${v.slice(0, 32)}` });
  if (spt !== undefined) { const n = toUint(spt, 65535); if (n < 0) return bad('SPT', spt); drop.srcPort = n; }
  if (dpt !== undefined) { const n = toUint(dpt, 65535); if (n < 0) return bad('DPT', dpt); drop.dstPort = n; }
  if (type !== undefined) { const n = toUint(type, 255); if (n < 0) return bad('TYPE', type); drop.icmpType = n; }
  if (code !== undefined) { const n = toUint(code, 255); if (n < 0) return bad('CODE', code); drop.icmpCode = n; }
  if (ttl !== undefined) { const n = toUint(ttl, 255); if (n >= 0) drop.ttl = n; }
  return drop;
}

function toUint(text: string, max: number): number {
  if (text.length === 0 || text.length > 10) return -1;
  let n = 0;
  for (let k = 0; k < text.length; k++) {
    const c = text.charCodeAt(k) - 48;
    if (c < 0 || c > 9) return -1;
    n = n * 10 + c;
  }
  return n <= max ? n : -1;
}

export function isReject(r: Drop | Reject): r is Reject {
  return (r as Reject).reject !== undefined;
}

/** Every KEY=value pair of the message after the prefix (first occurrence wins), for display/debugging. */
export function allFields(drop: Drop): Record<string, string> {
  const out: Record<string, string> = {};
  const body = drop.message.slice(drop.message.indexOf(drop.prefix) + drop.prefix.length);
  for (const tok of body.split(' ')) {
    if (tok.startsWith('[')) break;
    const eq = tok.indexOf('=');
    if (eq > 0 && !(tok.slice(0, eq) in out)) out[tok.slice(0, eq)] = tok.slice(eq + 1);
  }
  return out;
}
