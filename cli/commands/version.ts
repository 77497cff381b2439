import type { CommandSpec, FlagValues } from '../../common/flags.js';
import { VERSION, REVISION } from '../../common/version.js';
import { collectorClientFlags, getJson, checkOutput, noArgs } from '../shared-flags.js';
import { outputFlags, serialize } from '../output.js';

export const spec: CommandSpec = {
  name: 'version',
  summary: "Print the client's version and git revision, and the collector's (GET /api/v1/version).",
  usage: 'nodewarden version [--client] [--collector URL] [-o json|yaml]',
  details: `Like kubectl version: the client first; the collector's after it, or why it could not be asked
(then the exit code is 1). --client asks no one. "nodewarden --version" prints the client line only.

Examples:
  nodewarden version
  nodewarden version --client -o json`,
  flags: {
    ...collectorClientFlags,
    output: { ...outputFlags.output, arg: 'table|json|yaml', help: 'table (two lines), json or yaml.' },
    client: { type: 'boolean', help: "Only the client's version; do not ask the collector.", noEnv: true },
  },
};

interface Version {
  version: string;
  revision: string;
}

export async function run(v: FlagValues, positionals: string[] = []): Promise<number> {
  noArgs(spec.name, positionals);
  const output = checkOutput(v);
  const client: Version = { version: VERSION, revision: REVISION };
  let collector: Version | undefined;
  let error: string | undefined;
  if (!v.client) {
    try {
      collector = (await getJson(v, '/api/v1/version', {})) as Version;
    } catch (err) {
      error = (err as Error).message;
    }
  }
  if (output !== 'table') process.stdout.write(serialize({ client, ...(collector ? { collector } : {}) }, output));
  else {
    process.stdout.write(`Client Version: ${client.version} (revision ${client.revision})\n`);
    if (collector)
      process.stdout.write(
        `Collector Version: ${collector.version} (revision ${collector.revision}) at ${String(v.collector)}\n`,
      );
  }
  if (error) process.stderr.write(`nodewarden version: ${error}\n`);
  return error ? 1 : 0;
}
