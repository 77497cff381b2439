// Thin shell around `journalctl --follow --output=json`: restarts with backoff, resumes after a
// cursor, and hands records to consumers. Parsing is synchronous inside the 'data' handler, so a
// slow consumer stops reading the pipe (journalctl blocks) instead of growing memory.
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import type { Logger } from '../../common/log.js';
import { LineSplitter } from '../../common/lines.js';
import { parseJournalJson, cursorOf } from '../parse/log-line.js';
import type { JournalConsumer } from './journal-consumer.js';
import { backoff } from '../../common/backoff.js';

/** journald caps a record well below this; a longer line is junk and is skipped up to its newline. */
export const MAX_JSON_LINE = 1024 * 1024;

export interface JournalOptions {
  journalctl: string;
  /** `-D DIR`: read a journal directory instead of the system journal. */
  journalDir?: string;
  /** Match arguments, e.g. ['_TRANSPORT=kernel']; the consumers' own matches are OR-ed in. */
  match: readonly string[];
  /** Resume after this cursor; without it, start at the current end of the journal. */
  afterCursor?: string;
  consumers: readonly JournalConsumer[];
  log: Logger;
  onCounter?: (name: JournalCounter, n?: number) => void;
  /** Called once the follower is positioned and reading (tests wait for it). */
  onReady?: () => void;
}

export const JOURNAL_COUNTERS = [
  'lines',
  'parsed',
  'rejected_too_long',
  'rejected_bad_json',
  'rejected_bad_time',
  'restarts',
] as const;
export type JournalCounter = (typeof JOURNAL_COUNTERS)[number];

const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 30_000;

export class JournalSource {
  private child?: ChildProcess;
  private stopped = false;
  private lastLine = '';
  /** journalctl restarts since it last printed a line. */
  private failures = 0;
  private timer?: NodeJS.Timeout;
  private cursor?: string;
  private readonly literals: string[];
  /** The consumers' own matches (FIELD=value), split, in the order they are tested. */
  private readonly extra: { match: string; field: string; value: string }[];
  /** The journal fields those matches test (journalctl prints them besides MESSAGE). */
  private readonly fields: string[];

  constructor(private readonly o: JournalOptions) {
    this.cursor = o.afterCursor;
    this.literals = [...new Set(o.consumers.flatMap((c) => c.literals))];
    this.extra = [...new Set(o.consumers.flatMap((c) => (c.match ? [c.match] : [])))].map((match) => {
      const eq = match.indexOf('=');
      return { match, field: match.slice(0, eq), value: match.slice(eq + 1) };
    });
    this.fields = [...new Set(this.extra.map((e) => e.field))];
  }

  /** Cursor of the last record read (not necessarily handled downstream yet). */
  currentCursor(): string | undefined {
    const c = this.lastLine ? cursorOf(this.lastLine) : undefined;
    return c ?? this.cursor;
  }

