// npm run release-check: the decision over the collected versions (pure), the readers it uses, and
// one real run of scripts/image/release-check.ts on a scratch copy of the repository whose
// package.json says another version than everything else (it must fail and name each place).
// Run: node --import tsx test/release-check.test.ts
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { changelogVersion, imageTags, report, verdict, type Found } from '../scripts/image/versions.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const at = (what: string, version: string | undefined, expected?: string): Found => ({
  what,
  version,
  from: 'test',
  expected,
});

test('verdict: all agree -> ok; each disagreement, missing value and wrong revision is named', () => {
  assert.equal(
    verdict('0.1.0', [at('bundle', '0.1.0'), at('image label version', '0.1.0'), at('revision', 'abc', 'abc')]),
    { ok: true, expected: '0.1.0', problems: [] },
  );
  const v = verdict('0.1.0', [
    at('bundle', '0.1.0'),
    at('Helm chart appVersion', '0.0.9'),
    at('kustomize images newTag', undefined),
    at('image label revision', 'abc', 'def'),
  ]);
  assert.is(v.ok, false);
  assert.equal(v.problems, [
    'Helm chart appVersion is 0.0.9, package.json says 0.1.0 (test)',
    'kustomize images newTag: nothing found (test)',
    'image label revision is abc, expected def (test)',
  ]);
  assert.match(
    report(v, [at('bundle', '0.1.0'), at('Helm chart appVersion', '0.0.9')]),
    /ok {3}bundle[\s\S]*FAIL Helm chart appVersion[\s\S]*release-check: FAILED\n {2}- Helm chart appVersion is 0\.0\.9/,
  );
  assert.is(verdict('0.1', [at('x', '0.1')]).ok, false, 'not a semantic version');
  assert.is(verdict('0.1.0', []).ok, false, 'nothing checked is no pass');
  assert.match(
    report(verdict('1.2.3-rc.1', [at('x', '1.2.3-rc.1')]), [at('x', '1.2.3-rc.1')]),
    /release-check: OK — 1 places say 1\.2\.3-rc\.1/,
  );
});

test("readers: the changelog's top released section, image tags in manifests", () => {
  assert.is(
    changelogVersion('# Changelog\n\n## [Unreleased]\n\n## [0.2.0] - 2026-12-24\n\n## [0.1.0] - 2026-12-03\n'),
    '0.2.0',
  );
  assert.is(changelogVersion('## [0.1.0] - Unreleased\n'), '0.1.0');
  assert.is(changelogVersion('# nothing\n'), undefined);
  const y =
    'containers:\n  - image: ghcr.io/nodewarden/nodewarden:0.1.0\n  - image: "ghcr.io/nodewarden/nodewarden:0.1.1"\n  - image: nats:2.15.3-alpine\n  - image: ghcr.io/nodewarden/nodewarden-other:9\n';
  assert.equal(imageTags(y, 'ghcr.io/nodewarden/nodewarden'), ['0.1.0', '0.1.1']);
});

test('a real run on a copy whose package.json says 9.9.9: exit 1, every other place named', () => {
  if (!existsSync(join(ROOT, 'dist', 'nodewarden.mjs'))) {
    const b = spawnSync(process.execPath, [join(ROOT, 'scripts', 'build.mjs')], { encoding: 'utf8', timeout: 180_000 });
    assert.is(b.status, 0, b.stderr);
  }
  const tree = mkdtempSync(join(tmpdir(), 'nw-release-check-'));
  try {
    mkdirSync(join(tree, 'scripts'));
    cpSync(join(ROOT, 'scripts', 'image'), join(tree, 'scripts', 'image'), { recursive: true });
    for (const e of ['node_modules', 'common', 'dist', 'deploy', 'package-lock.json', 'CHANGELOG.md'])
      symlinkSync(join(ROOT, e), join(tree, e));
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
    writeFileSync(join(tree, 'package.json'), JSON.stringify({ ...pkg, version: '9.9.9' }));
    const r = spawnSync(
      process.execPath,
      ['--import', 'tsx', join(tree, 'scripts', 'image', 'release-check.ts'), '--no-image'],
      { cwd: tree, encoding: 'utf8', timeout: 60_000 },
    );
    assert.is(r.status, 1, r.stdout + r.stderr);
    const want = pkg.version;
    for (const what of [
      'package-lock.json version',
      'bundle: nodewarden --version',
      'kustomize images newTag',
      'image tag in deploy/agent.yaml',
      'Dockerfile ARG VERSION',
      'CHANGELOG.md top section',
    ]) {
      assert.ok(r.stdout.includes(`- ${what} is ${want}, package.json says 9.9.9`), `${what} named:\n${r.stdout}`);
    }
    assert.match(r.stdout, /- image: nothing found \(not built \(--no-image\)\)/, 'a skipped image is not a pass');
    const usage = spawnSync(
      process.execPath,
      ['--import', 'tsx', join(tree, 'scripts', 'image', 'release-check.ts'), '--bogus'],
      { cwd: tree, encoding: 'utf8', timeout: 60_000 },
    );
    assert.is(usage.status, 2, usage.stderr);
  } finally {
    rmSync(tree, { recursive: true, force: true });
  }
});

test.run();
