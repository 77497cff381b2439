// `npm run fmt -- FILE...`: biome format --write on the files named. Without files it refuses: the
// existing tree is not biome-formatted, and reformatting all of it would conflict with every open branch.
import { spawnSync } from 'node:child_process';

const files = process.argv.slice(2);
if (files.length === 0) {
  process.stderr.write('usage: npm run fmt -- FILE... (formats only the files named; new code is formatted as it is written)\n');
  process.exit(2);
}
const r = spawnSync('npx', ['biome', 'format', '--write', ...files], { stdio: 'inherit' });
process.exit(r.status ?? 1);
