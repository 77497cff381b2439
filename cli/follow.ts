// `drops -w` / `findings -w`: GET /api/v1/watch (docs/architecture.md#api), printed like kubectl get -w:
// the table of the current state, then one row per change; reconnects with backoff; Ctrl-C exits 0.
import { createHash } from 'node:crypto';
// The web view's parser (pure, no DOM): one reading of the stream format for both clients.
import { SseParser, type SseEvent } from '../common/sse.js';
import { reachError, staleWarning, type Client } from './shared-flags.js';
import { row, serializeItem, widths, type Format } from './output.js';

/** Three missed keepalives (sent every 15 s): the connection is dead even if no one closed it. */
const IDLE_MS = 45_000;
const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 8_000;
/** Entities whose last printed row is remembered (≈ 200 bytes each). */
const MAX_REMEMBERED = 100_000;

export interface FollowSpec<T> {
  /** The watch `types` value and the event name of its items: drops/drop, findings/finding. */
  types: string;
  event: string;
  /** Filters the server applies (the same ones again client-side through matches). */
  params: Record<string, string | undefined>;
  matches(item: T): boolean;
  /** Which items are the same entity. */
  key(item: T): string;
  /** What makes a new row of that entity (default: any change of the item). */
  signature?(item: T): string;
  header: string[];
  cells(item: T, nowMs: number): string[];
  /** Newest first in the initial table, as the list commands print. */
  newerFirst(a: T, b: T): number;
}

/** A failure that reconnecting cannot fix (401, 404, a bad query): the command ends with it. */
class Fatal extends Error {}

/**
 * One stream after another until `signal` aborts; `onEvent` gets every event. The first connection
 * must succeed (an unreachable collector is an error, as without -w); later ones are retried.
 */
export async function streamEvents(
  c: Client,
  path: string,
  onEvent: (e: SseEvent) => void,
  signal: AbortSignal,
  warn: (line: string) => void,
): Promise<void> {
  let delay = BACKOFF_MIN_MS;
  let everConnected = false;
  while (!signal.aborted) {
    let why: string;
    try {
      // A stream that got as far as `synced` was a good one: the next wait starts short again.
      await oneStream(
        c,
        path,
        (e) => {
          if (e.type === 'synced') delay = BACKOFF_MIN_MS;
          onEvent(e);
        },
        signal,
        () => {
          everConnected = true;
        },
      );
      why = 'the stream ended';
    } catch (err) {
      if (signal.aborted) return;
      if (err instanceof Fatal) throw err;
      if (!everConnected) throw reachError(c.base, err);
      why = reachError(c.base, err).message;
    }
    if (signal.aborted) return;
    warn(`watch: ${why}; reconnecting in ${(delay / 1000).toFixed(1)}s\n`);
    await new Promise<void>((r) => {
      const t = setTimeout(r, delay);
      signal.addEventListener(
        'abort',
        () => {
          clearTimeout(t);
          r();
        },
        { once: true },
      );
    });
    delay = Math.min(BACKOFF_MAX_MS, delay * 2);
  }
}

/** Reads one connection to its end. */
async function oneStream(
  c: Client,
  path: string,
  onEvent: (e: SseEvent) => void,
  outer: AbortSignal,
  onConnected: () => void,
): Promise<void> {
  const ac = new AbortController();
  const abort = () => ac.abort(outer.reason);
  outer.addEventListener('abort', abort, { once: true });
  let idle: NodeJS.Timeout | undefined;
  const arm = (ms: number, reason: string) => {
    clearTimeout(idle);
    if (ms) idle = setTimeout(() => ac.abort(new Error(reason)), ms);
  };
  try {
    arm(c.timeoutMs, 'no answer within --timeout');
    const res = await fetch(`${c.base}${path}`, {
      headers: { ...c.headers, accept: 'text/event-stream' },
      signal: ac.signal,
    });
    if (!res.ok) {
      const body = (await res.json().catch(() => ({}))) as { error?: string };
      const msg = `collector answered ${res.status}: ${body.error ?? res.statusText}`;
      if (res.status === 404)
        throw new Fatal(`${msg} (this collector has no /api/v1/watch: it is older than this CLI)`);
      if (res.status >= 400 && res.status < 500 && res.status !== 429) throw new Fatal(msg);
      throw new Error(msg);
    }
    onConnected();
    const stale = res.headers.get('x-nodewarden-stale');
    if (stale) process.stderr.write(staleWarning(stale));
    const parser = new SseParser();
    const decoder = new TextDecoder();
    arm(IDLE_MS, 'no keepalive for 45 s');
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      arm(IDLE_MS, 'no keepalive for 45 s');
      for (const e of parser.feed(decoder.decode(chunk, { stream: true }))) onEvent(e);
    }
  } catch (err) {
    // An abort by the idle timer surfaces as its reason.
    throw ac.signal.aborted && !outer.aborted ? (ac.signal.reason as Error) : err;
  } finally {
    clearTimeout(idle);
    outer.removeEventListener('abort', abort);
  }
}

/** Resolves on SIGINT/SIGTERM (Ctrl-C ends a watch normally: exit 0). */
function untilInterrupted(ac: AbortController): () => void {
  const stop = () => ac.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  return () => {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  };
}

/** Follows one kind of item and prints it the kubectl way; resolves with the exit code. */
export async function follow<T>(c: Client, f: FollowSpec<T>, format: Format, noHeaders: boolean): Promise<number> {
  const out = (s: string) => process.stdout.write(s);
  const qs = new URLSearchParams([
    ['types', f.types],
    ...Object.entries(f.params).filter((e): e is [string, string] => !!e[1]),
  ]);
  /**
   * What was last printed per entity, as a digest; bounded (the oldest forgotten may print again after a reconnect).
   */
  const printed = new Map<string, string>();
  let initial: T[] | undefined = [];
  let w: number[] = widths(f.header, []);
  const show = (item: T) => {
    if (format === 'json' || format === 'yaml') return out(serializeItem(item, format));
    out(row(f.cells(item, Date.now()), w));
  };
  const onEvent = (e: SseEvent) => {
    if (e.type === 'synced') {
      if (initial) {
        const items = initial.sort(f.newerFirst);
        if (format === 'table' || format === 'wide') {
          const rows = items.map((i) => f.cells(i, Date.now()));
          w = widths(f.header, rows);
          if (!noHeaders) out(row(f.header, w));
          for (const r of rows) out(row(r, w));
        } else items.forEach(show);
      }
      initial = undefined;
      return;
    }
    if (e.type !== f.event) return;
    let item: T;
    try {
      item = JSON.parse(e.data) as T;
    } catch {
      process.stderr.write(`warning: skipped a watch event that is not JSON (${e.type})\n`);
      return;
    }
    if (!f.matches(item)) return;
    // On a reconnect the current state comes again: only what changed meanwhile prints.
    const k = f.key(item),
      sig = createHash('sha1')
        .update(f.signature ? f.signature(item) : e.data)
        .digest('base64');
    if (printed.get(k) === sig) return;
    printed.delete(k);
    printed.set(k, sig);
    if (printed.size > MAX_REMEMBERED) printed.delete(printed.keys().next().value as string);
    if (initial) initial.push(item);
    else show(item);
  };
  const ac = new AbortController();
  const release = untilInterrupted(ac);
  // `nodewarden drops -w | head`: the reader left, so the watch ends quietly, as kubectl's does.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') ac.abort();
    else throw err;
  });
  try {
    await streamEvents(c, `/api/v1/watch?${qs}`, onEvent, ac.signal, (l) => process.stderr.write(l));
    return 0;
  } finally {
    release();
  }
}
