// Follows GET /api/v1/watch (docs/architecture.md#web-view) with fetch() and a stream reader, since
// EventSource cannot send the bearer token. Each connection rebuilds the state from the server's
// initial items and swaps it in at `synced`, so a reconnect never shows a half-built map; after that,
// changes apply in place. Reconnects with capped, jittered backoff; a 401 stops until a new token.
import { applyEvent, emptySnapshot, type Snapshot } from './model.js';
import { SseParser } from '../../../common/sse.js';

/**
 * The map starts from the 1,000 newest flows (the drops list defaults to 100); findings and nodes keep their default of
 * 1,000.
 */
export const WATCH_PATH = '/api/v1/watch?types=drops,findings,nodes&limit=1000';
/** The server sends a keepalive every 15 s; this long without a byte means the connection is dead. */
const IDLE_MS = 45_000;
const MAX_BACKOFF_MS = 30_000;

export type Status =
  | { kind: 'connecting' }
  | { kind: 'live'; at: string }
  | { kind: 'retrying'; inMs: number; why: string }
  | { kind: 'unauthorized'; hadToken: boolean };

export interface WatchHooks {
  token(): string | undefined;
  status(s: Status): void;
  /**
   * Why the collector's answers may be incomplete (replaying the stream, NATS lost), as of the last `synced`; undefined
   * when caught up.
   */
  stale(reason: string | undefined): void;
  /** A complete state (at `synced`); the same object then changes in place before each changed(). */
  snapshot(s: Snapshot): void;
  changed(): void;
}

class Unauthorized extends Error {}

let unreadable = 0;
/** An event this page cannot read is skipped and counted, never fatal (a newer collector may send more types). */
function rejected(type: string): void {
  if (unreadable++ % 100 === 0)
    console.warn(`nodewarden: skipped an unreadable "${type}" event (${unreadable} so far)`);
}

export function watch(hooks: WatchHooks): { restart(): void } {
  let abort: AbortController | undefined;
  let generation = 0;

  async function once(signal: AbortSignal, onSynced: () => void): Promise<never> {
    const token = hooks.token();
    const res = await fetch(WATCH_PATH, {
      headers: { accept: 'text/event-stream', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      cache: 'no-store',
      signal,
    });
    if (res.status === 401) throw new Unauthorized();
    if (!res.ok || !res.body) {
      const body = await res.text().catch(() => '');
      let why = body;
      try {
        why = (JSON.parse(body) as { error?: string }).error ?? body;
      } catch {
        /* not JSON */
      }
      throw new Error(`HTTP ${res.status}${why ? `: ${why}` : ''}`);
    }
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    const parser = new SseParser();
    const state = emptySnapshot();
    let synced = false;
    let idle: ReturnType<typeof setTimeout> | undefined,
      silent = false;
    const arm = () => {
      clearTimeout(idle);
      idle = setTimeout(() => {
        silent = true;
        void reader.cancel('idle');
      }, IDLE_MS);
    };
    try {
      for (arm(); ; arm()) {
        const { value, done } = await reader.read();
        if (done) throw new Error(silent ? `nothing heard for ${IDLE_MS / 1000} s` : 'the collector ended the stream');
        let changed = false;
        for (const ev of parser.feed(decoder.decode(value, { stream: true }))) {
          if (ev.type === 'synced') {
            if (!synced) {
              synced = true;
              hooks.snapshot(state);
              onSynced();
            }
            let info: { at?: string; stale?: boolean; staleReason?: string } = {};
            try {
              info = JSON.parse(ev.data) as typeof info;
            } catch {
              /* an unreadable synced still ends the initial state */
            }
            hooks.stale(info.stale ? (info.staleReason ?? 'stale') : undefined);
            hooks.status({ kind: 'live', at: info.at ?? new Date().toISOString() });
          } else if (applyEvent(state, ev)) changed ||= synced;
          else rejected(ev.type);
        }
        if (changed) hooks.changed();
      }
    } finally {
      clearTimeout(idle);
    }
  }

  async function run(gen: number, signal: AbortSignal): Promise<void> {
    let backoff = 1000;
    while (gen === generation) {
      hooks.status({ kind: 'connecting' });
      try {
        await once(signal, () => {
          backoff = 1000;
        });
      } catch (err) {
        if (gen !== generation) return;
        if (err instanceof Unauthorized) {
          hooks.status({ kind: 'unauthorized', hadToken: Boolean(hooks.token()) });
          return;
        }
        const wait = Math.round(backoff * (0.75 + Math.random() * 0.5));
        hooks.status({ kind: 'retrying', inMs: wait, why: err instanceof Error ? err.message : String(err) });
        await new Promise((r) => setTimeout(r, wait));
        backoff = Math.min(MAX_BACKOFF_MS, backoff * 2);
      }
    }
  }

  const restart = () => {
    abort?.abort();
    abort = new AbortController();
    void run(++generation, abort.signal);
  };
  restart();
  return { restart };
}
