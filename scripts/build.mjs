// Bundles the CLI (both roles) into one ESM file, dist/nodewarden.mjs: fast start, small image.
// `node scripts/build.mjs bench` also bundles the benchmark, so it measures what production runs.
import { build } from 'esbuild';
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

const root = new URL('..', import.meta.url).pathname;
const { version } = JSON.parse(readFileSync(`${root}package.json`, 'utf8'));
// NODEWARDEN_REVISION: for builds without .git (deploy/Dockerfile passes its REVISION build argument).
const revision = process.env.NODEWARDEN_REVISION || (() => {
  try { return execFileSync('git', ['rev-parse', '--short=12', 'HEAD'], { cwd: root, stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim(); } catch { return 'unknown'; }
})();
const common = {
  bundle: true, platform: 'node', target: 'node26', format: 'esm', sourcemap: 'linked', logLevel: 'warning',
  // CommonJS dependencies (pino, protobufjs, prom-client) call require() inside an ES module bundle.
  banner: { js: "import { createRequire as __nwCreateRequire } from 'node:module'; const require = __nwCreateRequire(import.meta.url);" },
  define: { 'process.env.NODEWARDEN_VERSION_OVERRIDE': JSON.stringify(version), 'process.env.NODEWARDEN_REVISION_OVERRIDE': JSON.stringify(revision) },
};
await build({ ...common, entryPoints: [`${root}cli/entry.ts`], outfile: `${root}dist/nodewarden.mjs` });
if (process.argv.includes('bench')) await build({ ...common, entryPoints: [`${root}bench/run.ts`], outfile: `${root}dist/bench.mjs` });
