import { ConfigError } from '../common/flags.js';
import type { Logger } from '../common/log.js';

/** "64Mi", "1Gi", "500M", "1048576" -> bytes. */
export function parseBytes(text: string, what: string): number {
  const m = /^(\d+)(Ki|Mi|Gi|K|M|G)?$/.exec(text.trim());
  if (!m) throw new ConfigError(`${what}: "${text}" is not a size (examples: 64Mi, 1Gi, 500000)`);
  const mult = { Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, K: 1e3, M: 1e6, G: 1e9 }[m[2] as 'Ki'] ?? 1;
  return Number(m[1]) * mult;
}

/** Resolves on the first SIGTERM/SIGINT; a second one exits at once. */
export function untilSignal(log: Logger): Promise<void> {
  return new Promise((resolve) => {
    const on = (sig: string) => {
      log.info({ signal: sig }, 'shutting down');
      process.once('SIGTERM', () => process.exit(1));
      process.once('SIGINT', () => process.exit(1));
      resolve();
    };
    process.once('SIGTERM', () => on('SIGTERM'));
    process.once('SIGINT', () => on('SIGINT'));
  });
}
