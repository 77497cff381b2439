// The nats-server built from tools/nats-server (>= 2.11) on 127.0.0.1 and a free port, with the
// accounts and auth callout of deploy/nats.yaml (without its TLS; test/deploy-image.test.ts runs that
// config itself): callout account AUTH, app account APP with JetStream, static users `auth` (the
// callout service) and `collector` in auth_users, a fresh issuer account nkey. Everyone else is
// decided by the callout service.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createAccount } from '@nats-io/nkeys';
import { freePort, waitFor } from './wait.js';

const ENSURE = fileURLToPath(new URL('../../scripts/ensure-nats-server.sh', import.meta.url));

/** NODEWARDEN_NATS_SERVER overrides; otherwise the cached build (built on first use, bounded). */
export function natsServerBin(): string {
  if (process.env.NODEWARDEN_NATS_SERVER) return process.env.NODEWARDEN_NATS_SERVER;
  const dir = execFileSync('bash', [ENSURE], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    timeout: 15 * 60_000,
  })
    .trim()
    .split('\n')
    .pop()!;
  return join(dir, 'nats-server');
}

export interface StaticUser {
  user: string;
  password: string;
  passwordFile: string;
}

export interface CalloutNats {
  url: string;
  port: number;
  dir: string;
  /** File holding the issuer account seed (for `nodewarden auth --issuer-seed-file`). */
  issuerSeedFile: string;
  issuerPublicKey: string;
  auth: StaticUser;
  collector: StaticUser;
  output(): string;
  stop(): Promise<void>;
}

const q = (s: string) => JSON.stringify(s);

export async function startCalloutNats(opts: { authTimeoutSec?: number } = {}): Promise<CalloutNats> {
  const bin = natsServerBin();
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'nw-nats-callout-'));
  const issuer = createAccount();
  const issuerSeedFile = join(dir, 'issuer.seed');
  writeFileSync(issuerSeedFile, new TextDecoder().decode(issuer.getSeed()) + '\n', { mode: 0o600 });
  const user = (name: string): StaticUser => {
    const password = randomBytes(18).toString('hex');
    const passwordFile = join(dir, `${name}.password`);
    writeFileSync(passwordFile, password + '\n', { mode: 0o600 });
    return { user: name, password, passwordFile };
  };
  const auth = user('auth'),
    collector = user('collector');
  const conf = join(dir, 'nats.conf');
  writeFileSync(
    conf,
    `
listen: "127.0.0.1:${port}"
server_name: nw-test
jetstream { store_dir: ${q(join(dir, 'js'))} }
accounts {
  AUTH { users: [ { user: ${q(auth.user)}, password: ${q(auth.password)} } ] }
  APP { jetstream: enabled, users: [ { user: ${q(collector.user)}, password: ${q(collector.password)} } ] }
}
authorization {
  timeout: ${opts.authTimeoutSec ?? 3}
  auth_callout {
    issuer: ${issuer.getPublicKey()}
    account: AUTH
    auth_users: [ ${q(auth.user)}, ${q(collector.user)} ]
  }
}
`,
  );
  let out = '';
  const child: ChildProcess = spawn(bin, ['-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
  const keep = (c: Buffer) => {
    out = (out + c.toString()).slice(-200_000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const kill = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  process.once('exit', kill);
  try {
    await waitFor(
      `nats-server (callout) on port ${port}`,
      () => {
        if (child.exitCode !== null) throw new Error(`exited ${child.exitCode}: ${out.slice(-2000)}`);
        return /Server is ready/.test(out);
      },
      15_000,
      50,
    );
  } catch (err) {
    kill();
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    dir,
    issuerSeedFile,
    issuerPublicKey: issuer.getPublicKey(),
    auth,
    collector,
    output: () => out,
    async stop() {
      if (child.exitCode === null && child.signalCode === null)
        await new Promise<void>((r) => {
          child.once('exit', () => r());
          child.kill('SIGKILL');
        });
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
