// --since DURATION / --since-time RFC3339 (kubectl logs' pair): one cutoff for the API and for -w.
import { ConfigError, parseDuration, type FlagSpec, type FlagValues } from '../common/flags.js';

export const timeFlags: Record<string, FlagSpec> = {
  since: {
    type: 'string',
    arg: 'DURATION',
    help: 'Only items last seen within this duration (e.g. 15m, 2h).',
    noEnv: true,
  },
  'since-time': {
    type: 'string',
    arg: 'TIME',
    help: 'Only items last seen at or after this RFC 3339 time (e.g. 2026-12-03T14:00:00Z).',
    noEnv: true,
  },
};

const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

/** An RFC 3339 date-time -> epoch ms; anything else (a date alone, no zone, Feb 30) is a usage error. */
export function parseRfc3339(text: string, what: string): number {
  const ms = RFC3339.test(text) ? Date.parse(text.toUpperCase()) : NaN;
  // Date.parse rolls 2026-02-30 over to March: the date part must survive the round trip.
  const day = text.slice(0, 10);
  const offsetMin = /[+-]\d{2}:\d{2}$/.test(text)
    ? (text.at(-6) === '-' ? -1 : 1) * (Number(text.slice(-5, -3)) * 60 + Number(text.slice(-2)))
    : 0;
  if (Number.isNaN(ms) || new Date(ms + offsetMin * 60_000).toISOString().slice(0, 10) !== day) {
    throw new ConfigError(`${what}: "${text}" is not an RFC 3339 time (e.g. 2026-12-03T14:00:00Z)`);
  }
  return ms;
}

export interface TimeFilter {
  /** For the list API's `since` query parameter (a duration). */
  since?: string;
  /** Items last seen before this are left out (-w filters with it). */
  cutoffMs?: number;
}

export function timeFilterOf(v: FlagValues, nowMs: number): TimeFilter {
  const since = v.since as string | undefined,
    at = v['since-time'] as string | undefined;
  if (since !== undefined && at !== undefined) throw new ConfigError('--since and --since-time exclude each other');
  if (since !== undefined) return { since, cutoffMs: nowMs - parseDuration(since, '--since') };
  if (at !== undefined) {
    const ms = parseRfc3339(at, '--since-time');
    return { since: `${Math.max(0, Math.ceil(nowMs - ms))}ms`, cutoffMs: ms };
  }
  return {};
}

/** Whether an item's lastSeen passes the cutoff. */
export const seenSince = (lastSeen: string, f: TimeFilter): boolean =>
  f.cutoffMs === undefined || Date.parse(lastSeen) >= f.cutoffMs;
