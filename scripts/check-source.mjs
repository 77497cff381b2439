// What biome cannot check (biome.json does the rest; CONTRIBUTING.md says why):
//   1. cli/ only dispatches: from agent/ and collector/ it imports their role entries (agent/main.ts,
//      collector/main.ts, collector/auth/main.ts) or types.
//      KNOWN lists the files that still do more, each with its reason; a new one fails.
//   2. Lines over 120 columns: the formatter (npm run fmt, biome, lineWidth 120) cannot shorten a string,
//      template or regular expression literal, and splitting one (a help text, a message, a real kernel
//      line in a test) makes it ungreppable, so lines holding one are exempt, as with ESLint max-len's
//      ignoreStrings/ignoreTemplateLiterals/ignoreRegExpLiterals. Every other long line is an error.
// Exit 1 on a violation of either.
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const MAX = 120;
/** A string, template or regular expression literal somewhere on the line (a heuristic, as max-len's). */
const LITERAL =
  /'(?:[^'\\\n]|\\.)*'|"(?:[^"\\\n]|\\.)*"|`|(?:^|[(,:=!&|?{;[]|return)\s*\/(?![/*])(?:[^/\\\n]|\\.)+\/[dgimsuvy]*/;
const KNOWN = {
  'cli/commands/parse.ts': 'an offline tool: runs the agent parsers on stdin',
};

function* files(dir) {
  for (const e of readdirSync(join(root, dir), { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) {
      if (e.name !== 'gen' && e.name !== 'node_modules') yield* files(p);
    } else if (/\.(ts|mjs)$/.test(e.name)) yield p;
  }
}

let errors = 0;
let long = 0;
const longByDir = {};
for (const dir of ['agent', 'collector', 'common', 'cli', 'proto', 'test', 'bench', 'scripts', 'bin']) {
  for (const f of files(dir)) {
    const text = readFileSync(join(root, f), 'utf8');
    const lines = text.split('\n');
    lines.forEach((l, i) => {
      if (l.length > MAX && !LITERAL.test(l)) {
        long++;
        longByDir[dir] = (longByDir[dir] ?? 0) + 1;
        if (process.argv.includes('--list-lines')) console.log(`${f}:${i + 1}: ${l.length} columns`);
      }
    });
    if (dir !== 'cli' || KNOWN[relative(root, join(root, f))]) continue;
    for (const m of text.matchAll(/^import\s+(type\s+)?[^;]*?from\s+'((?:\.\.\/)+(agent|collector)\/[^']+)'/gms)) {
      if (m[1] || /\/(agent|collector)\/(auth\/)?main\.js$/.test(m[2])) continue;
      // `import { type A, type B }` is type-only too
      const names = /\{([^}]*)\}/.exec(m[0])?.[1];
      if (names && names.split(',').every((n) => !n.trim() || n.trim().startsWith('type '))) continue;
      console.error(`${f}: imports ${m[2]}: cli/ only dispatches (import ${m[3]}/main.js, or types)`);
      errors++;
    }
  }
}
if (long)
  console.error(
    `error: ${long} lines over ${MAX} columns without a literal that makes them long (${Object.entries(longByDir)
      .map(([d, n]) => `${d} ${n}`)
      .join(', ')}); --list-lines lists them`,
  );
process.exitCode = errors || long ? 1 : 0;
