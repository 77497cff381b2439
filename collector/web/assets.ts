// Where the web view's assets come from: embedded at bundle time (scripts/build.mjs defines
// NODEWARDEN_WEB_ASSETS, so the image needs no esbuild), else built from the sources once.
import type { AssetTable } from './build.js';

let table: Promise<AssetTable> | undefined;

function load(): Promise<AssetTable> {
  // After the bundle-time define this condition is a constant and esbuild drops the source branch
  // (and with it the import of esbuild): the bundle imports nothing outside Node.
  if (process.env.NODEWARDEN_WEB_ASSETS)
    return Promise.resolve(JSON.parse(process.env.NODEWARDEN_WEB_ASSETS) as AssetTable);
  return import('./build.js').then((m) => m.buildWebAssets());
}

export function webAssets(): Promise<AssetTable> {
  table ??= load();
  table.catch(() => {
    table = undefined;
  }); // a failed build is retried on the next request
  return table;
}
