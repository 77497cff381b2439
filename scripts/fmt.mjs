// `npm run fmt [-- FILE...]`: biome format --write, on the files named or the whole tree (biome.json
// says which files). `npm run lint` fails on any file that is not formatted.
import { spawnSync } from 'node:child_process';

const files = process.argv.slice(2);
const r = spawnSync('npx', ['biome', 'format', '--write', ...(files.length ? files : ['.'])], { stdio: 'inherit' });
process.exit(r.status ?? 1);
