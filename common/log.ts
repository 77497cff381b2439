import { writeSync } from 'node:fs';
import pino, { type DestinationStream, type Logger } from 'pino';
import type { FlagSpecs } from './flags.js';

export type { Logger };

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogFormat = 'json' | 'text';

/** --log-level and --log-format, for the long-running roles (agent, collector, auth). */
export const loggingFlags = {
  'log-level': {
    type: 'choice',
    choices: LOG_LEVELS,
    arg: 'LEVEL',
    default: 'info',
    help: 'Least severe level logged: trace, debug, info, warn, error, fatal, or silent.',
  },
  'log-format': {
    type: 'choice',
    choices: ['json', 'text'],
    arg: 'FORMAT',
    default: 'json',
    help: 'json: one JSON object a line (for log collectors); text: one readable line per record.',
  },
} satisfies FlagSpecs;

const settings: { level?: string; format: LogFormat } = { format: 'json' };

/** Sets level and format for every logger created from now on (the process's role calls it once, first). */
export function configureLogging(o: { level?: string; format?: LogFormat }): void {
  if (o.level) settings.level = o.level;
  if (o.format) settings.format = o.format;
}

/** Logs on stdout, written synchronously (no worker threads: the agent must stay small). */
export function createLogger(
  component: string,
  level = settings.level ?? process.env.NODEWARDEN_LOG_LEVEL ?? 'info',
): Logger {
  const dest = settings.format === 'text' ? textDestination() : pino.destination({ fd: 1, sync: true });
  return pino({ level, base: { component }, timestamp: pino.stdTimeFunctions.isoTime }, dest);
}

const LEVEL_NAMES: Record<number, string> = {
  10: 'TRACE',
  20: 'DEBUG',
  30: 'INFO',
  40: 'WARN',
  50: 'ERROR',
  60: 'FATAL',
};

/** `2026-03-01T12:00:00.000Z WARN  collector: message key=value key="two words"` from one pino JSON line. */
export function textLine(json: string): string {
  let r: Record<string, unknown>;
  try {
    r = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return `${json}\n`;
  }
  const { time, level, component, msg, pid: _pid, hostname: _host, ...rest } = r;
  const fields = Object.entries(rest).map(([k, v]) => {
    if (typeof v !== 'string') return `${k}=${JSON.stringify(v)}`;
    return `${k}=${v !== '' && !/[\s"=]/.test(v) ? v : JSON.stringify(v)}`;
  });
  const text = String(msg ?? '');
  // Most messages already start with their component ("collector: ..."); say it once.
  const who = component && !text.startsWith(`${String(component)}:`) ? `${String(component)}: ` : '';
  const head = `${String(time ?? '')} ${(LEVEL_NAMES[Number(level)] ?? String(level)).padEnd(5)} ${who}${text}`;
  return `${[head, ...fields].join(' ')}\n`;
}

function textDestination(): DestinationStream {
  return { write: (s: string) => void writeSync(1, textLine(s.trimEnd())) };
}

/** Logs a message once per key; later calls only count. Used for repeated rejections. */
export function onceLogger(log: Logger) {
  const seen = new Set<string>();
  return (key: string, msg: string, fields: Record<string, unknown> = {}): void => {
    if (seen.has(key)) return;
    if (seen.size > 1000) seen.clear();
    seen.add(key);
    log.warn({ ...fields, key }, msg);
  };
}
