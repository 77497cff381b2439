import pino, { type Logger } from 'pino';

export type { Logger };

/** JSON logs on stdout, written synchronously (no worker threads: the agent must stay small). */
export function createLogger(component: string, level = process.env.NODEWARDEN_LOG_LEVEL ?? 'info'): Logger {
  return pino({ level, base: { component }, timestamp: pino.stdTimeFunctions.isoTime }, pino.destination({ fd: 1, sync: true }));
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
