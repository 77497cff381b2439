// A real nats-server (Debian's, or another binary) with JetStream on 127.0.0.1, a free port and a temp store.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, waitFor } from './wait.js';
import { connect } from 'node:net';

export interface NatsServer {
  url: string;
  port: number;
  /** The JetStream store directory (remove it between kill() and start() for a NATS that lost its store). */
  storeDir: string;
  stop(): Promise<void>;
  /** Kill the server (the store survives) — an outage. */
  kill(): Promise<void>;
  /** Start it again on the same port and store; `token` restarts it with other credentials. */
  start(opts?: { token?: string }): Promise<void>;
  /** Clients the server turned away for bad credentials since it was started by this helper. */
  authFailures(): number;
}

/** netns: run inside a test network namespace (its own loopback); readiness then comes from the log alone. */
/** binary: another nats-server than Debian's (e.g. natsServerBin(), the version deploy/ pins). */
export async function startNats(opts: { token?: string; netns?: string; binary?: string } = {}): Promise<NatsServer> {
  const bin = opts.binary ?? 'nats-server';
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'nw-nats-'));
  let child: ChildProcess | undefined;
  let log = '';
  let token = opts.token;
  let authFailures = 0;
  const up = () =>
    new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1', () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
  const start = async (o: { token?: string } = {}) => {
    if ('token' in o) token = o.token;
    const args = ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', dir];
    if (token) args.push('--auth', token);
    child = opts.netns
      ? spawn('ip', ['netns', 'exec', opts.netns, bin, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
      : spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stderr!.on('data', (c: Buffer) => {
      authFailures += c.toString().match(/Authorization Error|authentication error/gi)?.length ?? 0;
      log = (log + c.toString()).slice(-4000);
    });
    child.stdout!.on('data', (c: Buffer) => {
      log = (log + c.toString()).slice(-4000);
    });
    await waitFor(
      `nats-server on port ${port} (log: ${log})`,
      () => /Server is ready/.test(log) && (opts.netns !== undefined || up()),
      15_000,
      50,
    );
  };
  const kill = async () => {
    const c = child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    await new Promise<void>((r) => {
      c.once('exit', () => r());
      c.kill('SIGKILL');
    });
    log = '';
  };
  process.once('exit', () => child?.kill('SIGKILL'));
  await start();
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    storeDir: dir,
    kill,
    start,
    authFailures: () => authFailures,
    async stop() {
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
