#!/usr/bin/env node
// In a checkout (sources and tsx present) runs the TypeScript sources, so a build can never be
// stale; in the container image (only dist/) runs the bundle made by `npm run build`.
import { existsSync } from 'node:fs';

const source = new URL('../cli/entry.ts', import.meta.url);
const tsx = new URL('../node_modules/tsx/package.json', import.meta.url);
if (existsSync(source) && existsSync(tsx)) {
  const { register } = await import('tsx/esm/api');
  register();
  await import(source.href);
} else {
  await import(new URL('../dist/nodewarden.mjs', import.meta.url).href);
}
