import type { Logger } from '../common/log.js';

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
