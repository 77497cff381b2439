// What the container image relies on, checked without a Docker engine:
//  - scripts/build.mjs makes a bundle that runs from dist/ alone (the runtime stage copies nothing
//    else: no node_modules), for --help of every role and for a real collector talking to NATS;
//  - deploy/Dockerfile and /.dockerignore have the shape that guarantees it;
//  - the NATS StatefulSet's start script and config (as rendered by kustomize) run the built
//    nats-server with TLS and auth callout, accept any one-line password, and the collector's env
//    from the rendered Deployment logs in with it.
// Run: node --import tsx test/deploy-image.test.ts
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { builtinModules } from 'node:module';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { connect as natsConnect } from '@nats-io/transport-node';
import { createAccount } from '@nats-io/nkeys';
import { ensureKubeBins } from './support/kube.js';
import { natsServerBin } from './support/nats-callout.js';
import { freePort, waitFor } from './support/wait.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), 'nw-deploy-image-'));
/** What the runtime stage holds: /app/dist (bundle + map) and /app/bin (the `nodewarden` wrapper). */
const APP = join(tmp, 'app');
const BUNDLE = join(APP, 'dist', 'nodewarden.mjs');
const children = new Set<ChildProcess>();
let docs: any[] = [];

function run(
  cmd: string,
  args: string[],
  opts: { input?: string; cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
) {
  const r = spawnSync(cmd, args, {
    encoding: 'utf8',
    input: opts.input ?? '',
    cwd: opts.cwd,
    env: opts.env ?? process.env,
    timeout: opts.timeoutMs ?? 60_000,
  });
  return { code: r.status, stdout: r.stdout ?? '', stderr: (r.stderr ?? '') + (r.error ? String(r.error) : '') };
}

function start(
  cmd: string,
  args: string[],
  env: NodeJS.ProcessEnv,
): { child: ChildProcess; out: () => string; stop: () => Promise<void> } {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
  children.add(child);
  let out = '';
  child.stdout!.on('data', (c: Buffer) => {
    out = (out + c.toString()).slice(-20_000);
  });
  child.stderr!.on('data', (c: Buffer) => {
    out = (out + c.toString()).slice(-20_000);
  });
  const exited = new Promise<void>((r) =>
    child.once('exit', () => {
      children.delete(child);
      r();
    }),
  );
  return {
    child,
    out: () => out,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(t);
      }
    },
  };
}

/** Connects as a static NATS user over TLS; 'ok' or the server's refusal. */
async function natsLogin(port: number, ca: string, user: string, pass: string): Promise<string> {
  try {
    const nc = await natsConnect({
      servers: `tls://127.0.0.1:${port}`,
      user,
      pass,
      tls: { ca },
      maxReconnectAttempts: 0,
      timeout: 8000,
    });
    await nc.close();
    return 'ok';
  } catch (err) {
    return (err as Error).message;
  }
}

