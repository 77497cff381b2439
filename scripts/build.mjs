// Bundles the CLI (both roles) into one ESM file, dist/nodewarden.mjs: fast start, small image.
// `node scripts/build.mjs bench` also bundles the benchmark, so it measures what production runs.
import { build } from 'esbuild';
import { readFileSync } from 'node:fs';

const root = new URL('..', import.meta.url).pathname;
const { version } = JSON.parse(readFileSync(`${root}package.json`, 'utf8'));
const common = {
  bundle: true, platform: 'node', target: 'node20', format: 'esm', sourcemap: 'linked', logLevel: 'warning',
  // CommonJS dependencies (pino, protobufjs, prom-client) call require() inside an ES module bundle.
  banner: { js: "import { createRequire as __nwCreateRequire } from 'node:module'; const require = __nwCreateRequire(import.meta.url);" },
  define: { 'process.env.NODEWARDEN_VERSION_OVERRIDE': JSON.stringify(version) },
};
await build({ ...common, entryPoints: [`${root}cli/entry.ts`], outfile: `${root}dist/nodewarden.mjs` });
if (process.argv.includes('bench')) await build({ ...common, entryPoints: [`${root}bench/run.ts`], outfile: `${root}dist/bench.mjs` });
