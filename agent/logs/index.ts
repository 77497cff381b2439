// Container-log and kernel-log signatures for the agent: flags, start/stop, rules-file validation.
import path from 'node:path';
import type { Registry } from 'prom-client';
import { ConfigError, parseDuration, type FlagSpec } from '../../common/flags.js';
import type { Logger } from '../../common/log.js';
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

export const logFlags: Record<string, FlagSpec> = {
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
    type: 'string',
    arg: 'DURATION',
    default: '0',
    help: 'On the first start, read container logs already present from this far back (e.g. 10m); 0 reads only new lines. Later starts resume at saved offsets.',
  },
  'log-poll-interval': {
    type: 'string',
    arg: 'DURATION',
    default: '500ms',
    help: 'How often followed container log files are checked for new lines, rotation and truncation.',
  },
  'log-rescan-interval': {
    type: 'string',
    arg: 'DURATION',
    default: '10s',
    help: 'How often the container log dir is listed again (file events are only a hint).',
  },
};

export interface LogWatchDeps {
  log: Logger;
  stateDir: string;
  registry: Registry;
}

export interface LogWatch {
  stop(): Promise<void>;
  journalConsumers: JournalConsumer[];
}

export async function startLogWatch(values: Record<string, unknown>, sink: FindingSink, deps: LogWatchDeps): Promise<LogWatch> {
  const dir = str(values, 'container-log-dir') ?? '';
  const rulesFile = str(values, 'rules-file');
  const lookbackMs = duration(values, 'log-lookback', true);
  const pollMs = duration(values, 'log-poll-interval', false);
  const rescanMs = duration(values, 'log-rescan-interval', false);
  const rules = loadRules(rulesFile);

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

function str(values: Record<string, unknown>, flag: string): string | undefined {
  const v = values[flag];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw new ConfigError(`--${flag}: expected a string`);
  return v;
}

function duration(values: Record<string, unknown>, flag: string, zeroOk: boolean): number {
  const raw = str(values, flag) ?? (logFlags[flag].default as string);
  if (zeroOk && /^0+$/.test(raw.trim())) return 0;
  const ms = parseDuration(raw, `--${flag}`);
  if (!zeroOk && ms <= 0) throw new ConfigError(`--${flag}: must be more than 0`);
  return ms;
}
