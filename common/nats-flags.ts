// The NATS flags every role shares (agent, collector, auth), and their checks.
import { existsSync } from 'node:fs';
import { ConfigError, type FlagSpecs, type FlagValues } from './flags.js';
import type { NatsAuth } from './nats.js';

export const natsFlags = {
  nats: { type: 'string', arg: 'URL', default: 'nats://127.0.0.1:4222', help: 'NATS server URL(s), comma-separated.' },
  'nats-token': {
    type: 'string',
    arg: 'TOKEN',
    help: 'NATS token authentication (development; see --nats-token-file).',
  },
  'nats-token-file': {
    type: 'string',
    arg: 'FILE',
    help: 'NATS token read from FILE at every connect, e.g. a projected ServiceAccount token (audience nodewarden) that the kubelet rotates.',
  },
  'nats-user': { type: 'string', arg: 'USER', help: 'NATS user (with --nats-password or --nats-password-file).' },
  'nats-password': { type: 'string', arg: 'PASSWORD', help: 'NATS password.' },
  'nats-password-file': {
    type: 'string',
    arg: 'FILE',
    help: 'NATS password read from FILE at every connect (e.g. a mounted Secret).',
  },
  'nats-ca': { type: 'string', arg: 'FILE', help: 'CA bundle for a TLS NATS server.' },
} satisfies FlagSpecs;

export function natsAuth(v: FlagValues): NatsAuth {
  const s = (flag: string) => (v[flag] as string | undefined) || undefined;
  const a: NatsAuth = {
    token: s('nats-token'),
    tokenFile: s('nats-token-file'),
    user: s('nats-user'),
    password: s('nats-password'),
    passwordFile: s('nats-password-file'),
    caFile: s('nats-ca'),
  };
  if (a.token && a.tokenFile) throw new ConfigError('--nats-token and --nats-token-file exclude each other');
  if (a.password && a.passwordFile)
    throw new ConfigError('--nats-password and --nats-password-file exclude each other');
  if ((a.token || a.tokenFile) && a.user) throw new ConfigError('--nats-user and a NATS token exclude each other');
  if ((a.password || a.passwordFile) && !a.user) throw new ConfigError('a NATS password needs --nats-user');
  for (const [flag, file] of [
    ['--nats-token-file', a.tokenFile],
    ['--nats-password-file', a.passwordFile],
    ['--nats-ca', a.caFile],
  ] as const) {
    if (file && !existsSync(file)) throw new ConfigError(`${flag}: no such file ${file}`);
  }
  return a;
}
