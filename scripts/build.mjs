// Bundles the CLI (both roles) into one ESM file, dist/nodewarden.mjs: fast start, small image.
// `node scripts/build.mjs bench` also bundles the benchmark, so it measures what production runs.
import { build } from 'esbuild';
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tsImport } from 'tsx/esm/api';

const root = new URL('..', import.meta.url).pathname;
const { version } = JSON.parse(readFileSync(`${root}package.json`, 'utf8'));
// NODEWARDEN_REVISION: for builds without .git (deploy/Dockerfile passes its REVISION build argument).
const revision =
  process.env.NODEWARDEN_REVISION ||
  (() => {
    try {
      return execFileSync('git', ['rev-parse', '--short=12', 'HEAD'], {
        cwd: root,
        stdio: ['ignore', 'pipe', 'ignore'],
      })
        .toString()
        .trim();
    } catch {
      return 'unknown';
    }
  })();
// The web view's assets, built once here and embedded (collector/web/assets.ts), so the image needs no esbuild.
const { buildWebAssets } = await tsImport('../collector/web/build.ts', import.meta.url);
const webAssets = JSON.stringify(await buildWebAssets());
// ...and the bundle leaves out the builder that source checkouts use instead (and esbuild with it).
const webBuilderStub = {
  name: 'web-builder-stub',
  setup(b) {
    b.onResolve({ filter: /^\.\/build\.js$/ }, (a) =>
      a.importer.endsWith('/collector/web/assets.ts') ? { path: 'web-build', namespace: 'stub' } : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: 'stub' }, () => ({
      contents: "export function buildWebAssets() { throw new Error('web assets are embedded in the bundle'); }",
      loader: 'js',
    }));
  },
};
const common = {
  bundle: true,
  platform: 'node',
  target: 'node26',
  format: 'esm',
  sourcemap: 'linked',
  logLevel: 'warning',
  // CommonJS dependencies (pino, protobufjs, prom-client) call require() inside an ES module bundle.
  plugins: [webBuilderStub],
  banner: {
    js: "import { createRequire as __nwCreateRequire } from 'node:module'; const require = __nwCreateRequire(import.meta.url);",
  },
  define: {
    'process.env.NODEWARDEN_VERSION_OVERRIDE': JSON.stringify(version),
    'process.env.NODEWARDEN_REVISION_OVERRIDE': JSON.stringify(revision),
    'process.env.NODEWARDEN_WEB_ASSETS': JSON.stringify(webAssets),
  },
};
await build({ ...common, entryPoints: [`${root}cli/entry.ts`], outfile: `${root}dist/nodewarden.mjs` });
if (process.argv.includes('bench'))
  await build({ ...common, entryPoints: [`${root}bench/run.ts`], outfile: `${root}dist/bench.mjs` });
