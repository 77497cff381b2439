import { createServer } from 'node:net';

type Falsy = undefined | null | false | 0 | '';

/**
 * The one bounded wait: polls until fn returns a truthy value (a throw counts as "not yet"); after
 * timeoutMs throws naming `what`, the last error and, if given, what context() shows then.
 */
export async function waitFor<T>(
  what: string,
  fn: () => T | Falsy | Promise<T | Falsy>,
  timeoutMs = 15_000,
  intervalMs = 100,
  context?: () => unknown,
): Promise<T> {
  const until = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v as T;
    } catch (err) {
      last = err;
    }
    if (Date.now() > until) {
      const shown = context ? `\n${JSON.stringify(context(), null, 1)?.slice(0, 4000)}` : '';
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${(last as Error).message}` : ''}${shown}`,
      );
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export const isRoot = () => process.getuid?.() === 0;