/** A CA and a server certificate for 127.0.0.1, the way deploy/README.md makes them for the Service name. */
function makeTls(dir: string): void {
  mkdirSync(dir, { recursive: true });
  const sh = (cmd: string) => {
    const r = run('sh', ['-ec', cmd], { cwd: dir });
    assert.is(r.code, 0, `${cmd}: ${r.stderr}`);
  };
  sh(
    'openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout ca.key -out ca.crt -days 1 -subj /CN=nodewarden-nats-ca 2>/dev/null',
  );
  sh(
    'openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout tls.key -out tls.csr -subj /CN=nats 2>/dev/null',
  );
  writeFileSync(join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  sh(
    'openssl x509 -req -in tls.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 1 -out tls.crt -extfile san.ext 2>/dev/null',
  );
}

test.before(async () => {
  const kubectl = `${await ensureKubeBins()}/kubectl`;
  const r = run(kubectl, ['kustomize', join(ROOT, 'deploy')]);
  assert.is(r.code, 0, r.stderr);
  docs = parseAllDocuments(r.stdout).map((d) => d.toJS());
});

test.after(async () => {
  for (const c of children) c.kill('SIGKILL');
  rmSync(tmp, { recursive: true, force: true });
});

test('scripts/build.mjs bundles everything: the bundle imports nothing but Node built-ins', () => {
  // Build from the current sources into a scratch tree (the repository's own dist/ is left alone:
  // other tests and the bench may be reading it). scripts/build.mjs resolves everything relative to
  // its own location, so a copy of it next to links to the sources builds exactly what
  // `npm run build` builds.
  const tree = join(tmp, 'tree');
  mkdirSync(join(tree, 'scripts'), { recursive: true });
  copyFileSync(join(ROOT, 'scripts', 'build.mjs'), join(tree, 'scripts', 'build.mjs'));
  for (const entry of ['package.json', 'node_modules', 'cli', 'agent', 'collector', 'common', 'proto'])
    symlinkSync(join(ROOT, entry), join(tree, entry));
  const b = run(process.execPath, [join(tree, 'scripts', 'build.mjs')], { cwd: tree, timeoutMs: 120_000 });
  assert.is(b.code, 0, `build failed: ${b.stderr}`);
  assert.ok(existsSync(join(tree, 'dist', 'nodewarden.mjs')));

  // the runtime stage: COPY dist/nodewarden.mjs(.map) and bin/nodewarden.mjs, nothing else
  mkdirSync(join(APP, 'dist'), { recursive: true });
  mkdirSync(join(APP, 'bin'));
  for (const f of ['nodewarden.mjs', 'nodewarden.mjs.map']) copyFileSync(join(tree, 'dist', f), join(APP, 'dist', f));
  copyFileSync(join(ROOT, 'bin', 'nodewarden.mjs'), join(APP, 'bin', 'nodewarden.mjs'));
  rmSync(tree, { recursive: true, force: true });
  assert.equal(readdirSync(join(APP, 'dist')).sort(), ['nodewarden.mjs', 'nodewarden.mjs.map']);

  // static import/export-from and require() specifiers: all built-ins (esbuild leaves externals as bare names)
  const code = readFileSync(BUNDLE, 'utf8');
  const builtins = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));
  const specs = new Set<string>();
  const id = `["']((?:node:)?[@a-z0-9][\\w@./-]*)["']`; // a module id, not any quoted text
  const re = new RegExp(`\\bfrom\\s*${id}|\\bimport\\s*${id}|\\b(?:require|__require|import)\\(\\s*${id}\\s*\\)`, 'gi');
  for (const m of code.matchAll(re)) specs.add(m[1] ?? m[2] ?? m[3]);
  assert.ok(specs.has('node:fs') || specs.has('fs'), "the scan finds the bundle's imports");
  const external = [...specs].filter((s) => !builtins.has(s));
  assert.equal(
    external,
    [],
    `the bundle loads modules from node_modules at run time: ${external.join(', ')} — the Dockerfile would have to copy them`,
  );
});

test('the bundle alone runs every role: --help, agent --help, collector --help, parse', () => {
  // cwd and NODE_PATH far from the repository: nothing can be picked up from its node_modules
  const env = { PATH: process.env.PATH, HOME: tmp, NODE_PATH: '' };
  for (const args of [
    ['--help'],
    ['agent', '--help'],
    ['collector', '--help'],
    ['auth', '--help'],
    ['parse', '--help'],
    ['drops', '--help'],
  ]) {
    const r = run(process.execPath, [BUNDLE, ...args], { cwd: APP, env });
    assert.is(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stdout, /^Usage: nodewarden/);
  }
  const line =
    'Nov 23 13:59:01 node-a kernel: calico-drop: IN=cali1 OUT=eth0 SRC=10.244.1.5 DST=10.244.2.6 LEN=60 TTL=63 PROTO=TCP SPT=40000 DPT=5432';
  const p = run(process.execPath, [BUNDLE, 'parse'], { cwd: APP, env, input: line + '\n' });
  assert.is(p.code, 0, p.stderr);
  const drop = JSON.parse(p.stdout);
  assert.equal([drop.src, drop.dst, drop.dstPort, drop.proto], ['10.244.1.5', '10.244.2.6', 5432, 'TCP']);
  // invalid config exits 2 with one line (docs/architecture.md#cli), also from the bundle
  const bad = run(process.execPath, [BUNDLE, 'collector', '--events', 'maybe'], { cwd: APP, env });
  assert.is(bad.code, 2, bad.stderr);
});

test('`nodewarden` in the image: /usr/local/bin/nodewarden -> /app/bin/nodewarden.mjs falls back to the bundle', () => {
  const link = join(tmp, 'usr-local-bin-nodewarden');
  symlinkSync(join(APP, 'bin', 'nodewarden.mjs'), link);
  const r = run(process.execPath, [link, '--help'], { cwd: tmp, env: { PATH: process.env.PATH } });
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /^Usage: nodewarden/);
});

