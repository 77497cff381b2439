// Generates static protobufjs code for proto/**/*.proto into proto/gen/ (offline: pbjs/pbts from npm).
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, statSync, existsSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const bin = (n) => join(root, 'node_modules', '.bin', n);
if (!existsSync(bin('pbjs'))) {
  console.error('gen-proto: node_modules/.bin/pbjs missing; run npm ci first');
  process.exit(1);
}
const out = join(root, 'proto', 'gen');
mkdirSync(out, { recursive: true });

const targets = [
  { name: 'nodewarden', dir: join(root, 'proto', 'nodewarden') },
  { name: 'cri', dir: join(root, 'proto', 'cri') },
];
const protos = (dir) =>
  !existsSync(dir)
    ? []
    : readdirSync(dir, { recursive: true })
        .map((f) => join(dir, String(f)))
        .filter((f) => f.endsWith('.proto') && statSync(f).isFile());

for (const t of targets) {
  const files = protos(t.dir);
  if (files.length === 0) continue;
  const js = join(out, `${t.name}.js`);
  execFileSync(
    bin('pbjs'),
    [
      '-t',
      'static-module',
      '-w',
      'es6',
      '-r',
      t.name,
      '--force-number',
      '--no-verify',
      '--no-delimited',
      '--no-beautify',
      '-o',
      js,
      ...files,
    ],
    { stdio: 'inherit' },
  );
  execFileSync(bin('pbts'), ['-o', join(out, `${t.name}.d.ts`), js], { stdio: 'inherit' });
}
