import { hostname } from 'node:os';
import { ConfigError, parseDuration, parseListen, type CommandSpec, type FlagValues } from '../../common/flags.js';
import { createLogger } from '../../common/log.js';
import { installLastResort } from '../../common/guard.js';
import { DEFAULT_DROP_PREFIXES } from '../../agent/parse/packet-drop.js';
import { runAgent, type AgentConfig, type Detector } from '../../agent/agent.js';
import { probeFlags, startProbes } from '../../agent/probes/index.js';
import { probeConfig } from '../../agent/probes/config.js';
import { logFlags, startLogWatch, validateRulesFile } from '../../agent/logs/index.js';
import { runtimeFlags, startRuntime } from '../../agent/cri/index.js';
import { natsFlags, natsAuth } from '../shared-flags.js';
import { agentInboxPrefix } from '../../common/subjects.js';
import { parseBytes, untilSignal } from '../process.js';

export const spec: CommandSpec = {
  name: 'agent',
  summary: 'Run the node agent: read kernel drop lines from the journal and node facts, stream them to NATS.',
  details: `Needs no Kubernetes API access. Reads the systemd journal through journalctl (kernel
records by default), keeps its journal cursor and an on-disk spool under --state-dir so that a
restart or a NATS outage loses and repeats nothing.`,
  flags: {
    node: { type: 'string', arg: 'NAME', help: 'Node name (default: $NODE_NAME, then the hostname).' },
    ...natsFlags,
    'state-dir': { type: 'string', arg: 'DIR', default: '/var/lib/nodewarden', help: 'Cursor, spool and offsets live here.' },
    'drop-prefix': { type: 'list', arg: 'P', default: DEFAULT_DROP_PREFIXES, help: 'Kernel log prefix that marks a packet drop.' },
    'journal-dir': { type: 'string', arg: 'DIR', help: 'Read journal files from DIR (journalctl -D) instead of the system journal.' },
    'journal-match': { type: 'list', arg: 'MATCH', default: ['_TRANSPORT=kernel'], help: 'journalctl match for the records to read.' },
    journalctl: { type: 'string', arg: 'PATH', default: 'journalctl', help: 'journalctl binary.' },
    'metrics-listen': { type: 'string', arg: 'ADDR', help: 'Serve /metrics, /healthz, /readyz on HOST:PORT (default off).' },
    window: { type: 'string', arg: 'DURATION', default: '100ms', help: 'Coalescing window for identical flows.' },
    'max-hold': { type: 'string', arg: 'DURATION', default: '30s', help: 'While NATS is away, spool the open window after this long.' },
    'spool-max-bytes': { type: 'string', arg: 'SIZE', default: '64Mi', help: 'Bound of the on-disk spool; the oldest data goes first.' },
    'heartbeat-interval': { type: 'string', arg: 'DURATION', default: '10s', help: 'How often the agent reports it is alive.' },
    ...probeFlags,
    ...logFlags,
    ...runtimeFlags,
  },
};

export function agentConfig(v: FlagValues, env: NodeJS.ProcessEnv = process.env): AgentConfig {
  const node = (v.node as string | undefined) || env.NODE_NAME || hostname();
  if (!/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/i.test(node)) throw new ConfigError(`--node: "${node}" is not a valid node name`);
  const prefixes = (v['drop-prefix'] as string[]).filter((p) => p.length > 0);
  if (prefixes.length === 0) throw new ConfigError('--drop-prefix: at least one non-empty prefix is needed');
  return {
    node, nats: v.nats as string, natsAuth: { ...natsAuth(v), inboxPrefix: agentInboxPrefix(node) }, stateDir: v['state-dir'] as string,
    dropPrefixes: prefixes, journalctl: v.journalctl as string, journalDir: v['journal-dir'] as string | undefined,
    journalMatch: v['journal-match'] as string[],
    metricsListen: v['metrics-listen'] ? parseListen(v['metrics-listen'] as string, '--metrics-listen') : undefined,
    windowMs: parseDuration(v.window as string, '--window'), maxHoldMs: parseDuration(v['max-hold'] as string, '--max-hold'),
    spoolMaxBytes: parseBytes(v['spool-max-bytes'] as string, '--spool-max-bytes'),
    heartbeatMs: parseDuration(v['heartbeat-interval'] as string, '--heartbeat-interval'),
  };
}

export async function run(v: FlagValues): Promise<number> {
  const cfg = agentConfig(v);
  // Invalid probe flags or rules files exit 2 before anything starts.
  probeConfig(v);
  if (v['rules-file']) validateRulesFile(v['rules-file'] as string);
  const log = createLogger('agent');
  installLastResort(log);
  // Handlers first: a SIGTERM while starting must stop gracefully, not kill the process mid-start.
  const signalled = untilSignal(log);
  const detectors: Detector[] = [async (sink, deps) => startProbes(v, sink, deps), (sink, deps) => startLogWatch(v, sink, deps), startRuntime(v)];
  const agent = await runAgent(cfg, log, detectors);
  await signalled;
  await agent.stop();
  // A NATS connection still being attempted would keep the process alive after a clean stop.
  process.exit(0);
}
