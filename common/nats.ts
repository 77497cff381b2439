import {
  connect,
  tokenAuthenticator,
  usernamePasswordAuthenticator,
  AuthorizationError,
  PermissionViolationError,
  UserAuthenticationExpiredError,
  type NatsConnection,
  type ConnectionOptions,
  type Authenticator,
} from '@nats-io/transport-node';
import { readFileSync } from 'node:fs';
import { createLogger, onceLogger, type Logger } from './log.js';
import { backoff } from './backoff.js';

export interface NatsAuth {
  /** A static token (development). */
  token?: string;
  /** A token file, re-read at every connect: projected ServiceAccount tokens are rotated by the kubelet. */
  tokenFile?: string;
  user?: string;
  password?: string;
  /** Read at every connect, like tokenFile. */
  passwordFile?: string;
  caFile?: string;
  /** Prefix of this client's reply inboxes; a NATS user limited to its own inbox needs it. */
  inboxPrefix?: string;
}

function readSecret(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch (err) {
    throw new Error(`${what} ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/** How to authenticate, evaluated at each (re)connect so rotated files take effect without a restart. */
export function natsAuthenticator(auth: NatsAuth): Authenticator | undefined {
  if (auth.tokenFile) {
    const f = auth.tokenFile;
    return tokenAuthenticator(() => readSecret(f, 'NATS token file'));
  }
  if (auth.token) return tokenAuthenticator(auth.token);
  if (auth.user) {
    const f = auth.passwordFile;
    return usernamePasswordAuthenticator(
      auth.user,
      f ? () => readSecret(f, 'NATS password file') : (auth.password ?? ''),
    );
  }
  return undefined;
}

let natsLog: Logger | undefined;
const log = () => (natsLog ??= createLogger('nats'));
const isAuthFailure = (err: unknown) =>
  err instanceof AuthorizationError ||
  err instanceof UserAuthenticationExpiredError ||
  /authoriz|authenticat/i.test(String((err as Error)?.message));

type Report = (err: unknown, what: string) => void;

/** Logs what the server says about our rights once per distinct message: refusals repeat at every retry. */
function reporter(name: string): Report {
  const once = onceLogger(log());
  return (err, what) => {
    const msg = (err as Error)?.message ?? String(err);
    once(msg, what, { client: name, err: msg });
  };
}

/**
 * Connects, retrying an unreachable server quietly, and then reconnects forever (the agent/collector
 * own durability, not the client). A refused first connect is retried here, logged once per distinct
 * reason, when the credentials come from files (a projected token is rotated by the kubelet, a Secret
 * updated); with static ones it is the caller's error to report and retry. Once connected, refusals
 * are retried for every kind of credential: the client's default, closing for good after two, left a
 * collector dead after the server had run with other credentials for a moment.
 */
export async function connectNats(url: string, auth: NatsAuth, name: string): Promise<NatsConnection> {
  const fromFiles = !!(auth.tokenFile || auth.passwordFile);
  const opts: ConnectionOptions = {
    servers: url
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
    name,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 500,
    reconnectJitter: 500,
    timeout: 5000,
    // Our loop below retries the first connect: the client's own would also retry refusals, silently.
    waitOnFirstConnect: false,
    ignoreAuthErrorAbort: true,
  };
  const authenticator = natsAuthenticator(auth);
  if (authenticator) opts.authenticator = authenticator;
  if (auth.inboxPrefix) opts.inboxPrefix = auth.inboxPrefix;
  if (auth.caFile) opts.tls = { ca: readFileSync(auth.caFile, 'utf8') };
  const report = reporter(name);
  for (;;) {
    try {
      const nc = await connect(opts);
      void watchRights(nc, name, report);
      return nc;
    } catch (err) {
      const refused = isAuthFailure(err);
      if (refused && !fromFiles) throw err;
      if (refused) report(err, 'nats: authorization failed: the server refused our credentials; retrying');
      else if (/NATS token file|NATS password file/.test((err as Error).message))
        report(err, 'nats: cannot read the credentials; retrying');
      await new Promise((r) => setTimeout(r, backoff(0, { baseMs: 1000, capMs: 1000, jitter: 'equal' })));
    }
  }
}

async function watchRights(nc: NatsConnection, name: string, report: Report): Promise<void> {
  for await (const s of nc.status()) {
    if (s.type !== 'error') continue;
    // An agent's user expires with its token: routine, hourly, answered by reconnecting with the renewed file.
    if (s.error instanceof UserAuthenticationExpiredError)
      log().info({ client: name }, 'nats: our NATS user expired; reconnecting with the current credentials');
    else if (s.error instanceof PermissionViolationError) report(s.error, 'nats: permission denied by the server');
    else if (isAuthFailure(s.error))
      report(s.error, 'nats: authorization failed on reconnect: the server refused our credentials; retrying');
  }
}
