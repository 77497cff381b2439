import { ConfigError } from '../common/flags.js';
import type { FlagSpec, FlagValues } from '../common/flags.js';

export const collectorClientFlags: Record<string, FlagSpec> = {
  collector: { type: 'string', arg: 'URL', default: 'http://127.0.0.1:8080', help: 'Collector API base URL.' },
  'api-token': { type: 'string', arg: 'TOKEN', help: 'Bearer token for the collector API.' },
  output: { type: 'string', short: 'o', arg: 'FORMAT', default: 'table', help: 'table or json.' },
};

/** GET a collector API path; errors become one clear line. */
export async function getJson(v: FlagValues, path: string, params: Record<string, string | undefined>): Promise<unknown> {
  const base = String(v.collector).replace(/\/+$/, '');
  const qs = new URLSearchParams(Object.entries(params).filter((e): e is [string, string] => e[1] !== undefined && e[1] !== ''));
  const url = `${base}${path}${qs.size ? `?${qs}` : ''}`;
  let res: Response;
  try {
    res = await fetch(url, { headers: v['api-token'] ? { authorization: `Bearer ${v['api-token']}` } : {}, signal: AbortSignal.timeout(10_000) });
  } catch (err) {
    throw new Error(`cannot reach the collector at ${base}: ${(err as Error & { cause?: Error }).cause?.message ?? (err as Error).message}`);
  }
  const body = (await res.json().catch(() => ({}))) as { error?: string };
  if (!res.ok) throw new Error(`collector answered ${res.status}: ${body.error ?? res.statusText}${res.headers.get('retry-after') ? ` (retry after ${res.headers.get('retry-after')} s)` : ''}`);
  // Every command warns the same way; stdout stays clean for -o json.
  const stale = res.headers.get('x-nodewarden-stale');
  if (stale) process.stderr.write(staleWarning(stale));
  return body;
}

export const staleWarning = (reason: string) => `warning: collector is not caught up with the stream (${reason}); answers may be incomplete\n`;

/** What every list answer of the collector carries (GET /api/v1/drops, /findings, /nodes). */
export interface ListAnswer<T> {
  items: T[];
  total: number;
  truncated: boolean;
  stale?: boolean;
  staleReason?: string;
}

/** The line under a list: how much was left out, or that an empty list may not be the whole truth. */
export function listFooter(r: ListAnswer<unknown>, noun: string): string {
  if (r.truncated) return `(${r.items.length} of ${r.total} ${noun} shown; use --limit or filters)\n`;
  return '';
}

/** An empty list from a collector that is not caught up says so instead of "none". */
export function emptyList(r: ListAnswer<unknown>, none: string): string {
  return r.stale ? `${none.replace(/\.$/, '')} so far — the collector is not caught up with the stream, so there may be some.\n` : `${none}\n`;
}

/** Plain aligned columns, like kubectl's default output. */
export function table(header: string[], rows: string[][]): string {
  const w = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const fmt = (r: string[]) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(w[i]))).join('   ').trimEnd();
  return [fmt(header), ...rows.map(fmt)].join('\n') + '\n';
}

export function checkOutput(v: FlagValues): 'table' | 'json';
export function checkOutput(v: FlagValues, wide: true): 'table' | 'json' | 'wide';
/** --output: table or json, and wide where a command has extra columns. */
export function checkOutput(v: FlagValues, wide = false): 'table' | 'json' | 'wide' {
  const o = String(v.output);
  if (o !== 'table' && o !== 'json' && !(wide && o === 'wide')) throw new ConfigError(`--output must be table${wide ? ', wide' : ''} or json, not "${o}"`);
  return o;
}
