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

export const REJECT_REASONS = [
  'too-long',
  'binary',
  'missing-address',
  'missing-proto',
  'bad-address',
  'bad-number',
  'bad-field',
] as const;
export type RejectReason = (typeof REJECT_REASONS)[number];

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
    const i = prefixAt(message, p);
    if (i >= 0 && (at < 0 || i < at)) {
      at = i;
      prefix = p;
    }
  }
  if (at < 0) return undefined;
  if (message.length > MAX_LINE_BYTES) return { reject: 'too-long', detail: `${message.length} characters` };
  if (message.indexOf('\u0000') >= 0 || message.indexOf('\uFFFD') >= 0)
    return { reject: 'binary', detail: 'NUL or invalid UTF-8' };
  return parseFields(message, at, prefix);
}

/**
 * The first occurrence of the prefix that starts a token: at the start, or after a space, "]" or an
 * opening quote (firewalld's `"filter_IN_public_REJECT: "`). Glued to a word it is someone's text
 * that merely mentions it (`user typed xcalico-packet:SRC=…`), not a log prefix.
 */
function prefixAt(message: string, p: string): number {
  for (let i = message.indexOf(p); i >= 0; i = message.indexOf(p, i + 1)) {
    const before = i === 0 ? 32 : message.charCodeAt(i - 1);
    if (before === 32 || before === 93 /* ] */ || before === 34 /* " */ || before === 39 /* ' */) return i;
  }
  return -1;
}

/**
 * Where the value of the first " KEY=" token in message[from, limit) starts — or "KEY=" right at
 * `from`, since a prefix need not end in a space; -1 when absent. Native indexOf per key is several
 * times faster than tokenising, and numbers are read in place without substrings.
 */
function valueAt(message: string, from: number, limit: number, key: string, spaced: string): number {
  if (message.startsWith(key, from)) return from + key.length;
  const at = message.indexOf(spaced, from);
  return at < 0 || at >= limit ? -1 : at + spaced.length;
}

function valueEnd(message: string, v: number, limit: number): number {
  const e = message.indexOf(' ', v);
  return e < 0 || e > limit ? limit : e;
}

function text(message: string, from: number, limit: number, key: string, spaced: string): string | undefined {
  const v = valueAt(message, from, limit, key, spaced);
  return v < 0 ? undefined : message.slice(v, valueEnd(message, v, limit));
}

/** The unsigned number at message[v, end) if it is at most max; -1 when not a number, -2 when absent. */
function uint(message: string, from: number, limit: number, key: string, spaced: string, max: number): number {
  const v = valueAt(message, from, limit, key, spaced);
  if (v < 0) return -2;
  const end = valueEnd(message, v, limit);
  if (end === v || end - v > 10) return -1;
  let n = 0;
  for (let k = v; k < end; k++) {
    const c = message.charCodeAt(k) - 48;
    if (c < 0 || c > 9) return -1;
    n = n * 10 + c;
  }
  return n <= max ? n : -1;
}

const PROTO_TEXT = /^[A-Z0-9]{1,16}$/;
const MAX_IFACE = 15;

const PROTOS: Record<string, string> = {
  TCP: 'TCP',
  UDP: 'UDP',
  ICMP: 'ICMP',
  ICMPv6: 'ICMPV6',
  SCTP: 'SCTP',
  UDPLITE: 'UDPLITE',
};

function badNumber(message: string, from: number, limit: number, key: string): Reject {
  return { reject: 'bad-number', detail: `${key}${(text(message, from, limit, key, ` ${key}`) ?? '').slice(0, 32)}` };
}

