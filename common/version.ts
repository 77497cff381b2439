import { readFileSync } from 'node:fs';

/** package.json version, read once (the bundled build sets NODEWARDEN_VERSION at build time instead). */
export const VERSION: string = process.env.NODEWARDEN_VERSION_OVERRIDE ?? (() => {
  try {
    return (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return '0.0.0';
  }
})();
