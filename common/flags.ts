import { parseArgs } from 'node:util';

/** Invalid configuration: the CLI prints the message as one line and exits 2. */
export class ConfigError extends Error {}

/**
 * One flag: its kind says how the text is read (readFlags), `default` is the only place its default
 * lives. Lists take commas in both forms (`--x a,b`, `--x a --x b`, NODEWARDEN_X=a,b) unless
 * `noSplit` (values that may hold commas). Bounds: `min`/`max` in the value's unit (ms, bytes, ...);
 * `zero` allows 0 below `min` ("off").
 */
export interface FlagSpec {
  type: 'string' | 'boolean' | 'list' | 'duration' | 'int' | 'number' | 'bytes' | 'choice';
  help: string;
  short?: string;
  default?: string | boolean | string[];
  /** Shown in help instead of "VALUE". */
  arg?: string;
  /** Not read from NODEWARDEN_<FLAG> (flags that make no sense in a DaemonSet env). */
  noEnv?: boolean;
  /** choice: the allowed values. */
  choices?: readonly string[];
  min?: number;
  max?: number;
  /** number: the lower bound is exclusive (e.g. "> 0"). */
  minExclusive?: boolean;
  /** duration/int/number: 0 is allowed although below min (0 = off). */
  zero?: boolean;
  /** list: do not split values on commas. */
  noSplit?: boolean;
}

export type FlagSpecs = Record<string, FlagSpec>;

export interface CommandSpec {
  name: string;
  summary: string;
  usage?: string;
  details?: string;
  flags: FlagSpecs;
  /** Help groups (title -> flag names), in order; flags in none are listed first. */
  groups?: { title: string; flags: string[] }[];
  /** An `Examples:` block at the end of --help. */
  examples?: string[];
}

export type FlagValues = Record<string, string | boolean | string[] | undefined>;

/** A help group listing every flag of `flags`, in their order. */
export const flagGroup = (title: string, flags: FlagSpecs): { title: string; flags: string[] } => ({
  title,
  flags: Object.keys(flags),
});

export function envName(flag: string): string {
  return `NODEWARDEN_${flag.toUpperCase().replace(/-/g, '_')}`;
}

/** Parses argv; a flag not given on the command line falls back to NODEWARDEN_<FLAG>, then its default. */
export function parseCommand(
  spec: CommandSpec,
  argv: string[],
  env: NodeJS.ProcessEnv = process.env,
): { values: FlagValues; positionals: string[]; help: boolean } {
  const options: Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }> = {
    help: { type: 'boolean', short: 'h' },
  };
  for (const [name, f] of Object.entries(spec.flags)) {
    options[name] = {
      type: f.type === 'boolean' ? 'boolean' : 'string',
      ...(f.short ? { short: f.short } : {}),
      ...(f.type === 'list' ? { multiple: true } : {}),
    };
  }
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (err) {
    throw new ConfigError(
      `${(err as Error).message.split('\n')[0].split('. To specify')[0]} (see nodewarden ${spec.name} --help)`,
    );
  }
  const values: FlagValues = {};
  for (const [name, f] of Object.entries(spec.flags)) {
    let v = parsed.values[name] as string | boolean | string[] | undefined;
    const fromEnv = f.noEnv ? undefined : env[envName(name)];
    if (v === undefined && fromEnv !== undefined && fromEnv !== '') {
      if (f.type === 'boolean') {
        if (!/^(true|false|1|0)$/i.test(fromEnv))
          throw new ConfigError(`${envName(name)}=${fromEnv}: expected true or false`);
        v = /^(true|1)$/i.test(fromEnv);
      } else v = f.type === 'list' ? [fromEnv] : fromEnv;
    }
    if (f.type === 'list' && Array.isArray(v)) v = splitList(v, f);
    values[name] = v ?? f.default;
  }
  return { values, positionals: parsed.positionals, help: parsed.values.help === true };
}

function splitList(v: string[], f: FlagSpec): string[] {
  return (f.noSplit ? v : v.flatMap((s) => s.split(','))).map((s) => s.trim()).filter(Boolean);
}

export function renderHelp(spec: CommandSpec): string {
  const lines = [`Usage: ${spec.usage ?? `nodewarden ${spec.name} [flags]`}`, '', spec.summary, ''];
  if (spec.details) lines.push(spec.details.trim(), '');
  const row = (name: string, f: FlagSpec) => {
    const arg = f.type === 'boolean' ? '' : ` ${f.arg ?? (f.choices ? f.choices.join('|') : 'VALUE')}`;
    const left = `${f.short ? `-${f.short}, ` : '    '}--${name}${arg}`;
    const def =
      f.default !== undefined && f.default !== false && !(Array.isArray(f.default) && f.default.length === 0)
        ? ` (default ${Array.isArray(f.default) ? f.default.join(', ') : String(f.default)})`
        : '';
    const rep = f.type === 'list' ? ' Repeatable.' : '';
    const env = f.noEnv ? '' : ` [env ${envName(name)}]`;
    return [left, `${f.help}${rep}${def}${env}`] as const;
  };
  const grouped = new Set((spec.groups ?? []).flatMap((g) => g.flags));
  const sections: { title: string; rows: (readonly [string, string])[] }[] = [
    {
      title: 'Flags:',
      rows: Object.entries(spec.flags)
        .filter(([n]) => !grouped.has(n))
        .map(([n, f]) => row(n, f)),
    },
    ...(spec.groups ?? []).map((g) => ({ title: `${g.title}:`, rows: g.flags.map((n) => row(n, spec.flags[n])) })),
  ];
  sections[0].rows.push(['-h, --help', 'Show this help.']);
  const w = Math.max(...sections.flatMap((s) => s.rows.map((r) => r[0].length))) + 2;
  for (const [i, s] of sections.entries()) {
    if (i > 0) lines.push('');
    lines.push(s.title);
    for (const [l, r] of s.rows) lines.push(`  ${l.padEnd(w)}${r}`);
  }
  if (spec.examples?.length) lines.push('', 'Examples:', ...spec.examples.map((e) => `  ${e}`));
  return lines.join('\n') + '\n';
}

