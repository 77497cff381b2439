import { ConfigError, parseDuration, parseListen, type CommandSpec, type FlagValues } from '../../common/flags.js';
import { createLogger } from '../../common/log.js';
import { runCollector, type CollectorConfig } from '../../collector/collector.js';
import { loadPodsFile } from '../../collector/resolve/pods-file.js';
import { IpIndex, type Resolver } from '../../collector/resolve/resolver.js';
import { natsFlags, natsAuth } from '../shared-flags.js';
import { parseBytes, untilSignal } from '../process.js';

export const spec: CommandSpec = {
  name: 'collector',
  summary: 'Run the collector: consume agents\' messages from NATS JetStream, name pods, serve the HTTP API.',
  details: `Pod names come from --pods-file (a PodList as printed by kubectl get pods -A -o json) when
running without a cluster. The query store is rebuilt from the stream's retention on every start.`,
  flags: {
    ...natsFlags,
    listen: { type: 'string', arg: 'ADDR', default: '127.0.0.1:8080', help: 'HTTP API address HOST:PORT.' },
    'api-token': { type: 'string', arg: 'TOKEN', help: 'Require "Authorization: Bearer TOKEN" on /api/*.' },
    'pods-file': { type: 'string', arg: 'FILE', help: 'PodList JSON used to name pods (no cluster needed).' },
    kubeconfig: { type: 'string', arg: 'PATH', help: 'kubeconfig for the Kubernetes API (in-cluster config when running in a pod).' },
    events: { type: 'string', arg: 'on|off', default: 'off', help: 'Write Kubernetes Events.' },
    retention: { type: 'string', arg: 'DURATION', default: '24h', help: 'How long the stream and the query store keep data.' },
    'stream-max-bytes': { type: 'string', arg: 'SIZE', default: '1Gi', help: 'Size bound of the JetStream stream.' },
    'stream-replicas': { type: 'string', arg: 'N', default: '1', help: 'JetStream replicas (3 on a clustered NATS).' },
    'node-stale': { type: 'string', arg: 'DURATION', default: '60s', help: 'A node whose agent is silent this long is unhealthy.' },
  },
};

export function collectorConfig(v: FlagValues): CollectorConfig {
  const replicas = Number(v['stream-replicas']);
  if (!Number.isInteger(replicas) || replicas < 1 || replicas > 5) throw new ConfigError('--stream-replicas must be 1 to 5');
  if (v.events !== 'on' && v.events !== 'off') throw new ConfigError(`--events must be on or off, not "${String(v.events)}"`);
  return {
    nats: v.nats as string, natsAuth: natsAuth(v), listen: parseListen(v.listen as string, '--listen'), apiToken: v['api-token'] as string | undefined,
    retentionMs: parseDuration(v.retention as string, '--retention'), streamMaxBytes: parseBytes(v['stream-max-bytes'] as string, '--stream-max-bytes'),
    streamReplicas: replicas, nodeStaleMs: parseDuration(v['node-stale'] as string, '--node-stale'),
  };
}

export async function run(v: FlagValues): Promise<number> {
  const cfg = collectorConfig(v);
  if (v.kubeconfig) throw new ConfigError('--kubeconfig: the Kubernetes pod watch is not built yet; use --pods-file');
  if (v.events === 'on') throw new ConfigError('--events=on needs --kubeconfig or in-cluster config, which is not built yet');
  const resolver: Resolver = v['pods-file'] ? loadPodsFile(v['pods-file'] as string) : new IpIndex();
  const log = createLogger('collector');
  const c = await runCollector(cfg, resolver, log);
  await untilSignal(log);
  await c.stop();
  return 0;
}
