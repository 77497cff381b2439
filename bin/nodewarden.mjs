#!/usr/bin/env node
// Runs the bundled build when present (container image), else the TypeScript sources through tsx.
import { existsSync } from 'node:fs';

const bundle = new URL('../dist/nodewarden.mjs', import.meta.url);
let main;
if (existsSync(bundle)) {
  ({ main } = await import(bundle.href));
} else {
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import('../cli/main.ts'));
}
process.exitCode = await main(process.argv.slice(2));
