// Drop-like lines from public reports and this VM's kernel (test/fixtures/kernel/real-world.txt, each
// with its source) through the real `nodewarden parse --explain`: prefixes only at a token boundary,
// only the kernel's lines in syslog text, quoted prefixes with the first field glued on, no PROTO=.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { runCli } from './support/procs.js';

interface Case {
  source: string;
  expect: string;
  line: string;
}
const cases: Case[] = [];
{
  let source = '',
    expect = '';
  for (const l of readFileSync(new URL('./fixtures/kernel/real-world.txt', import.meta.url), 'utf8').split('\n')) {
    if (l.startsWith('# source: ')) source = l.slice(10);
    else if (l.startsWith('# expect: ')) expect = l.slice(10);
    else if (l && !l.startsWith('#')) cases.push({ source, expect, line: l });
  }
}
const PREFIXES = ['calico-packet:', 'filter_IN_public_REJECT:', 'rpfilter_DROP:', 'RULE 24 -- DROP', 'IN-work:'];

test('real-world lines: the drops they are, and nothing from lines that only mention a prefix', async () => {
  assert.ok(cases.length >= 9);
  const r = await runCli(
    ['parse', '--explain', ...PREFIXES.flatMap((p) => ['--prefix', p])],
    cases.map((c) => c.line).join('\n') + '\n',
  );
  assert.is(r.code, 0, r.stderr);
  const drops = r.stdout
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  const wanted = cases.filter((c) => c.expect.startsWith('drop '));
  assert.is(drops.length, wanted.length, `drops: ${r.stdout}`);
  wanted.forEach((c, i) => {
    const fields = JSON.parse(c.expect.slice(5)) as Record<string, unknown>;
    for (const [k, v] of Object.entries(fields)) assert.equal(drops[i][k], v, `${c.source}: ${k}`);
  });
  cases.forEach((c, i) => {
    if (c.expect.startsWith('reject '))
      assert.match(r.stderr, new RegExp(`line ${i + 1}: ${c.expect.slice(7)}:`), c.source);
  });
  // The tagged program lines say why when asked (--explain); bare glued text is not even a candidate.
  assert.match(r.stderr, /not-kernel: the syslog tag is not "kernel"/);
});

test.run();
