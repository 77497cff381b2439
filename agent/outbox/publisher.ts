// NATS JetStream publishing for the agent. The client does not buffer across reconnects, so the
// outbox owns durability; this file knows whether publishing is possible right now, and why not.
// It never gives up: a wrong token, an unreachable server or a closed connection all lead to another
// connect attempt (jittered exponential backoff). Each change of state is logged once, not each retry.
import { connect as tcpConnect } from 'node:net';
import type { NatsConnection } from '@nats-io/transport-node';
import { jetstream, type JetStreamClient, type PubAck } from '@nats-io/jetstream';
import { connectNats, type NatsAuth } from '../../common/nats.js';
import type { Logger } from '../../common/log.js';
import { backoff } from '../../common/backoff.js';

export type NatsState = 'connecting' | 'connected' | 'disconnected' | 'auth-failed' | 'unreachable';
export const CONNECT_OUTCOMES = ['connected', 'auth_failed', 'unreachable'] as const;
export type ConnectOutcome = (typeof CONNECT_OUTCOMES)[number];

export interface PublisherOptions {
  url: string;
  auth: NatsAuth;
  name: string;
  log: Logger;
  /** Counts connect attempts by outcome. */
  count?: (name: `nats_connect_${ConnectOutcome}`) => void;
  timeoutMs?: number;
  /** Backoff bounds between connect attempts. */
  minRetryMs?: number;
  maxRetryMs?: number;
}

function isExpiry(err: unknown): boolean {
  const e = err as { name?: string; message?: string } | undefined;
  return /AuthenticationExpired/i.test(e?.name ?? '') || /authentication expired/i.test(e?.message ?? '');
}

/**
 * Errors the server sends for bad or expired credentials (nats.js AuthorizationError, UserAuthenticationExpiredError).
 */
export function isAuthError(err: unknown): boolean {
  const e = err as Error | undefined;
  return (
    /Authorization|AuthenticationExpired/i.test(e?.name ?? '') ||
    /authorization violation|authentication (expired|timeout)/i.test(e?.message ?? '')
  );
}

/**
 * connectNats waits silently while no server answers (waitOnFirstConnect), so before each attempt a
 * plain TCP dial tells "unreachable" (with the socket's error) apart from a server that answers.
 */
function reachable(url: string, timeoutMs: number): Promise<void> {
  const servers = url
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const one = (s: string) =>
    new Promise<void>((resolve, reject) => {
      const u = new URL(s.includes('://') ? s : `nats://${s}`);
      const sock = tcpConnect(Number(u.port) || 4222, u.hostname.replace(/^\[|\]$/g, ''));
      const t = setTimeout(() => sock.destroy(new Error(`no answer from ${u.host} within ${timeoutMs} ms`)), timeoutMs);
      sock.once('data', () => {
        clearTimeout(t);
        sock.destroy();
        resolve();
      });
      sock.once('error', (err) => {
        clearTimeout(t);
        reject(err);
      });
      sock.once('close', () => {
        clearTimeout(t);
        reject(new Error(`${u.host} closed the connection`));
      });
    });
  return Promise.any(servers.map(one)).catch((e: AggregateError) => {
    throw e.errors[0] as Error;
  });
}

export class Publisher {
  private nc?: NatsConnection;
  private js?: JetStreamClient;
  private st: NatsState = 'connecting';
  private detail = '';
  /** The last problem, kept after recovery so the collector can show what happened. */
  private lastProblem?: { what: string; atMs: number };
  private closed = false;
  private wake?: () => void;
  private readonly timeoutMs: number;

  constructor(private readonly o: PublisherOptions) {
    this.timeoutMs = o.timeoutMs ?? 5000;
  }

  /** Connects in the background, forever: the agent keeps reading and spooling while NATS is away. */
  start(): void {
    this.o.log.info({ url: this.o.url }, 'nats: connecting');
    void this.loop();
  }

  get connected(): boolean {
    return this.st === 'connected' && !!this.js;
  }
  get state(): NatsState {
    return this.st;
  }

  /** undefined when publishing works; otherwise why not, for /readyz. */
  notReadyReason(): string | undefined {
    switch (this.st) {
      case 'connected':
        return undefined;
      case 'connecting':
        return 'NATS not connected yet';
      case 'disconnected':
        return `NATS disconnected: ${this.detail}`;
      case 'auth-failed':
        return `NATS authorization failed: ${this.detail}`;
      case 'unreachable':
        return `NATS unreachable: ${this.detail}`;
    }
  }

