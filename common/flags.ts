import { parseArgs } from 'node:util';

/** Invalid configuration: the CLI prints the message as one line and exits 2. */
export class ConfigError extends Error {}

export interface FlagSpec {
  type: 'string' | 'boolean' | 'list';
  help: string;
  short?: string;
  default?: string | boolean | string[];
  /** Shown in help instead of "VALUE". */
  arg?: string;
  /** Not read from NODEWARDEN_<FLAG> (flags that make no sense in a DaemonSet env). */
  noEnv?: boolean;
}

export interface CommandSpec {
  name: string;
  summary: string;
  usage?: string;
  details?: string;
  flags: Record<string, FlagSpec>;
}

export type FlagValues = Record<string, string | boolean | string[] | undefined>;

export function envName(flag: string): string {
  return `NODEWARDEN_${flag.toUpperCase().replace(/-/g, '_')}`;
}

/** Parses argv; a flag not given on the command line falls back to NODEWARDEN_<FLAG>, then its default. */
export function parseCommand(spec: CommandSpec, argv: string[], env: NodeJS.ProcessEnv = process.env): { values: FlagValues; positionals: string[]; help: boolean } {
  const options: Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }> = { help: { type: 'boolean', short: 'h' } };
  for (const [name, f] of Object.entries(spec.flags)) {
    options[name] = { type: f.type === 'boolean' ? 'boolean' : 'string', ...(f.short ? { short: f.short } : {}), ...(f.type === 'list' ? { multiple: true } : {}) };
  }
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (err) {
    throw new ConfigError(`${(err as Error).message.split('\n')[0].split('. To specify')[0]} (see nodewarden ${spec.name} --help)`);
  }
  const values: FlagValues = {};
  for (const [name, f] of Object.entries(spec.flags)) {
    let v = parsed.values[name] as string | boolean | string[] | undefined;
    const fromEnv = f.noEnv ? undefined : env[envName(name)];
    if (v === undefined && fromEnv !== undefined && fromEnv !== '') {
      if (f.type === 'boolean') {
        if (!/^(true|false|1|0)$/i.test(fromEnv)) throw new ConfigError(`${envName(name)}=${fromEnv}: expected true or false`);
        v = /^(true|1)$/i.test(fromEnv);
      } else v = f.type === 'list' ? fromEnv.split(',').map((s) => s.trim()).filter(Boolean) : fromEnv;
    }
    values[name] = v ?? f.default;
  }
  return { values, positionals: parsed.positionals, help: parsed.values.help === true };
}

export function renderHelp(spec: CommandSpec): string {
  const lines = [`Usage: ${spec.usage ?? `nodewarden ${spec.name} [flags]`}`, '', spec.summary, ''];
  if (spec.details) lines.push(spec.details.trim(), '');
  lines.push('Flags:');
  const rows = Object.entries(spec.flags).map(([name, f]) => {
    const arg = f.type === 'boolean' ? '' : ` ${f.arg ?? 'VALUE'}`;
    const left = `${f.short ? `-${f.short}, ` : '    '}--${name}${arg}`;
    const def = f.default !== undefined && f.default !== false && !(Array.isArray(f.default) && f.default.length === 0) ? ` (default ${Array.isArray(f.default) ? f.default.join(', ') : String(f.default)})` : '';
    const rep = f.type === 'list' ? ' Repeatable.' : '';
    const env = f.noEnv ? '' : ` [env ${envName(name)}]`;
    return [left, `${f.help}${rep}${def}${env}`] as const;
  });
  rows.push(['-h, --help', 'Show this help.']);
  const w = Math.max(...rows.map((r) => r[0].length)) + 2;
  for (const [l, r] of rows) lines.push(`  ${l.padEnd(w)}${r}`);
  return lines.join('\n') + '\n';
}

/** "15m", "2h", "30s", "500ms", "1d" -> milliseconds. */
export function parseDuration(text: string, what: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(text.trim());
  if (!m) throw new ConfigError(`${what}: "${text}" is not a duration (examples: 30s, 15m, 2h)`);
  const mult = { ms: 1, s: 1e3, m: 60e3, h: 3600e3, d: 86400e3 }[m[2] as 'ms' | 's' | 'm' | 'h' | 'd'];
  return Number(m[1]) * mult;
}

/** "127.0.0.1:8080" / ":8080" / "[::1]:8080" -> host and port. */
export function parseListen(text: string, what: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(text.trim());
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new ConfigError(`${what}: "${text}" is not HOST:PORT`);
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port };
}
