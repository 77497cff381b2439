// Builds the web view's assets (docs/architecture.md#web-view): the browser code bundled by esbuild
// from client/main.ts, next to the static files in page/. Run once by scripts/build.mjs (the result is
// embedded in the production bundle) or, from a source checkout, on the first request for the page.
import { readFileSync } from 'node:fs';

/** Served path -> content type and body. The only paths the web view answers (see serve.ts). */
export type AssetTable = Record<string, { type: string; body: string }>;

const here = new URL('.', import.meta.url);
const page = (name: string) => readFileSync(new URL(`page/${name}`, here), 'utf8');

export async function buildWebAssets(): Promise<AssetTable> {
  // esbuild is a devDependency: present wherever this runs (a checkout, the image's build stage).
  const { build } = await import('esbuild');
  const out = await build({
    entryPoints: [new URL('client/main.ts', here).pathname],
    bundle: true,
    write: false,
    format: 'esm',
    platform: 'browser',
    target: ['chrome111', 'firefox115', 'safari16.4'],
    minify: true,
    legalComments: 'none',
    logLevel: 'silent',
  });
  return {
    '/': { type: 'text/html; charset=utf-8', body: page('index.html') },
    '/assets/app.js': { type: 'text/javascript; charset=utf-8', body: out.outputFiles[0].text },
    '/assets/app.css': { type: 'text/css; charset=utf-8', body: page('app.css') },
    '/assets/icon.svg': { type: 'image/svg+xml', body: page('icon.svg') },
  };
}
