// `nodewarden <command>`: dispatch only.
import { ConfigError, parseCommand, renderHelp, type CommandSpec, type FlagValues } from '../common/flags.js';
import { versionLine } from '../common/version.js';
import * as agent from './commands/agent.js';
import * as collector from './commands/collector.js';
import * as parse from './commands/parse.js';
import * as drops from './commands/drops.js';
import * as findings from './commands/findings.js';
import * as nodes from './commands/nodes.js';
import * as runtime from './commands/runtime.js';
import * as explain from './commands/explain.js';
import * as auth from './commands/auth.js';
import * as version from './commands/version.js';
import * as completion from './commands/completion.js';

export interface Command {
  spec: CommandSpec;
  run(v: FlagValues, positionals: string[]): Promise<number>;
}

export const commands: Command[] = [
  agent,
  collector,
  auth,
  parse,
  drops,
  findings,
  nodes,
  runtime,
  explain,
  version,
  completion,
];

function usage(): string {
  const w = Math.max(...commands.map((c) => c.spec.name.length)) + 3;
  return [
    'Usage: nodewarden <command> [flags]',
    '',
    'Kubernetes node network diagnostics: kernel packet drops named by pod, node faults, Events.',
    '',
    'Commands:',
    ...commands.map((c) => `  ${c.spec.name.padEnd(w)}${c.spec.summary}`),
    '',
    'Run "nodewarden <command> --help" for its flags. Every flag can also be set as NODEWARDEN_<FLAG>.',
    '',
  ].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage());
    return name === undefined ? 2 : 0;
  }
  if (name === '--version') {
    process.stdout.write(`${versionLine()}\n`);
    return 0;
  }
  const cmd = commands.find((c) => c.spec.name === name);
  if (!cmd) {
    process.stderr.write(
      `nodewarden: unknown command "${name}" (commands: ${commands.map((c) => c.spec.name).join(', ')})\n`,
    );
    return 2;
  }
  try {
    const { values, positionals, help } = parseCommand(cmd.spec, rest);
    if (help) {
      process.stdout.write(renderHelp(cmd.spec));
      return 0;
    }
    return await cmd.run(values, positionals);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`nodewarden ${name}: ${err.message}\n`);
      return 2;
    }
    process.stderr.write(`nodewarden ${name}: ${(err as Error).message}\n`);
    return 1;
  }
}