test('deploy/Dockerfile: Node 26 build stage (npm ci, npm run build, pinned Node package) -> Debian runtime with journalctl + iptables, only dist/, non-root', () => {
  // The runtime stage's packages, user, entrypoint and labels are compared with scripts/image/recipe.ts in
  // test/image-recipe.test.ts.
  const df = readFileSync(join(ROOT, 'deploy', 'Dockerfile'), 'utf8');
  const lines = df
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  assert.ok(lines.includes('ARG NODE_IMAGE=node:26-bookworm-slim'), 'build stage on Node 26');
  const froms = lines.filter((l) => l.startsWith('FROM '));
  assert.is(froms.length, 2, 'two stages');
  assert.match(froms[0], /\$\{NODE_IMAGE\} AS build$/);
  assert.match(froms[1], /^FROM \$\{DEBIAN_IMAGE\} AS runtime$/);
  const stage = (i: number) =>
    lines.slice(lines.indexOf(froms[i]) + 1, i + 1 < froms.length ? lines.indexOf(froms[i + 1]) : undefined);
  const build = stage(0).join('\n');
  const runtime = stage(1);
  assert.match(build, /npm ci\b/);
  assert.match(build, /npm run build/);
  assert.match(
    build,
    /node \/tmp\/bundle-only\/dist\/nodewarden\.mjs collector --help/,
    'the build proves the bundle runs from dist/ alone',
  );
  const apt = runtime.find((l) => l.includes('apt-get install'))!;
  assert.ok(apt, 'runtime installs packages');
  assert.match(apt, /--no-install-recommends/);
  assert.match(apt, /rm -rf \/var\/lib\/apt\/lists/);
  const copies = runtime.filter((l) => l.startsWith('COPY'));
  assert.ok(copies.length > 0);
  for (const c of copies) {
    assert.match(c, /--from=build/, `runtime copies only from the build stage: ${c}`);
    assert.not.match(c, /node_modules/, 'no node_modules in the runtime image');
    const sources = c.split(/\s+/).filter((w) => w.startsWith('/'));
    for (const s of sources.slice(0, -1))
      assert.ok(
        s.startsWith('/src/dist/') || s === '/src/bin/nodewarden.mjs' || s.startsWith('/node/'),
        `runtime copies ${s}`,
      );
  }
});