/** The Typescript type readFlags gives a flag of each kind. */
type FlagType<F extends FlagSpec> = F['type'] extends 'duration' | 'int' | 'number' | 'bytes'
  ? number
  : F['type'] extends 'boolean'
    ? boolean
    : F['type'] extends 'list'
      ? string[]
      : F['default'] extends string
        ? string
        : string | undefined;

export type FlagConfig<S extends FlagSpecs> = { [K in keyof S]: FlagType<S[K]> };

/**
 * Reads every flag of `specs` from `values` (parseCommand's, or a test's partial object: a missing
 * value takes the spec's default). ConfigError (exit 2) names the flag and what it must be.
 */
export function readFlags<S extends FlagSpecs>(specs: S, values: Record<string, unknown>): FlagConfig<S> {
  const out: Record<string, unknown> = {};
  for (const [name, f] of Object.entries(specs)) out[name] = readFlag(name, f, values[name] ?? f.default);
  return out as FlagConfig<S>;
}

function readFlag(name: string, f: FlagSpec, raw: unknown): unknown {
  const flag = `--${name}`;
  if (f.type === 'boolean') return raw === true || raw === 'true';
  if (f.type === 'list')
    return splitList(Array.isArray(raw) ? raw.map(String) : typeof raw === 'string' ? [raw] : [], f);
  if (raw === undefined || raw === null) return undefined;
  if (typeof raw !== 'string') throw new ConfigError(`${flag}: expected a value`);
  const text = raw.trim();
  switch (f.type) {
    case 'string':
      return raw;
    case 'choice': {
      const c = f.choices ?? [];
      if (!c.includes(text))
        throw new ConfigError(
          `${flag} must be ${c.length > 1 ? `${c.slice(0, -1).join(', ')} or ${c[c.length - 1]}` : c[0]}, not "${raw}"`,
        );
      return text;
    }
    case 'duration': {
      if (f.zero && /^0+$/.test(text)) return 0;
      const ms = parseDuration(text, flag);
      if (f.zero && ms === 0) return 0;
      if (f.min !== undefined && ms < f.min)
        throw new ConfigError(`${flag} must be at least ${f.min} ms${f.zero ? ' (or 0)' : ''}, not "${raw}"`);
      if (f.max !== undefined && ms > f.max) throw new ConfigError(`${flag} must be at most ${f.max} ms, not "${raw}"`);
      return ms;
    }
    case 'bytes': {
      const n = parseBytes(text, flag);
      if (f.min !== undefined && n < f.min)
        throw new ConfigError(`${flag} must be at least ${f.min} bytes, not "${raw}"`);
      return n;
    }
    case 'int':
    case 'number': {
      const n = Number(text);
      const integer = f.type === 'int';
      const min = f.min ?? (integer ? 1 : 0);
      const lowOk = f.minExclusive || (!integer && f.min === undefined) ? n > min : n >= min;
      const ok =
        /^\d+(\.\d+)?$/.test(text) &&
        (!integer || Number.isInteger(n)) &&
        ((f.zero && n === 0) || lowOk) &&
        n <= (f.max ?? Infinity);
      if (!ok) throw new ConfigError(`${flag} must be ${describeNumber(f, integer)}, not "${raw}"`);
      return n;
    }
  }
}

function describeNumber(f: FlagSpec, integer: boolean): string {
  const kind = integer ? 'integer' : 'number';
  const positive = (integer && (f.min ?? 1) === 1) || (!integer && (f.min ?? 0) === 0);
  if (positive && f.max === undefined) return `a positive ${kind}${f.zero ? ' (or 0)' : ''}`;
  const low = f.min ?? (integer ? 1 : 0);
  const open = !integer && (f.minExclusive || f.min === undefined);
  return `${integer ? 'an' : 'a'} ${kind} in ${open ? '(' : '['}${low}, ${f.max ?? 'inf'}]`;
}

/** "15m", "2h", "30s", "500ms", "1d" -> milliseconds. */
export function parseDuration(text: string, what: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(text.trim());
  if (!m) throw new ConfigError(`${what}: "${text}" is not a duration (examples: 30s, 15m, 2h)`);
  const mult = { ms: 1, s: 1e3, m: 60e3, h: 3600e3, d: 86400e3 }[m[2] as 'ms' | 's' | 'm' | 'h' | 'd'];
  return Number(m[1]) * mult;
}

/** The inverse of parseDuration for whole units: 7200000 -> "2h", 90000 -> "90s", 1500 -> "1500ms". */
export function formatDuration(ms: number): string {
  if (ms % 3_600_000 === 0 && ms >= 3_600_000) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0 && ms >= 60_000) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

/** "64Mi", "1Gi", "500M", "1048576" -> bytes. */
export function parseBytes(text: string, what: string): number {
  const m = /^(\d+)(Ki|Mi|Gi|K|M|G)?$/.exec(text.trim());
  if (!m) throw new ConfigError(`${what}: "${text}" is not a size (examples: 64Mi, 1Gi, 500000)`);
  const mult = { Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, K: 1e3, M: 1e6, G: 1e9 }[m[2] as 'Ki'] ?? 1;
  return Number(m[1]) * mult;
}

/** "127.0.0.1:8080" / ":8080" / "[::1]:8080" -> host and port. */
export function parseListen(text: string, what: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(text.trim());
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new ConfigError(`${what}: "${text}" is not HOST:PORT`);
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port };
}
