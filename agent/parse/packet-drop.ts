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

/**
 * The value of the first " KEY=" token in message[from, limit) — or "KEY=" right at `from`, since a
 * prefix need not end in a space. Native indexOf per key is several times faster than tokenising.
 */
function field(message: string, from: number, limit: number, key: string, spaced: string): string | undefined {
  let at: number;
  if (message.startsWith(key, from)) at = from;
  else {
    at = message.indexOf(spaced, from);
    if (at < 0 || at >= limit) return undefined;
    at++;
  }
  const v = at + key.length;
  let e = message.indexOf(' ', v);
  if (e < 0 || e > limit) e = limit;
  return message.slice(v, e);
}

function parseFields(message: string, at: number, prefix: string): Drop | Reject {
  let from = at + prefix.length;
  while (message.charCodeAt(from) === 32) from++;
  // "[SRC=... DST=...]" after ICMP errors describes the embedded packet, not this one.
  let limit = message.indexOf(' [', from);
  if (limit < 0) limit = message.length;
  // First occurrence wins: UDP lines carry LEN twice, ICMP echo carries ID twice.
  const src = field(message, from, limit, 'SRC=', ' SRC=');
  const dst = field(message, from, limit, 'DST=', ' DST=');
  const proto = field(message, from, limit, 'PROTO=', ' PROTO=');
  const spt = field(message, from, limit, 'SPT=', ' SPT=');
  const dpt = field(message, from, limit, 'DPT=', ' DPT=');
  const isIcmp = proto !== undefined && proto.startsWith('ICMP');
  const type = isIcmp ? field(message, from, limit, 'TYPE=', ' TYPE=') : undefined;
  const code = isIcmp ? field(message, from, limit, 'CODE=', ' CODE=') : undefined;
  const inIf = field(message, from, limit, 'IN=', ' IN=');
  const outIf = field(message, from, limit, 'OUT=', ' OUT=');
  const ttl = field(message, from, limit, 'TTL=', ' TTL=') ?? field(message, from, limit, 'HOPLIMIT=', ' HOPLIMIT=');
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
