// Pure parsing of one physical container-log line: the CRI format kubelet's runtimes write
// (`<RFC3339Nano> <stdout|stderr> <P|F>[:tags] <content>`) and Docker's json-file format as a fallback.

export type Stream = 'stdout' | 'stderr';

export interface PhysicalLine {
  format: 'cri' | 'docker';
  /** The runtime's timestamp text, parsed only when needed (evidence, lookback). */
  time: string;
  stream: Stream;
  /** A fragment of a longer logical line (CRI `P`, or a Docker `log` without a trailing newline). */
  partial: boolean;
  content: string;
  /** UTF-8 size of `content`, for the merge cap. */
  contentBytes: number;
}

export type ContainerLineRejectReason = 'malformed' | 'binary';

export interface ContainerLineReject {
  reject: ContainerLineRejectReason;
  detail: string;
}

// containerd trims trailing zeros of the fraction (variable width, or none); CRI-O writes 9 digits and ±hh:mm.
const CRI_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2})$/;

/**
 * One CRI line without its newline. `lineBytes` is the line's UTF-8 size (the caller has it from the
 * buffer); the header is ASCII, so the content's size follows without re-encoding.
 */
export function parseCriLine(line: string, lineBytes = Buffer.byteLength(line)): PhysicalLine | ContainerLineReject {
  // kubelet splits on the first three spaces only; the content may contain spaces or be empty.
  const s1 = line.indexOf(' ');
  if (s1 < 20 || s1 > 35) return reject(line, 'no RFC3339 timestamp');
  const time = line.slice(0, s1);
  if (!CRI_TIME.test(time)) return reject(line, 'bad timestamp');
  const s2 = line.indexOf(' ', s1 + 1);
  if (s2 < 0) return reject(line, 'no stream');
  const stream = line.slice(s1 + 1, s2);
  if (stream !== 'stdout' && stream !== 'stderr') return reject(line, `bad stream "${stream.slice(0, 16)}"`);
  let s3 = line.indexOf(' ', s2 + 1);
  // "… stdout F" with nothing after it is a valid empty line; the space before the content is then absent.
  if (s3 < 0) s3 = line.length;
  const tags = line.slice(s2 + 1, s3);
  const tag = tags.length === 1 ? tags : tags.split(':', 1)[0];
  if (tag !== 'P' && tag !== 'F') return reject(line, `bad tag "${tags.slice(0, 16)}"`);
  const contentStart = Math.min(s3 + 1, line.length);
  return {
    format: 'cri',
    time,
    stream,
    partial: tag === 'P',
    content: line.slice(contentStart),
    contentBytes: Math.max(0, lineBytes - contentStart),
  };
}

/** One Docker json-file line: `{"log":"…\n","stream":"stdout","time":"…"}`. */
export function parseDockerJsonLine(line: string): PhysicalLine | ContainerLineReject {
  let rec: unknown;
  try {
    rec = JSON.parse(line);
  } catch {
    return reject(line, 'bad JSON');
  }
  if (rec === null || typeof rec !== 'object') return reject(line, 'JSON is not an object');
  const { log, stream, time } = rec as Record<string, unknown>;
  if (typeof log !== 'string') return reject(line, 'no "log" string');
  if (stream !== 'stdout' && stream !== 'stderr') return reject(line, 'no "stream" stdout|stderr');
  if (typeof time !== 'string') return reject(line, 'no "time" string');
  // Docker splits at 16 KiB; only the last piece of a logical line ends in "\n".
  const partial = !log.endsWith('\n');
  const content = partial ? log : log.slice(0, log.endsWith('\r\n') ? -2 : -1);
  return { format: 'docker', time, stream, partial, content, contentBytes: Buffer.byteLength(content) };
}

/** A line of either format: CRI lines start with a digit, Docker lines with `{`. */
export function parseContainerLine(line: string, lineBytes?: number): PhysicalLine | ContainerLineReject {
  const c = line.charCodeAt(0);
  if (c === 123 /* { */) return parseDockerJsonLine(line);
  return parseCriLine(line, lineBytes);
}

/** Control characters other than tab/CR, or U+FFFD from invalid UTF-8, mark a line as binary junk. */
export function looksBinary(line: string): boolean {
  const n = Math.min(line.length, 4096);
  for (let i = 0; i < n; i++) {
    const c = line.charCodeAt(i);
    if ((c < 32 && c !== 9 && c !== 13) || c === 0xfffd || c === 127) return true;
  }
  return false;
}

function reject(line: string, detail: string): ContainerLineReject {
  return { reject: looksBinary(line) ? 'binary' : 'malformed', detail };
}

/** Runtime timestamp -> ms since the epoch (NaN when unparseable). */
export function parseTime(time: string): number {
  return Date.parse(time);
}
