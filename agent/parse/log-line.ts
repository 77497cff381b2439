// Pure parsing of the line formats a log line may arrive in: `journalctl -o json` records and raw
// text (RFC3339 / journalctl short-iso, classic syslog / journalctl short, or a bare message).

export interface LogEntry {
  message: string;
  /** Wall-clock time of the record in ms since the epoch, when the input carried one. */
  timeMs?: number;
  /** journald cursor of the record (journal JSON only). */
  cursor?: string;
  /** Other journal fields the reader asked for (journal JSON only). */
  fields?: Record<string, string>;
  /**
   * Raw text only: false when a syslog header names another program than the kernel (its text may
   * quote anything, a drop prefix included); true for `kernel:` and dmesg `[ uptime]` lines;
   * absent for a bare message (journalctl -o cat, dmesg --notime), which is taken as the kernel's.
   */
  kernel?: boolean;
}

export interface LineReject {
  reject: 'bad-json' | 'no-message' | 'bad-time';
  detail: string;
}

/** The largest time a JavaScript Date can hold (year 275760). */
const MAX_DATE_MS = 8.64e15;

const text = (v: unknown): unknown => (Array.isArray(v) ? Buffer.from(v as number[]).toString('utf8') : v);

/** One `journalctl -o json` line. MESSAGE (any field) arrives as a byte array when it is not valid UTF-8. */
export function parseJournalJson(line: string, fields: readonly string[] = []): LogEntry | LineReject {
  let rec: Record<string, unknown>;
  try {
    rec = JSON.parse(line) as Record<string, unknown>;
  } catch (err) {
    return { reject: 'bad-json', detail: (err as Error).message.slice(0, 120) };
  }
  if (rec === null || typeof rec !== 'object') return { reject: 'bad-json', detail: 'not an object' };
  const message = text(rec.MESSAGE);
  if (typeof message !== 'string') return { reject: 'no-message', detail: 'MESSAGE missing or null' };
  const entry: LogEntry = { message };
  const rt = rec.__REALTIME_TIMESTAMP;
  if (rt !== undefined) {
    // Microseconds as a decimal string; anything else (or beyond what a Date can hold) is no time at all.
    const ms = typeof rt === 'string' && /^\d{4,19}$/.test(rt) ? Number(rt.slice(0, -3)) : NaN;
    if (!(ms > 0 && ms <= MAX_DATE_MS))
      return { reject: 'bad-time', detail: `__REALTIME_TIMESTAMP ${JSON.stringify(rt).slice(0, 40)} is not a time` };
    entry.timeMs = ms;
  }
  if (typeof rec.__CURSOR === 'string') entry.cursor = rec.__CURSOR;
  if (fields.length) {
    entry.fields = {};
    for (const f of fields) {
      const v = text(rec[f]);
      if (typeof v === 'string') entry.fields[f] = v;
    }
  }
  return entry;
}

const CURSOR_KEY = '"__CURSOR":"';

/** The cursor of a journal JSON line without parsing it (cursors contain no quotes). */
export function cursorOf(line: string): string | undefined {
  const i = line.indexOf(CURSOR_KEY);
  if (i < 0) return undefined;
  const start = i + CURSOR_KEY.length;
  const end = line.indexOf('"', start);
  return end > start ? line.slice(start, end) : undefined;
}

const RFC3339 = /^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}:\d{2}(?:[.,]\d+)?)(Z|[+-]\d{2}:?\d{2})?\s/;
const SYSLOG =
  /^(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) {1,2}(\d{1,2}) (\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?\s/;
const HOST_TAG = /^\S+ ([^\s:[]+)(?:\[\d+\])?: ?/;
/** dmesg's uptime stamp "[ 1234.567890] " or, with -T, "[Mon Nov 23 13:59:01 2026] ". */
const DMESG = /^\[[ \d.]+\] |^\[[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d{2}:\d{2}:\d{2} \d{4}\] /;
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/**
 * A raw text line. Classic syslog carries no year: the current one is assumed, or the previous one
 * when that would put the line more than a day in the future (a December line read in January).
 */
export function parseRawLine(line: string, now = Date.now()): LogEntry {
  const r = RFC3339.exec(line);
  if (r) {
    let zone = r[3] ?? 'Z';
    if (/^[+-]\d{4}$/.test(zone)) zone = `${zone.slice(0, 3)}:${zone.slice(3)}`;
    const t = Date.parse(`${r[1]}T${r[2].replace(',', '.')}${zone}`);
    const e = headed(line.slice(r[0].length));
    if (!Number.isNaN(t)) e.timeMs = t;
    return e;
  }
  const s = SYSLOG.exec(line);
  if (s) {
    const year = new Date(now).getFullYear();
    const at = (y: number) =>
      new Date(
        y,
        MONTHS.indexOf(s[1]),
        Number(s[2]),
        Number(s[3]),
        Number(s[4]),
        Number(s[5]),
        s[6] ? Number(`0.${s[6]}`) * 1000 : 0,
      ).getTime();
    let t = at(year);
    if (t - now > 86400e3) t = at(year - 1);
    const e = headed(line.slice(s[0].length));
    e.timeMs = t;
    return e;
  }
  const d = DMESG.exec(line);
  return d ? { message: line.slice(d[0].length), kernel: true } : { message: line };
}

/** "host tag[pid]: message" after a timestamp: the message, and whether the kernel logged it. */
function headed(rest: string): LogEntry {
  const h = HOST_TAG.exec(rest);
  if (!h) return { message: rest, kernel: false };
  const message = rest.slice(h[0].length);
  if (h[1] !== 'kernel') return { message, kernel: false };
  const d = DMESG.exec(message);
  return { message: d ? message.slice(d[0].length) : message, kernel: true };
}

/** Journal JSON when the line looks like an object, raw text otherwise. */
export function parseInputLine(line: string, now?: number): LogEntry | LineReject {
  return line.charCodeAt(0) === 123 /* { */ ? parseJournalJson(line) : parseRawLine(line, now);
}