  /** The heartbeat's `nats` status: ok while connected, with the last problem the agent got through. */
  probe(): { name: string; ok: boolean; detail: string } {
    const last = this.lastProblem
      ? `last problem: ${this.lastProblem.what} (${new Date(this.lastProblem.atMs).toISOString()})`
      : '';
    const now = this.connected ? 'connected' : (this.notReadyReason() ?? '');
    return { name: 'nats', ok: this.connected, detail: [now, last].filter(Boolean).join('; ') };
  }

  publish(subject: string, data: Uint8Array, msgID: string): Promise<PubAck> {
    if (!this.js || !this.connected) return Promise.reject(new Error('not connected'));
    return this.js.publish(subject, data, { msgID, timeout: this.timeoutMs });
  }

  async close(): Promise<void> {
    this.closed = true;
    this.wake?.();
    const nc = this.nc;
    this.js = undefined;
    if (nc && !nc.isClosed()) await nc.drain().catch(() => nc.close());
  }

  private setState(st: NatsState, detail = ''): void {
    if (this.closed || (st === this.st && detail === this.detail)) return;
    const was = this.st;
    this.st = st;
    this.detail = detail;
    if (st === 'auth-failed' || st === 'unreachable' || st === 'disconnected')
      this.lastProblem = { what: `${st.replace('-', ' ')}: ${detail}`, atMs: Date.now() };
    // Only a change of state is news; a detail that changes within one state (another errno) is not.
    if (st === was) return;
    const log = this.o.log;
    if (st === 'connected') log.info({ server: this.nc?.getServer(), was }, 'nats: connected');
    else if (st === 'disconnected') log.warn({ detail }, 'nats: disconnected; spooling until it returns');
    else if (st === 'auth-failed')
      log.error({ detail }, `nats: auth failed: ${detail}; retrying until the credentials are accepted`);
    else if (st === 'unreachable') log.warn({ detail }, `nats: unreachable: ${detail}; retrying`);
    else log.info('nats: connecting');
  }

  private async loop(): Promise<void> {
    let failures = 0;
    while (!this.closed) {
      const nc = await this.attempt();
      if (nc) {
        failures = 0;
        await this.watch(nc);
        continue;
      }
      // Equal jitter: a fleet of agents does not reconnect in step.
      await this.sleep(
        backoff(failures++, { baseMs: this.o.minRetryMs ?? 250, capMs: this.o.maxRetryMs ?? 5000, jitter: 'equal' }),
      );
    }
  }

  /** One connect attempt; its outcome is counted and becomes the state. */
  private async attempt(): Promise<NatsConnection | undefined> {
    try {
      await reachable(this.o.url, this.timeoutMs);
    } catch (err) {
      this.o.count?.('nats_connect_unreachable');
      this.setState('unreachable', (err as Error).message);
      return undefined;
    }
    try {
      const nc = await connectNats(this.o.url, this.o.auth, this.o.name);
      if (this.closed) {
        await nc.close();
        return undefined;
      }
      this.o.count?.('nats_connect_connected');
      this.nc = nc;
      this.js = jetstream(nc, { timeout: this.timeoutMs });
      this.setState('connected');
      return nc;
    } catch (err) {
      const auth = isAuthError(err);
      this.o.count?.(auth ? 'nats_connect_auth_failed' : 'nats_connect_unreachable');
      this.setState(auth ? 'auth-failed' : 'unreachable', (err as Error).message);
      return undefined;
    }
  }

  /**
   * Follows the connection until it is closed. The client reconnects by itself after a disconnect and
   * after refusals (connectNats); should it still close, the loop starts over with a new connect.
   */
  private async watch(nc: NatsConnection): Promise<void> {
    const closed = nc.closed();
    for await (const s of nc.status()) {
      // The client drops the socket after an auth error: that disconnect is the auth failure, not news.
      if (s.type === 'disconnect') {
        if (this.st !== 'auth-failed') this.setState('disconnected', `lost ${s.server}`);
      } else if (s.type === 'reconnect') this.setState('connected');
      // An expired user is the planned end of a short-lived credential: the client reconnects with the
      // renewed token at once. Only a refusal is an auth failure.
      else if (s.type === 'error' && isAuthError(s.error))
        this.setState(isExpiry(s.error) ? 'disconnected' : 'auth-failed', s.error.message);
      else if (s.type === 'close') break;
    }
    const err = await closed;
    this.js = undefined;
    if (this.closed) return;
    if (this.st === 'connected') this.setState('disconnected', err ? err.message : 'connection closed');
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.wake = undefined;
        resolve();
      }, ms);
      this.wake = () => {
        clearTimeout(t);
        this.wake = undefined;
        resolve();
      };
    });
  }
}
