// The agent role: its flags (own ones, then each detector's group), their validation, and the run
// from flags to a stopped process. cli/commands/agent.ts only dispatches here.
import { hostname } from 'node:os';
import {
  ConfigError,
  parseListen,
  readFlags,
  type CommandSpec,
  type FlagSpecs,
  type FlagValues,
  flagGroup,
} from '../common/flags.js';
import { installLastResort } from '../common/guard.js';
import { configureLogging, createLogger, loggingFlags, type LogFormat } from '../common/log.js';
import { natsAuth, natsFlags } from '../common/nats-flags.js';
import { untilSignal } from '../common/process.js';
import { agentInboxPrefix } from '../common/subjects.js';
import { runAgent, type AgentConfig } from './agent.js';
import { runtimeDetector } from './cri/index.js';
import { bindDetector, type Detector } from './detector.js';
import { logsDetector } from './logs/index.js';
import { DEFAULT_DROP_PREFIXES } from './parse/packet-drop.js';
import { probesDetector } from './probes/index.js';

export const DETECTORS = [probesDetector, logsDetector, runtimeDetector] as const;

const ownFlags = {
  node: { type: 'string', arg: 'NAME', help: 'Node name (default: $NODE_NAME, then the hostname).' },
  'state-dir': {
    type: 'string',
    arg: 'DIR',
    default: '/var/lib/nodewarden',
    help: 'Cursor, spool and offsets live here.',
  },
  'metrics-listen': {
    type: 'string',
    arg: 'ADDR',
    help: 'Serve /metrics, /healthz, /readyz on HOST:PORT (default off).',
  },
  'heartbeat-interval': {
    type: 'duration',
    arg: 'DURATION',
    default: '10s',
    help: 'How often the agent reports it is alive.',
  },
} satisfies FlagSpecs;

const journalFlags = {
  'drop-prefix': {
    type: 'list',
    arg: 'P',
    default: DEFAULT_DROP_PREFIXES,
    help: 'Kernel log prefix that marks a packet drop.',
  },
  'journal-dir': {
    type: 'string',
    arg: 'DIR',
    help: 'Read journal files from DIR (journalctl -D) instead of the system journal.',
  },
  'journal-match': {
    type: 'list',
    arg: 'MATCH',
    default: ['_TRANSPORT=kernel'],
    help: 'journalctl match for the records to read.',
  },
  journalctl: { type: 'string', arg: 'PATH', default: 'journalctl', help: 'journalctl binary.' },
} satisfies FlagSpecs;

const outboxFlags = {
  window: { type: 'duration', arg: 'DURATION', default: '100ms', help: 'Coalescing window for identical flows.' },
  'max-hold': {
    type: 'duration',
    arg: 'DURATION',
    default: '30s',
    help: 'While NATS is away, spool the open window after this long.',
  },
  'spool-max-bytes': {
    type: 'bytes',
    arg: 'SIZE',
    default: '64Mi',
    help: 'Bound of the on-disk spool; the oldest data goes first.',
  },
} satisfies FlagSpecs;

export const agentFlags: FlagSpecs = {
  ...ownFlags,
  ...natsFlags,
  ...journalFlags,
  ...outboxFlags,
  ...loggingFlags,
  ...Object.assign({}, ...DETECTORS.map((d) => d.flags)),
};

export const agentGroups: CommandSpec['groups'] = [
  flagGroup('NATS', natsFlags),
  flagGroup('Kernel journal (packet drops)', journalFlags),
  flagGroup('Outbox and spool', outboxFlags),
  ...DETECTORS.map((d) => flagGroup(d.title, d.flags)),
  flagGroup('Logging', loggingFlags),
];

export function agentConfig(v: FlagValues, env: NodeJS.ProcessEnv = process.env): AgentConfig {
  const f = readFlags({ ...ownFlags, ...journalFlags, ...outboxFlags }, v);
  const node = f.node || env.NODE_NAME || hostname();
  if (!/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/i.test(node))
    throw new ConfigError(`--node: "${node}" is not a valid node name`);
  const prefixes = f['drop-prefix'];
  if (prefixes.length === 0) throw new ConfigError('--drop-prefix: at least one non-empty prefix is needed');
  return {
    node,
    nats: v.nats as string,
    natsAuth: { ...natsAuth(v), inboxPrefix: agentInboxPrefix(node) },
    stateDir: f['state-dir'],
    dropPrefixes: prefixes,
    journalctl: f.journalctl,
    journalDir: f['journal-dir'],
    journalMatch: f['journal-match'],
    metricsListen: f['metrics-listen'] ? parseListen(f['metrics-listen'], '--metrics-listen') : undefined,
    windowMs: f.window,
    maxHoldMs: f['max-hold'],
    spoolMaxBytes: f['spool-max-bytes'],
    heartbeatMs: f['heartbeat-interval'],
  };
}

export async function runAgentMain(v: FlagValues): Promise<number> {
  const cfg = agentConfig(v);
  // Invalid detector flags or rules files exit 2 before anything starts.
  const detectors: Detector[] = [
    bindDetector(probesDetector, v),
    bindDetector(logsDetector, v),
    bindDetector(runtimeDetector, v),
  ];
  const logging = readFlags(loggingFlags, v);
  configureLogging({ level: logging['log-level'], format: logging['log-format'] as LogFormat });
  const log = createLogger('agent');
  installLastResort(log);
  // Handlers first: a SIGTERM while starting must stop gracefully, not kill the process mid-start.
  const signalled = untilSignal(log);
  const agent = await runAgent(cfg, log, detectors);
  await signalled;
  await agent.stop();
  // A NATS connection still being attempted would keep the process alive after a clean stop.
  process.exit(0);
}