  start(): void {
    void this.launch();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        child.kill('SIGKILL');
      }, 2000);
      child.once('close', () => {
        clearTimeout(t);
        resolve();
      });
      child.kill('SIGTERM');
    });
  }

  private baseArgs(): string[] {
    // Only MESSAGE and the fields that route records to consumers (journalctl always adds the cursor
    // and the timestamps): less for it to format, less for us to parse.
    const a = ['--no-pager', '--output=json', `--output-fields=${['MESSAGE', ...this.fields].join(',')}`, '--all'];
    if (this.o.journalDir) a.push(`--directory=${this.o.journalDir}`);
    // With no --journal-match everything is read already.
    const or = this.o.match.length ? this.extra.flatMap((e) => ['+', e.match]) : [];
    return [...a, ...this.o.match, ...or];
  }

  /** First start: the cursor of the newest matching record, so history is not replayed. */
  private tailCursor(): Promise<string | undefined> {
    return new Promise((resolve, reject) => {
      execFile(
        this.o.journalctl,
        [...this.baseArgs(), '--lines=1'],
        { timeout: 15_000, maxBuffer: 4 * MAX_JSON_LINE },
        (err, stdout, stderr) => {
          if (err)
            return reject(
              new Error(
                `${
                  (err as NodeJS.ErrnoException).code === 'ENOENT'
                    ? `${this.o.journalctl} not found`
                    : String(stderr || err.message)
                        .trim()
                        .split('\n')[0]
                }`,
              ),
            );
          const line = stdout.trim().split('\n').pop() ?? '';
          resolve(line ? cursorOf(line) : undefined);
        },
      );
    });
  }

  /** Whether journalctl reads the journal with our arguments (exit 0 of a run that prints nothing). */
  private opens(): Promise<boolean> {
    return new Promise((resolve) => {
      execFile(this.o.journalctl, [...this.baseArgs(), '--lines=0'], { timeout: 15_000 }, (err) => resolve(!err));
    });
  }

  private async launch(): Promise<void> {
    if (this.stopped) return;
    if (this.cursor === undefined) {
      try {
        this.cursor = await this.tailCursor();
      } catch (err) {
        this.retry(`journal: cannot read the journal: ${(err as Error).message}`);
        return;
      }
      if (this.stopped) return;
    }
    // No cursor means an empty journal: everything that arrives is new. --follow implies --lines=10,
    // which would cut a backlog after the cursor to its last ten records: always ask for all.
    const position = this.cursor ? [`--after-cursor=${this.cursor}`, '--lines=all'] : ['--lines=all'];
    const args = [...this.baseArgs(), '--follow', ...position];
    const child = spawn(this.o.journalctl, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    let stderr = '';
    let sawLine = false;
    const lines = new LineSplitter(
      MAX_JSON_LINE,
      (line) => {
        if (line.length > 0) this.handle(line);
      },
      () => this.o.onCounter?.('rejected_too_long'),
    );
    let announced = false;
    const ready = () => {
      if (announced || this.child !== child || child.exitCode !== null) return;
      announced = true;
      this.o.onReady?.();
    };
    child.stdout!.on('data', (chunk: Buffer) => {
      if (!sawLine) {
        sawLine = true;
        this.failures = 0;
        ready();
      }
      lines.write(chunk);
    });
    child.stderr!.on('data', (c: Buffer) => {
      if (stderr.length < 4096) stderr += c.toString();
    });
    child.on('error', (err) => {
      this.retry(
        `journal: cannot start ${this.o.journalctl}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'command not found' : err.message}`,
      );
    });
    child.on('spawn', () => {
      // journalctl -f prints nothing until a record arrives, and reads from its position whenever it
      // gets there: it is following once it runs and the journal opens with these arguments, which a
      // one-shot `--lines=0` with the same ones proves (or its first line, whichever comes first).
      void this.opens().then((ok) => {
        if (ok) ready();
      });
    });
    child.on('close', (code, signal) => {
      if (this.child !== child || this.stopped) return;
      this.child = undefined;
      const cur = this.currentCursor();
      if (cur) this.cursor = cur;
      if (/cursor/i.test(stderr) && !sawLine) {
        this.o.log.warn(
          { cursor: this.cursor, stderr: stderr.trim() },
          'journal: saved cursor rejected by journalctl; starting at the end of the journal',
        );
        this.cursor = undefined;
        this.lastLine = '';
      }
      this.retry(
        `journal: journalctl exited (code ${code ?? '-'}, signal ${signal ?? '-'})${stderr.trim() ? `: ${stderr.trim().split('\n')[0]}` : ''}`,
      );
    });
  }

  private retry(message: string): void {
    if (this.stopped) return;
    this.o.onCounter?.('restarts');
    const delay = backoff(this.failures++, { baseMs: BACKOFF_MIN_MS, capMs: BACKOFF_MAX_MS, jitter: 'none' });
    this.o.log.error({ retryInMs: delay }, message);
    this.timer = setTimeout(() => void this.launch(), delay);
  }

  private handle(line: string): void {
    this.lastLine = line;
    this.o.onCounter?.('lines');
    let wanted = false;
    for (const lit of this.literals)
      if (line.includes(lit)) {
        wanted = true;
        break;
      }
    if (!wanted) return;
    const entry = parseJournalJson(line, this.fields);
    if ('reject' in entry) {
      this.o.onCounter?.(entry.reject === 'bad-time' ? 'rejected_bad_time' : 'rejected_bad_json');
      return;
    }
    this.o.onCounter?.('parsed');
    // A record of a consumer's own match goes to those consumers only (a kubelet line is no kernel line).
    const group = this.extra.find((e) => entry.fields?.[e.field] === e.value)?.match;
    for (const c of this.o.consumers) {
      if (c.match !== group) continue;
      for (const lit of c.literals) {
        if (entry.message.includes(lit)) {
          c.onEntry(entry);
          break;
        }
      }
    }
  }
}
