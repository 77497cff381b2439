// The auth-callout service's wiring (nodewarden auth): flags, checked config, and the running service.
import { readFileSync } from 'node:fs';
import type { NatsConnection } from '@nats-io/transport-node';
import { Registry } from 'prom-client';
import { registerRoleMetrics } from '../../common/metrics.js';
import { ConfigError, parseDuration, parseListen, type FlagSpec, type FlagValues } from '../../common/flags.js';
import { createLogger } from '../../common/log.js';
import { connectNats } from '../../common/nats.js';
import { startMetricsServer } from '../../common/metrics-server.js';
import { loadKubeconfig, loadInCluster, inClusterAvailable, type KubeConfig } from '../kube/config.js';
import { KubeClient } from '../kube/client.js';
import { issuerFromSeed, JwtError } from './jwt.js';
import { serveAuthCallout } from './service.js';
import { tokenReviewer } from './token-review.js';
import type { DecideConfig } from './decide.js';
import { natsFlags, natsAuth } from '../../common/nats-flags.js';
import { untilSignal } from '../../common/process.js';

export const authFlags: Record<string, FlagSpec> = {
  ...natsFlags,
  'issuer-seed-file': {
    type: 'string',
    arg: 'FILE',
    help: 'Account nkey seed (SA…) that signs the answers; its public key is auth_callout.issuer in the server config. Required.',
  },
  kubeconfig: {
    type: 'string',
    arg: 'PATH',
    help: 'kubeconfig for the TokenReviews (default: in-cluster config when running in a pod).',
  },
  'kube-context': { type: 'string', arg: 'NAME', help: 'kubeconfig context (default: its current-context).' },
  audience: { type: 'string', arg: 'AUD', default: 'nodewarden', help: 'Audience agent tokens must be issued for.' },
  'service-account': {
    type: 'string',
    arg: 'NS:NAME',
    default: 'nodewarden:nodewarden-agent',
    help: 'The only ServiceAccount admitted as an agent.',
  },
  'agent-account': {
    type: 'string',
    arg: 'NAME',
    default: 'APP',
    help: "NATS account agents are placed in (the collectors' account).",
  },
  'max-user-ttl': {
    type: 'string',
    arg: 'DURATION',
    default: '1h',
    help: "An agent's NATS user expires with its token, and after this at the latest.",
  },
  'metrics-listen': {
    type: 'string',
    arg: 'ADDR',
    help: 'Serve /metrics, /healthz, /readyz on HOST:PORT (default off).',
  },
};

export interface AuthConfig {
  decide: DecideConfig;
  seedFile: string;
  kube: KubeConfig;
}

export function authConfig(v: FlagValues, env: NodeJS.ProcessEnv = process.env): AuthConfig {
  const seedFile = v['issuer-seed-file'] as string | undefined;
  if (!seedFile) throw new ConfigError('--issuer-seed-file is required (an account nkey seed; see deploy/README.md)');
  const sa = String(v['service-account']);
  if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?:[a-z0-9]([-.a-z0-9]*[a-z0-9])?$/.test(sa))
    throw new ConfigError(`--service-account: "${sa}" is not NAMESPACE:NAME`);
  const account = String(v['agent-account']);
  if (!/^[A-Za-z0-9_-]+$/.test(account))
    throw new ConfigError(`--agent-account: "${account}" is not a NATS account name`);
  const audience = String(v.audience);
  if (!audience) throw new ConfigError('--audience must not be empty');
  const ttl = parseDuration(String(v['max-user-ttl']), '--max-user-ttl');
  if (ttl < 10_000) throw new ConfigError('--max-user-ttl must be at least 10s');
  const kc = v.kubeconfig as string | undefined;
  let kube: KubeConfig;
  if (kc) kube = loadKubeconfig(kc, v['kube-context'] as string | undefined);
  else if (v['kube-context']) throw new ConfigError('--kube-context needs --kubeconfig');
  else if (inClusterAvailable(env)) kube = loadInCluster(env);
  else
    throw new ConfigError(
      'no Kubernetes API: pass --kubeconfig, or run in a pod with a ServiceAccount token (TokenReviews need one)',
    );
  return { decide: { serviceAccount: sa, audience, account, maxTtlSec: Math.floor(ttl / 1000) }, seedFile, kube };
}

function loadIssuer(path: string) {
  let seed: string;
  try {
    seed = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`--issuer-seed-file: cannot read ${path} (${(err as NodeJS.ErrnoException).code})`);
  }
  try {
    return issuerFromSeed(seed);
  } catch (err) {
    throw new ConfigError(`--issuer-seed-file ${path}: ${err instanceof JwtError ? err.message : String(err)}`);
  }
}

export async function runAuthMain(v: FlagValues): Promise<number> {
  const cfg = authConfig(v);
  const issuer = loadIssuer(cfg.seedFile);
  const auth = natsAuth(v);
  const metrics = v['metrics-listen'] ? parseListen(v['metrics-listen'] as string, '--metrics-listen') : undefined;
  const log = createLogger('auth');
  const signalled = untilSignal(log);
  const registry = new Registry();
  registerRoleMetrics(registry, 'auth');
  const client = new KubeClient(cfg.kube);
  log.info({ api: cfg.kube.server, via: cfg.kube.describe }, 'auth: TokenReviews through the Kubernetes API');
  let nc: NatsConnection | undefined;
  // Up before NATS is: /healthz stays alive while NATS is away, /readyz says whether we answer.
  const server = metrics
    ? await startMetricsServer(metrics.host, metrics.port, registry, () =>
        nc && !nc.isClosed() ? undefined : 'not connected to NATS',
      )
    : undefined;
  nc = await Promise.race([connectNats(v.nats as string, auth, 'nodewarden-auth'), signalled.then(() => undefined)]);
  if (!nc) process.exit(0);
  const service = serveAuthCallout(nc, {
    issuer,
    decide: cfg.decide,
    review: tokenReviewer(client, cfg.decide.audience),
    log,
    registry,
  });
  await signalled;
  await service.stop();
  await nc.drain().catch(() => nc.close());
  server?.close();
  client.close();
  process.exit(0);
}
