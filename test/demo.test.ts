// `npm run demo` as users run it: piped (CI) it shows drops, a finding, nodes and the web view URL,
// exits by itself and prints no ANSI codes; on a terminal (a real pty via script(1)) it follows drops
// live until Ctrl-C, which exits 0 and removes what it started; NO_COLOR keeps even that plain.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { journalRemoteAvailable } from './support/journal.js';
import { waitFor } from './support/wait.js';

if (!journalRemoteAvailable()) throw new Error('systemd-journal-remote missing: run npm test (installs it as root)');

const DEMO = new URL('../scripts/demo.ts', import.meta.url).pathname;
const ESC = '\x1b';

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv) {
  const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let out = '';
  child.stdout.on('data', (c: Buffer) => {
    out += c.toString();
  });
  child.stderr.on('data', (c: Buffer) => {
    out += c.toString();
  });
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return { child, output: () => out, exited };
}

/** The collector's URL the demo printed; after the demo it must not answer any more. */
const apiOf = (out: string) => /collector API on (http:\/\/127\.0\.0\.1:\d+)/.exec(out)?.[1];
async function gone(api: string | undefined): Promise<boolean> {
  if (!api) return false;
  try {
    await fetch(`${api}/healthz`, { signal: AbortSignal.timeout(2000) });
    return false;
  } catch {
    return true;
  }
}

test('piped: drops, a finding, nodes and the web view URL; exits by itself with no ANSI codes', async () => {
  // NO_COLOR empty (= unset, per no-color.org) on purpose: the pipe alone must be enough.
  const d = run(process.execPath, ['--import', 'tsx', DEMO], { NO_COLOR: '' });
  const t = setTimeout(() => d.child.kill('SIGINT'), 150_000);
  const code = await d.exited;
  clearTimeout(t);
  const out = d.output();
  assert.is(code, 0, out);
  assert.not.ok(out.includes(ESC), `ESC in piped output:\n${JSON.stringify(out.slice(0, 400))}`);
  assert.match(out, /^==> nodewarden drops -A\nLAST SEEN\s+COUNT/m);
  assert.match(out, /shop\/web-0 \(10\.244\.0\.4\)\s+shop\/db-0 \(10\.244\.1\.6\)\s+12865/);
  assert.match(out, /^ACTIVE\s+critical\s+demo-node\s+EtcdNoSpace\s+kube-system\/etcd-demo-node\s/m);
  assert.match(out, /^demo-node\s+NO\s+1\s/m);
  assert.match(out, /web view: http:\/\/127\.0\.0\.1:\d+\//);
  assert.match(out, /done; everything the demo started is gone/);
  assert.ok(await gone(apiOf(out)), 'the collector is stopped');
});

test('on a terminal: follows drops live until Ctrl-C, exits 0, cleans up; NO_COLOR keeps it plain', async () => {
  if (!existsSync('/usr/bin/script')) throw new Error('script(1) missing (util-linux/bsdutils)');
  // script(1) runs the demo on a real pty; \x03 on its stdin is a real Ctrl-C from the line discipline.
  // script runs the command through $SHELL; dash (CI's /bin/sh) stays the demo's parent unless told to
  // exec, and dies of the same Ctrl-C, so script would report 130 while the demo is still cleaning up.
  const d = run('script', ['-qfec', `exec ${process.execPath} --import tsx ${DEMO}`, '/dev/null'], {
    NO_COLOR: '1',
    TERM: 'dumb',
    SHELL: '/bin/sh',
  });
  try {
    await waitFor(
      `the live table\n${d.output()}`,
      () => /drops -A -w[^\n]*\n[^\n]*LAST SEEN\s+COUNT/.test(d.output()),
      120_000,
      200,
    );
    // The traffic repeats every 5 s: a row after the initial table is the follow at work.
    const rowsAfterHeader = () =>
      d
        .output()
        .split(/drops -A -w[^\n]*\n/)[1]
        .split('\n')
        .filter((l) => /demo-node\s+TCP/.test(l)).length;
    const initial = rowsAfterHeader();
    await waitFor(`a live row\n${d.output()}`, () => rowsAfterHeader() > initial, 60_000, 200);
    d.child.stdin.write('\x03');
    const code = await Promise.race([d.exited, new Promise<'hung'>((r) => setTimeout(() => r('hung'), 60_000))]);
    const out = d.output();
    assert.is(code, 0, out.slice(-2000));
    assert.not.ok(out.includes(ESC), 'NO_COLOR: no ESC even on a terminal');
    assert.match(out, /stopping: removing everything the demo started/);
    assert.ok(await gone(apiOf(out)), 'the collector is stopped');
  } finally {
    d.child.kill('SIGKILL');
  }
});

test.run();
