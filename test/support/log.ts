// The one test logger: quiet unless NODEWARDEN_LOG_LEVEL says otherwise, on stderr (the runner reads
// uvu's summary from stdout); and a logger whose lines a test can read back.
import pino, { type Logger } from 'pino';

export const testLog: Logger = pino({ level: process.env.NODEWARDEN_LOG_LEVEL ?? 'silent' }, pino.destination(2));

/** A logger at `level` keeping every line it writes (JSON text) in `lines`. */
export function recordingLog(level = 'info'): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  return {
    log: pino(
      { level },
      {
        write: (s: string) => {
          lines.push(s);
        },
      },
    ),
    lines,
  };
}
