// Periodic jobs and callbacks that must never take the process down with them. The tool people open
// when the cluster is broken cannot be the thing that crashes: a job that throws is logged (once per
// job and message) and counted, and runs again at its next turn.
import { Counter, type Registry } from 'prom-client';
import type { Logger } from './log.js';
import { onceLogger } from './log.js';

export class JobGuard {
  private readonly failures: Counter<'job'>;
  private readonly warnOnce: ReturnType<typeof onceLogger>;

  /** metricPrefix: the role's prefix, e.g. "nodewarden_collector". */
  constructor(log: Logger, registry: Registry, metricPrefix: string) {
    this.failures = new Counter({
      name: `${metricPrefix}_job_failures_total`,
      help: 'periodic jobs and callbacks that threw (caught, logged once per job and message)',
      labelNames: ['job'],
      registers: [registry],
    });
    this.warnOnce = onceLogger(log);
  }

  /** The job, made safe: a throw or a rejected promise is counted and logged instead of escaping. */
  wrap<A extends unknown[]>(job: string, fn: (...args: A) => unknown): (...args: A) => void {
    this.failures.inc({ job }, 0); // the series exists before the first failure
    return (...args: A) => {
      try {
        const r = fn(...args);
        if (r instanceof Promise) r.catch((err: unknown) => this.failed(job, err));
      } catch (err) {
        this.failed(job, err);
      }
    };
  }

  failed(job: string, err: unknown): void {
    this.failures.inc({ job });
    const e = err instanceof Error ? err : new Error(String(err));
    this.warnOnce(`${job}:${e.message}`, `${job}: failed; it runs again at its next turn (repeats are only counted)`, {
      job,
      err: e.message,
      stack: e.stack?.split('\n').slice(0, 6).join('\n'),
    });
  }
}

/**
 * The last resort for a long-running role: an error nothing else caught is logged with its stack
 * before the process goes. An unhandled rejection is logged and survived (one lost promise must not
 * stop the node's watch); an uncaught exception leaves state unknown, so the process exits 70 and its
 * supervisor restarts it — never silently.
 */
export function installLastResort(log: Logger): void {
  let rejections = 0;
  process.on('unhandledRejection', (reason) => {
    rejections++;
    const e = reason instanceof Error ? reason : new Error(String(reason));
    if (rejections <= 20 || rejections % 1000 === 0)
      log.error(
        { err: e.message, stack: e.stack, unhandledRejections: rejections },
        'unhandled promise rejection (survived)',
      );
  });
  process.on('uncaughtException', (err) => {
    log.fatal(
      { err: err.message, stack: err.stack },
      'uncaught exception; exiting (code 70) so the supervisor restarts a clean process',
    );
    process.exit(70);
  });
}
