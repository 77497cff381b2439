// Makes a fresh clone runnable: npm packages, generated protobuf code and (as root) the Debian
// packages that the tests and the demo run for real. Idempotent and fast when all is present.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { NODE_PACKAGE, bootstrapNodeBin, nodeOnPath, pinFitsPlatform, pinnedNodeVersion } from './lib/node-pin.mjs';

const root = new URL('..', import.meta.url).pathname;
const mode = process.argv[2] ?? 'test';
const say = (m) => process.stderr.write(`[ensure-deps] ${m}\n`);
const run = (cmd, args, opts = {}) =>
  execFileSync(cmd, args, { stdio: ['ignore', 'inherit', 'inherit'], cwd: root, ...opts });

if (!existsSync(join(root, 'node_modules', '.bin', 'tsx'))) {
  say('node_modules missing: npm ci');
  const nodeBin = bootstrapNodeBin(root, say);
  run(
    'npm',
    ['ci', '--no-audit', '--no-fund'],
    nodeBin ? { env: { ...process.env, PATH: `${nodeBin}:${process.env.PATH}` } } : {},
  );
}
// Which Node the steps after this one run (CI logs show it; test/run.ts refuses a different one).
const pin = pinnedNodeVersion(root);
const installedPin = (() => {
  try {
    return JSON.parse(readFileSync(join(root, 'node_modules', NODE_PACKAGE, 'package.json'), 'utf8')).version;
  } catch {
    return undefined;
  }
})();
if (pin && pinFitsPlatform() && installedPin !== pin)
  say(`node_modules has ${NODE_PACKAGE}@${installedPin ?? 'none'}, package-lock.json pins ${pin}: run npm ci`);
say(`Node for the next steps: ${nodeOnPath() ?? 'none on PATH'}${pin ? ` (pinned: v${pin}, ${NODE_PACKAGE})` : ''}`);

const gen = join(root, 'proto', 'gen', 'nodewarden.js');
const newestProto = Math.max(
  ...readdirSync(join(root, 'proto'), { recursive: true })
    .filter((f) => String(f).endsWith('.proto'))
    .map((f) => statSync(join(root, 'proto', String(f))).mtimeMs),
);
if (!existsSync(gen) || statSync(gen).mtimeMs < newestProto) run('node', ['scripts/gen-proto.mjs']);

const packages =
  {
    // binary or file that proves the package is there -> Debian package
    test: [
      ['nats-server', 'nats-server'],
      ['iptables', 'iptables'],
      ['/lib/systemd/systemd-journald', 'systemd'],
      ['/lib/systemd/systemd-journal-remote', 'systemd-journal-remote'],
      ['etcd', 'etcd-server'],
      ['etcdctl', 'etcd-client'],
      ['openssl', 'openssl'],
      ['ip', 'iproute2'],
      ['python3', 'python3'],
      ['unshare', 'util-linux'],
      ['containerd', 'containerd'],
      ['runc', 'runc'],
      ['nsenter', 'util-linux'],
      ['/usr/lib/cni/bridge', 'containernetworking-plugins'],
      ['busybox', 'busybox-static'],
      ['conntrack', 'conntrack'],
      ['/usr/bin/chromium', 'chromium'],
      ['promtool', 'prometheus'], // promtool and the server: the monitoring kit's tests (no daemon: policy-rc.d)
      ['mmdebstrap', 'mmdebstrap'],
      ['zsh', 'zsh'], // the completion test loads the generated zsh script under compinit
    ],
    demo: [
      ['nats-server', 'nats-server'],
      ['iptables', 'iptables'],
      ['/lib/systemd/systemd-journald', 'systemd'],
      ['/lib/systemd/systemd-journal-remote', 'systemd-journal-remote'],
      ['ip', 'iproute2'],
      ['unshare', 'util-linux'],
    ],
    // npm run image / release-check: the Debian root filesystem of the image (scripts/image/rootfs.ts)
    image: [['mmdebstrap', 'mmdebstrap']],
    bench: [
      ['nats-server', 'nats-server'],
      ['/lib/systemd/systemd-journal-remote', 'systemd-journal-remote'],
      ['/lib/systemd/systemd-journald', 'systemd'],
    ],
  }[mode] ?? [];

const have = (probe) =>
  probe.startsWith('/')
    ? existsSync(probe)
    : spawnSync('sh', ['-c', `command -v ${probe}`], { stdio: 'ignore' }).status === 0 ||
      existsSync(`/usr/sbin/${probe}`) ||
      existsSync(`/sbin/${probe}`);
const missing = [...new Set(packages.filter(([probe]) => !have(probe)).map(([, pkg]) => pkg))];
if (missing.length) {
  if (process.getuid?.() !== 0) {
    say(`not root: cannot install ${missing.join(' ')}; tests and demo parts that need them will say so`);
  } else {
    say(`installing ${missing.join(' ')}`);
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    run('apt-get', ['update', '-qq'], { env });
    // policy-rc.d on these machines keeps package installs from starting daemons; tests start their own.
    run('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], { env });
  }
}

if (mode === 'test' && process.getuid?.() === 0 && existsSync(join(root, 'scripts', 'ensure-kube-bins.sh'))) {
  run('bash', ['scripts/ensure-kube-bins.sh'], { stdio: ['ignore', 'ignore', 'inherit'] });
}
// helm for the chart tests (test/helm-chart.test.ts), from tools/helm like the kube bins.
if (mode === 'test' && process.getuid?.() === 0 && existsSync(join(root, 'scripts', 'ensure-helm.sh'))) {
  run('bash', ['scripts/ensure-helm.sh'], { stdio: ['ignore', 'ignore', 'inherit'] });
}
// Debian's nats-server is 2.9; auth callout (and the deploy's server version) needs the one built from
// tools/nats-server.
if (
  (mode === 'test' || mode === 'bench') &&
  process.getuid?.() === 0 &&
  existsSync(join(root, 'scripts', 'ensure-nats-server.sh'))
) {
  run('bash', ['scripts/ensure-nats-server.sh'], { stdio: ['ignore', 'ignore', 'inherit'] });
}
