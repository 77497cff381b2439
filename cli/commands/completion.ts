import { ConfigError, type CommandSpec, type FlagValues } from '../../common/flags.js';
import { bashCompletion, zshCompletion } from '../completion.js';

export const spec: CommandSpec = {
  name: 'completion',
  summary: 'Print a shell completion script (bash or zsh) for every command and flag.',
  usage: 'nodewarden completion bash|zsh',
  details: `Examples:
  # bash, this shell only; or for good: nodewarden completion bash > /etc/bash_completion.d/nodewarden
  source <(nodewarden completion bash)

  # zsh (after compinit)
  source <(nodewarden completion zsh)`,
  flags: {},
};

export async function run(_v: FlagValues, positionals: string[] = []): Promise<number> {
  if (positionals.length !== 1 || !['bash', 'zsh'].includes(positionals[0]))
    throw new ConfigError('expected one shell: bash or zsh (see nodewarden completion --help)');
  // The command list lives in main.ts, which imports this module: loaded when used, not at start.
  const { commands } = await import('../main.js');
  const specs = commands.map((c) => c.spec);
  process.stdout.write(positionals[0] === 'bash' ? bashCompletion(specs) : zshCompletion(specs));
  return 0;
}