test('/.dockerignore keeps what `npm ci` + `npm run build` need and leaves out installed, generated and VCS files', () => {
  const patterns = readFileSync(join(ROOT, '.dockerignore'), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  for (const p of ['.git', '**/node_modules', 'dist', 'proto/gen'])
    assert.ok(patterns.includes(p), `.dockerignore excludes ${p}`);
  // tsc --noEmit (part of npm run build) checks everything in tsconfig "include"
  const include: string[] = JSON.parse(readFileSync(join(ROOT, 'tsconfig.json'), 'utf8')).include;
  const needed = [
    'package.json',
    'package-lock.json',
    'tsconfig.json',
    'bin',
    'scripts',
    ...include.map((i) => i.split('/')[0]),
  ];
  for (const p of patterns) {
    assert.not.ok(p === '*' || p === '**', 'a catch-all pattern would need a maintained allow-list');
    const top = p.replace(/^\*\*\//, '').split('/')[0];
    if (p.includes('/') && !p.startsWith('**/')) continue; // a sub-path (proto/gen, bench/results.json)
    assert.not.ok(needed.includes(top), `.dockerignore drops ${p}, which the build stage needs`);
  }
});

test("NATS as rendered (start script + ConfigMap, built nats-server): TLS, any one-line password, the collector's env logs in, nobody else does", async () => {
  const sts = docs.find((d) => d.kind === 'StatefulSet' && d.metadata.name === 'nats');
  const nc = sts.spec.template.spec.containers[0];
  assert.equal(nc.command, ['/bin/sh', '-ec']);
  const natsPort = await freePort();
  const monPort = await freePort();
  const dir = join(tmp, 'nats');
  // the script and config as rendered, with only their paths and ports moved to this machine (each must be present)
  const move = (text: string, moves: [string, string][]) =>
    moves.reduce((t, [from, to]) => {
      assert.ok(t.includes(from), `rendered text contains "${from}"`);
      return t.split(from).join(to);
    }, text);
  const script = move(nc.args[0], [
    ['/etc/nats/auth/', `${dir}/auth/`],
    ['/run/nats/', `${dir}/run/`],
    ['/etc/nats/config/', `${dir}/config/`],
  ]);
  const conf = move(docs.find((d) => d.kind === 'ConfigMap' && d.metadata.name === 'nats-config').data['nats.conf'], [
    ['port: 4222', `listen: "127.0.0.1:${natsPort}"`],
    ['"127.0.0.1:8222"', `"127.0.0.1:${monPort}"`],
    ['/etc/nats/tls/', `${dir}/tls/`],
    ['"/data"', `"${dir}/data"`],
  ]);
  for (const d of ['auth', 'run', 'config']) mkdirSync(join(dir, d), { recursive: true });
  writeFileSync(join(dir, 'config', 'nats.conf'), conf);
  makeTls(join(dir, 'tls'));
  const ca = readFileSync(join(dir, 'tls', 'ca.crt'), 'utf8');
  const mounted = new Set(
    sts.spec.template.spec.volumes.find((v: any) => v.name === 'auth').secret.items.map((i: any) => i.path),
  );
  assert.equal(
    [...mounted].sort(),
    ['auth-password', 'collector-password', 'issuer-public-key'],
    'NATS gets the passwords and the issuer public key, never the seed',
  );
  const secret = (values: Record<string, string>) => {
    for (const [k, v] of Object.entries(values)) writeFileSync(join(dir, 'auth', k), v);
  };
  const issuer = createAccount().getPublicKey();
  // nats-server >= 2.11 (auth callout), the one the tests build; nats:*-alpine runs the script with busybox sh
  const env = { PATH: `${dirname(natsServerBin())}:${process.env.PATH}`, POD_NAME: 'nats-0' };
  const sh = run('sh', ['-c', 'command -v busybox']).code === 0 ? ['busybox', 'sh'] : ['sh'];
  // a hex value that nats.conf would read as a number (nats-server#3431); a boolean; quotes, backslash, $, #, spaces
  const passwords = ['1e5abc0d9f', 'true', `q"uo\\te $HOME #x {y}: z`];

  const collector = docs.find((d) => d.kind === 'Deployment' && d.metadata.name === 'nodewarden-collector').spec
    .template.spec.containers[0];
  const podsFile = join(tmp, 'pods.json');
  writeFileSync(podsFile, JSON.stringify({ kind: 'List', items: [] }));

  for (const pw of passwords) {
    rmSync(join(dir, 'data'), { recursive: true, force: true });
    secret({ 'auth-password': `auth-${pw}\n`, 'collector-password': `${pw}\n`, 'issuer-public-key': `${issuer}\n` });
    const nats = start(sh[0], [...sh.slice(1), '-ec', script], env);
    try {
      await waitFor(
        `nats-server ready with password ${JSON.stringify(pw)}`,
        () => /Server is ready/.test(nats.out()),
        15_000,
        50,
      ).catch((e: Error) => {
        throw new Error(`${e.message}\n--- nats output:\n${nats.out()}`);
      });
      assert.match(nats.out(), /Version:\s+2\.(1[1-9]|[2-9]\d)\./, 'nats-server >= 2.11');
      assert.is(await natsLogin(natsPort, ca, 'collector', pw), 'ok', `password ${JSON.stringify(pw)} accepted`);
      assert.match(await natsLogin(natsPort, ca, 'collector', pw + 'x'), /Authorization Violation/);
      // not a static user: the callout decides, and with no callout service running nobody gets in
      assert.match(await natsLogin(natsPort, ca, 'agent', pw), /Authorization Violation/);
      // the monitoring port answers on loopback only
      assert.match(nats.out(), new RegExp(`Starting http monitor on 127\\.0\\.0\\.1:${monPort}`));
      // sh exec'd nats-server in place: this PID's command line is the server's, and has no password
      const cmdline = readFileSync(`/proc/${nats.child.pid}/cmdline`, 'utf8').split('\0');
      assert.ok(
        cmdline.some((a) => /nats-server$/.test(a)),
        cmdline.join(' '),
      );
      assert.not.ok(
        cmdline.some((a) => a.includes(pw)),
        'the password is not on the command line',
      );
      if (pw !== passwords[passwords.length - 1]) continue;

      // the collector, from the bundle, with its env as rendered (files and NATS address moved here;
      // Events off: no cluster in this test)
      const apiPort = await freePort();
      const cenv: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: tmp };
      for (const e of collector.env) if (e.value !== undefined) cenv[e.name] = e.value;
      assert.not.ok(
        collector.env.some((e: any) => e.valueFrom?.secretKeyRef),
        'no secret in the environment',
      );
      assert.equal(
        [cenv.NODEWARDEN_NATS_USER, cenv.NODEWARDEN_NATS_PASSWORD_FILE, cenv.NODEWARDEN_NATS_CA],
        ['collector', '/etc/nodewarden/nats/collector-password', '/etc/nodewarden/nats/ca.crt'],
      );
      assert.match(cenv.NODEWARDEN_NATS!, /^tls:\/\//);
      Object.assign(cenv, {
        NODEWARDEN_NATS: `tls://127.0.0.1:${natsPort}`,
        NODEWARDEN_NATS_PASSWORD_FILE: join(dir, 'auth', 'collector-password'),
        NODEWARDEN_NATS_CA: join(dir, 'tls', 'ca.crt'),
        NODEWARDEN_LISTEN: `127.0.0.1:${apiPort}`,
        NODEWARDEN_EVENTS: 'off',
        NODEWARDEN_PODS_FILE: podsFile,
      });
      const col = start(process.execPath, [BUNDLE, ...collector.args], cenv);
      try {
        await waitFor(
          'collector /readyz',
          async () =>
            (await fetch(`http://127.0.0.1:${apiPort}/readyz`, { signal: AbortSignal.timeout(2000) })).status === 200,
          30_000,
          200,
        ).catch((e: Error) => {
          throw new Error(`${e.message}\n--- collector output:\n${col.out()}`);
        });
        const r = await fetch(`http://127.0.0.1:${apiPort}/api/v1/drops`);
        assert.is(r.status, 200);
        // the web view comes embedded in the bundle (no esbuild in the image)
        const js = await fetch(`http://127.0.0.1:${apiPort}/assets/app.js`);
        assert.is(js.status, 200, await js.clone().text());
        assert.match(await js.text(), /api\/v1\/watch/);
      } finally {
        await col.stop();
      }
    } finally {
      await nats.stop();
    }
  }

  // an empty or multi-line value stops nats with one clear line instead of a half-configured server
  for (const bad of ['', 'a\nb']) {
    secret({ 'auth-password': bad });
    const r = run(sh[0], [...sh.slice(1), '-ec', script], { env, timeoutMs: 10_000 });
    assert.is(r.code, 1, r.stderr);
    assert.match(r.stderr, /key 'auth-password' must be one non-empty line/);
  }
});

const canUnshare =
  process.getuid?.() === 0 &&
  ['unshare', 'setpriv', 'iptables', 'iptables-legacy', 'iptables-legacy-save'].every(
    (b) => run('sh', ['-c', `command -v ${b}`]).code === 0,
  );

test("the agent's capabilities (as rendered) are exactly enough: iptables-save -c on nft needs NET_ADMIN, on legacy also NET_RAW", () => {
  if (!canUnshare) throw new Error('the capability test needs root, unshare, setpriv and iptables-legacy');
  const ds = docs.find((d) => d.kind === 'DaemonSet' && d.metadata.name === 'nodewarden-agent');
  const sc = ds.spec.template.spec.containers[0].securityContext;
  assert.equal(sc.capabilities.drop, ['ALL']);
  const asSetpriv = (caps: string[]) => ['-all', ...caps.map((c) => `+${c.toLowerCase()}`)].join(',');
  // root in a fresh network namespace (so the node's own rules are untouched) with one rule per backend,
  // then the listing as root limited to a capability set, the way the container runtime limits it
  const listing = (caps: string[]) => {
    const script = [
      'iptables -A INPUT -s 198.51.100.7 -j DROP',
      'iptables-legacy -A INPUT -s 198.51.100.8 -j DROP',
      `setpriv --bounding-set ${asSetpriv(caps)} --no-new-privs -- sh -c 'iptables-save -c 2>/dev/null | grep -c 198.51.100.7; iptables-legacy-save -c 2>/dev/null | grep -c 198.51.100.8; grep CapEff /proc/self/status' || true`,
    ].join(' && ');
    const r = run('unshare', ['--net', '--mount', 'sh', '-c', script], { timeoutMs: 20_000 });
    const [nft, legacy, capEff] = r.stdout.trim().split('\n');
    return { nft: nft === '1', legacy: legacy === '1', capEff, out: r.stdout + r.stderr };
  };
  const rendered = listing(sc.capabilities.add);
  assert.ok(rendered.nft && rendered.legacy, `with ${sc.capabilities.add}: ${rendered.out}`);
  assert.match(rendered.capEff, /^CapEff:\s+0000000000003000$/, 'exactly NET_ADMIN (12) and NET_RAW (13)');
  // and each of the two is needed
  const noRaw = listing(['NET_ADMIN']);
  assert.ok(noRaw.nft && !noRaw.legacy, `NET_ADMIN alone: ${noRaw.out}`);
  const noAdmin = listing(['NET_RAW']);
  assert.ok(!noAdmin.nft && !noAdmin.legacy, `NET_RAW alone: ${noAdmin.out}`);
});

test.run();
