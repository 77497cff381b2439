// How the read commands print (docs/architecture.md#cli): kubectl's -o formats, --no-headers and ages.
import { stringify } from 'yaml';
import { ConfigError, type FlagSpec, type FlagValues } from '../common/flags.js';

export type Format = 'table' | 'wide' | 'json' | 'yaml';

export const outputFlags: Record<string, FlagSpec> = {
  output: {
    type: 'string',
    short: 'o',
    arg: 'table|wide|json|yaml',
    default: 'table',
    help: 'table, wide (more columns), json or yaml.',
  },
  'no-headers': { type: 'boolean', help: 'Print table rows without the header line (table and wide).', noEnv: true },
};

/** --output, checked against what the command can print. */
export function formatOf(v: FlagValues, allowed: readonly Format[] = ['table', 'wide', 'json', 'yaml']): Format {
  const o = String(v.output);
  if (!(allowed as readonly string[]).includes(o))
    throw new ConfigError(`--output must be ${allowed.slice(0, -1).join(', ')} or ${allowed.at(-1)}, not "${o}"`);
  return o as Format;
}

/** A whole answer as json or yaml (what the API sent, unchanged). */
export function serialize(body: unknown, format: 'json' | 'yaml'): string {
  return format === 'json' ? JSON.stringify(body, null, 2) + '\n' : stringify(body);
}

/** One watched item: a JSON line, or a YAML document ("---" first, as kubectl -w -o yaml prints). */
export function serializeItem(item: unknown, format: 'json' | 'yaml'): string {
  return format === 'json' ? JSON.stringify(item) + '\n' : `---\n${stringify(item)}`;
}

/** Column widths of a table: the widest cell (or header) per column. */
export function widths(header: string[], rows: string[][]): number[] {
  return header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
}

/** One row padded to the given widths (the last column unpadded), like kubectl's tabwriter. */
export function row(cells: string[], w: number[]): string {
  return (
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(w[i] ?? 0)))
      .join('   ')
      .trimEnd() + '\n'
  );
}

/** Plain aligned columns, like kubectl's default output; --no-headers leaves the header line out. */
export function table(header: string[], rows: string[][], noHeaders = false): string {
  const w = widths(header, rows);
  return (noHeaders ? '' : row(header, w)) + rows.map((r) => row(r, w)).join('');
}

/**
 * kubectl's age ("45s", "5m30s", "2d3h", "3y10d"): apimachinery's duration.HumanDuration of now - then.
 * Up to 2 s in the future counts as now (clock skew); more is "<invalid>".
 */
export function humanAge(ms: number): string {
  const seconds = Math.trunc(ms / 1000);
  if (seconds < -1) return '<invalid>';
  if (seconds < 0) return '0s';
  if (seconds < 120) return `${seconds}s`;
  const minutes = Math.trunc(seconds / 60);
  if (minutes < 10) return seconds % 60 ? `${minutes}m${seconds % 60}s` : `${minutes}m`;
  if (minutes < 180) return `${minutes}m`;
  const hours = Math.trunc(minutes / 60);
  if (hours < 8) return minutes % 60 ? `${hours}h${minutes % 60}m` : `${hours}h`;
  if (hours < 48) return `${hours}h`;
  const days = Math.trunc(hours / 24);
  if (hours < 24 * 8) return hours % 24 ? `${days}d${hours % 24}h` : `${days}d`;
  if (hours < 24 * 365 * 2) return `${days}d`;
  const years = Math.trunc(days / 365);
  if (hours < 24 * 365 * 8) return days % 365 ? `${years}y${days % 365}d` : `${years}y`;
  return `${years}y`;
}

/** An ISO time as an age at nowMs; "<unknown>" (kubectl's word) when it is not a time. */
export function ageOf(iso: string | undefined, nowMs: number): string {
  const t = iso ? Date.parse(iso) : NaN;
  return Number.isNaN(t) ? '<unknown>' : humanAge(nowMs - t);
}
