// Container-log and kernel-log signatures for the agent: flags, start/stop, rules-file validation.
import path from 'node:path';
import type { Registry } from 'prom-client';
import { readFlags, type FlagSpecs } from '../../common/flags.js';
import type { Logger } from '../../common/log.js';
import type { DetectorContract } from '../detector.js';
import type { FindingSink } from '../findings.js';
import type { JournalConsumer } from '../sources/journal-consumer.js';
import { BUILTIN_RULES } from './builtin-rules.js';
import { RuleSet } from './matcher.js';
import { createLogMetrics } from './metrics.js';
import { OFFSETS_FILE } from './offsets.js';
import { createOomConsumer } from './oom.js';
import { compileRules, loadRulesFile, mergeRules, type CompiledRule } from './rules.js';
import { SignatureReporter } from './signatures.js';
import { LogTailer } from './tailer.js';

export const logFlags = {
  'container-log-dir': {
    type: 'string',
    arg: 'DIR',
    default: '/var/log/containers',
    help: 'Container log files to follow (kubelet symlinks into /var/log/pods); an empty value turns container log signatures off.',
  },
  'rules-file': {
    type: 'string',
    arg: 'FILE',
    help: 'Extra log signature rules, YAML or JSON (kind, severity, pattern, scope, message, dedupWindow), checked at start.',
  },
  'log-lookback': {
    type: 'duration',
    zero: true,
    arg: 'DURATION',
    default: '0',
    help: 'On the first start, read container logs already present from this far back (e.g. 10m); 0 reads only new lines. Later starts resume at saved offsets.',
  },
  'log-poll-interval': {
    type: 'duration',
    min: 1,
    arg: 'DURATION',
    default: '500ms',
    help: 'How often followed container log files are checked for new lines, rotation and truncation.',
  },
  'log-rescan-interval': {
    type: 'duration',
    min: 1,
    arg: 'DURATION',
    default: '10s',
    help: 'How often the container log dir is listed again (file events are only a hint).',
  },
} satisfies FlagSpecs;

export interface LogWatchDeps {
  log: Logger;
  stateDir: string;
  registry: Registry;
}

export interface LogWatch {
  stop(): Promise<void>;
  journalConsumers: JournalConsumer[];
}

export interface LogWatchConfig {
  /** '' turns container log signatures off. */
  dir: string;
  rulesFile?: string;
  rules: CompiledRule[];
  lookbackMs: number;
  pollMs: number;
  rescanMs: number;
}

/** Flags -> configuration, the rules file loaded and checked (ConfigError names the rule and field). */
export function logWatchConfig(values: Record<string, unknown>): LogWatchConfig {
  const f = readFlags(logFlags, values);
  const rulesFile = f['rules-file'];
  return {
    dir: f['container-log-dir'],
    rulesFile,
    rules: loadRules(rulesFile),
    lookbackMs: f['log-lookback'],
    pollMs: f['log-poll-interval'],
    rescanMs: f['log-rescan-interval'],
  };
}

export const logsDetector: DetectorContract<LogWatchConfig> = {
  title: 'Log signatures (container logs, kernel OOM kills)',
  flags: logFlags,
  configure: logWatchConfig,
  start: (cfg, sink, deps) => runLogWatch(cfg, sink, deps),
};

export async function startLogWatch(
  values: Record<string, unknown>,
  sink: FindingSink,
  deps: LogWatchDeps,
): Promise<LogWatch> {
  return runLogWatch(logWatchConfig(values), sink, deps);
}

async function runLogWatch(cfg: LogWatchConfig, sink: FindingSink, deps: LogWatchDeps): Promise<LogWatch> {
  const { dir, rulesFile, rules, lookbackMs, pollMs, rescanMs } = cfg;

  let tailer: LogTailer | undefined;
  const metrics = createLogMetrics(deps.registry, () => tailer?.files().length ?? 0);
  const reporter = new SignatureReporter(new RuleSet(rules), sink, metrics);
  const journalConsumers = [createOomConsumer((kill) => reporter.onOomKill(kill))];

  if (dir === '') {
    sink.status('container-logs', false, 'container log signatures are off (--container-log-dir is empty)');
  } else {
    tailer = new LogTailer({
      dir: path.resolve(dir),
      stateFile: path.join(deps.stateDir, OFFSETS_FILE),
      lookbackMs,
      pollMs,
      rescanMs,
      log: deps.log,
      count: metrics.count,
      lineHandler: (file) => reporter.handlerFor(file),
      status: (ok, detail) => sink.status('container-logs', ok, detail),
    });
    await tailer.start();
  }
  deps.log.info({ dir, rules: rules.length, rulesFile }, 'log signatures started');
  return {
    journalConsumers,
    async stop() {
      await tailer?.stop();
    },
  };
}

/**
 * Checks a rules file without starting anything; returns the names of the rules in effect
 * (built-in and user). Throws a ConfigError whose message is one line naming the rule and field.
 */
export function validateRulesFile(file: string): string[] {
  return loadRules(file).map((r) => r.name);
}

function loadRules(file: string | undefined): CompiledRule[] {
  const builtin = compileRules(BUILTIN_RULES, 'built-in rules');
  if (!file) return builtin;
  return mergeRules(
    builtin,
    loadRulesFile(
      file,
      builtin.map((r) => r.name),
    ),
  );
}