function parseFields(message: string, at: number, prefix: string): Drop | Reject {
  let from = at + prefix.length;
  while (message.charCodeAt(from) === 32) from++;
  // A quoted prefix keeps its closing quote, and the kernel glues the first field to it: `"… "IN=eth0`.
  if (message.charCodeAt(from) === 34 && message.charCodeAt(at - 1) === 34) from++;
  const end = message.length;
  // First occurrence wins: UDP lines carry LEN twice, ICMP echo carries ID twice.
  const proto = text(message, from, end, 'PROTO=', ' PROTO=');
  const isIcmp = proto !== undefined && proto.startsWith('ICMP');
  // "[SRC=... DST=... SPT=...]" after an ICMP error describes the embedded packet, not this one.
  let limit = isIcmp ? message.indexOf(' [', from) : -1;
  if (limit < 0) limit = end;
  const src = text(message, from, limit, 'SRC=', ' SRC=');
  const dst = text(message, from, limit, 'DST=', ' DST=');
  if (src === undefined || dst === undefined) return { reject: 'missing-address', detail: 'no SRC= or DST=' };
  const s = canonicalIp(src),
    d = canonicalIp(dst);
  if (s === undefined || d === undefined || s.includes(':') !== d.includes(':'))
    return { reject: 'bad-address', detail: `SRC=${src.slice(0, 64)} DST=${dst.slice(0, 64)}` };
  // Every complete IPv4/IPv6 LOG line has PROTO= (nf_log_syslog prints it for any protocol, as a
  // number if unnamed); only a non-first IPv6 fragment ("FRAG:") stops before it. A line without
  // either was not printed by the kernel's LOG target.
  if (proto === undefined && text(message, from, limit, 'FRAG:', ' FRAG:') === undefined)
    return { reject: 'missing-proto', detail: 'no PROTO= (and not a fragment)' };
  const named = proto === undefined ? 'FRAGMENT' : (PROTOS[proto] ?? proto.toUpperCase());
  // The kernel prints a name or a number; anything else is not a kernel line (and the collector would refuse it).
  if (!PROTO_TEXT.test(named)) return { reject: 'bad-field', detail: `PROTO=${(proto ?? '').slice(0, 32)}` };
  const drop: Drop = {
    prefix: prefix.trim(),
    family: s.includes(':') ? 6 : 4,
    proto: named,
    src: s,
    dst: d,
    message: at === 0 ? message : message.slice(at),
  };
  const inIf = text(message, from, limit, 'IN=', ' IN=');
  const outIf = text(message, from, limit, 'OUT=', ' OUT=');
  // Interface names are at most IFNAMSIZ-1 (15) bytes; a longer one is not from the kernel.
  if ((inIf?.length ?? 0) > MAX_IFACE || (outIf?.length ?? 0) > MAX_IFACE)
    return { reject: 'bad-field', detail: `IN=${(inIf ?? '').slice(0, 32)} OUT=${(outIf ?? '').slice(0, 32)}` };
  if (inIf !== undefined) drop.in = inIf;
  if (outIf !== undefined) drop.out = outIf;
  const spt = uint(message, from, limit, 'SPT=', ' SPT=', 65535);
  if (spt === -1) return badNumber(message, from, limit, 'SPT=');
  if (spt >= 0) drop.srcPort = spt;
  const dpt = uint(message, from, limit, 'DPT=', ' DPT=', 65535);
  if (dpt === -1) return badNumber(message, from, limit, 'DPT=');
  if (dpt >= 0) drop.dstPort = dpt;
  if (isIcmp) {
    const type = uint(message, from, limit, 'TYPE=', ' TYPE=', 255);
    if (type === -1) return badNumber(message, from, limit, 'TYPE=');
    if (type >= 0) drop.icmpType = type;
    const code = uint(message, from, limit, 'CODE=', ' CODE=', 255);
    if (code === -1) return badNumber(message, from, limit, 'CODE=');
    if (code >= 0) drop.icmpCode = code;
  }
  let ttl = uint(message, from, limit, 'TTL=', ' TTL=', 255);
  if (ttl === -2) ttl = uint(message, from, limit, 'HOPLIMIT=', ' HOPLIMIT=', 255);
  if (ttl >= 0) drop.ttl = ttl;
  return drop;
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
