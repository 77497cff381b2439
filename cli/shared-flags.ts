import { ConfigError, parseDuration } from '../common/flags.js';
import { formatOf } from './output.js';
import type { FlagSpec, FlagValues } from '../common/flags.js';

export const collectorClientFlags: Record<string, FlagSpec> = {
  collector: {
    type: 'string',
    arg: 'URL',
    default: 'http://127.0.0.1:8080',
    help: 'Collector API base URL (http or https).',
  },
  'api-token': { type: 'string', arg: 'TOKEN', help: 'Bearer token for the collector API.' },
  timeout: {
    type: 'string',
    arg: 'DURATION',
    default: '10s',
    help: 'Give up on a request after this long (0: never); with -w, on connecting.',
  },
};

export interface Client {
  base: string;
  headers: Record<string, string>;
  timeoutMs: number;
}

/** --collector, --api-token and --timeout, checked: a bad URL or duration is a usage error (exit 2). */
export function clientOf(v: FlagValues): Client {
  // Values not given (a caller that did not parse flags) take the specs' defaults, stated once above.
  const text = String(v.collector ?? collectorClientFlags.collector.default);
  let url: URL | undefined;
  try {
    url = new URL(text);
  } catch {
    url = undefined;
  }
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:') || url.search || url.hash || url.username) {
    throw new ConfigError(`--collector: "${text}" is not an http(s) base URL (e.g. http://127.0.0.1:8080)`);
  }
  const t = String(v.timeout ?? collectorClientFlags.timeout.default);
  const timeoutMs = t === '0' ? 0 : parseDuration(t, '--timeout');
  return {
    base: text.replace(/\/+$/, ''),
    headers: v['api-token'] ? { authorization: `Bearer ${v['api-token']}` } : {},
    timeoutMs,
  };
}

/** Why a request failed, in one line (the cause of fetch's "fetch failed"). */
export const reachError = (base: string, err: unknown): Error => {
  const e = err as Error & { cause?: Error };
  return new Error(
    e.name === 'TimeoutError'
      ? `the collector at ${base} did not answer in time (--timeout)`
      : `cannot reach the collector at ${base}: ${e.cause?.message ?? e.message}`,
  );
};

/** GET a collector API path; errors become one clear line. */
export async function getJson(
  v: FlagValues,
  path: string,
  params: Record<string, string | undefined>,
): Promise<unknown> {
  const c = clientOf(v);
  const qs = new URLSearchParams(
    Object.entries(params).filter((e): e is [string, string] => e[1] !== undefined && e[1] !== ''),
  );
  const url = `${c.base}${path}${qs.size ? `?${qs}` : ''}`;
  let res: Response;
  let body: { error?: string };
  try {
    res = await fetch(url, { headers: c.headers, signal: c.timeoutMs ? AbortSignal.timeout(c.timeoutMs) : undefined });
    body = (await res.json().catch((err: Error) => {
      if (err.name === 'TimeoutError') throw err;
      return {};
    })) as { error?: string };
  } catch (err) {
    throw reachError(c.base, err);
  }
  if (!res.ok)
    throw new Error(
      `collector answered ${res.status}: ${body.error ?? res.statusText}${res.headers.get('retry-after') ? ` (retry after ${res.headers.get('retry-after')} s)` : ''}`,
    );
  // Every command warns the same way; stdout stays clean for -o json.
  const stale = res.headers.get('x-nodewarden-stale');
  if (stale) process.stderr.write(staleWarning(stale));
  return body;
}

/** Commands that take no positional arguments say so instead of ignoring them (exit 2). */
export function noArgs(name: string, positionals: string[]): void {
  if (positionals.length)
    throw new ConfigError(
      `unexpected argument "${positionals[0]}" (flags start with -; see nodewarden ${name} --help)`,
    );
}

export const staleWarning = (reason: string) =>
  `warning: collector is not caught up with the stream (${reason}); answers may be incomplete\n`;

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
  return r.stale
    ? `${none.replace(/\.$/, '')} so far — the collector is not caught up with the stream, so there may be some.\n`
    : `${none}\n`;
}

/** --output of the commands without extra columns (explain, runtime, version). */
export function checkOutput(v: FlagValues): 'table' | 'json' | 'yaml' {
  return formatOf(v, ['table', 'json', 'yaml']) as 'table' | 'json' | 'yaml';
}
