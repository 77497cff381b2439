// The image's base layer: a Debian root filesystem made by mmdebstrap from Debian's packages (no
// image registry), cached under /var/cache/nodewarden/image keyed by everything that goes into
// it, so a rebuild with the same recipe, mirror and tool reuses the compressed layer.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { publishEntry } from './cache.js';
import { compressLayer, type Layer } from './oci.js';
import {
  DEBIAN_SUITE,
  DPKG_PATH_EXCLUDES,
  DROP_SETID,
  DPKG_PATH_INCLUDES,
  PACKAGES,
  REQUIRED_COMMANDS,
} from './recipe.js';

export interface Rootfs {
  layer: Layer;
  debianVersion: string;
  packages: Record<string, string>;
  sonames: string[];
  builtAt: string;
  cached: boolean;
}

/** Shared-library names in `ldconfig -p` output ("\tlibatomic.so.1 (libc6,x86-64) => /lib/…"). */
export const parseLdconfig = (text: string): string[] => [
  ...new Set(
    text
      .split('\n')
      .map((l) => /^\s+(\S+)\s+\(/.exec(l)?.[1])
      .filter((s): s is string => !!s),
  ),
];
/** Library names in `ldd` output ("libm.so.6 => /lib/…", "/lib64/ld-linux-x86-64.so.2 (0x…)"), without the vDSO. */
export const parseLdd = (text: string): string[] =>
  text
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0])
    .filter((w) => w && !w.startsWith('linux-vdso') && !w.startsWith('statically'))
    .map((w) => w.slice(w.lastIndexOf('/') + 1));

/** The mmdebstrap command line (pure: the cache key is its hash). META receives the build facts. */
export function mmdebstrapArgs(arch: string, sources: string[], out: string, meta: string): string[] {
  const hooks = [
    // no machine id in the image: the agent mounts the node's /etc/machine-id over the empty file
    'rm -f "$1/etc/machine-id" "$1/var/lib/dbus/machine-id"; : > "$1/etc/machine-id"',
    ...REQUIRED_COMMANDS.map((c) => `chroot "$1" ${c} --version >/dev/null`),
    `chroot "$1" ${DROP_SETID}`,
    `chroot "$1" dpkg-query -W -f='\${Package}\\t\${Version}\\n' > "${meta}/packages.tsv"`,
    `cp "$1/etc/debian_version" "${meta}/debian_version"`,
    `chroot "$1" ldconfig -p > "${meta}/ldconfig.txt"`,
    // logs of this build and apt's binary caches: rebuilt on demand, only size and noise in an image
    'rm -rf "$1"/var/log/apt/* "$1"/var/log/dpkg.log "$1"/var/log/alternatives.log "$1"/var/cache/apt/*.bin "$1"/var/cache/ldconfig/aux-cache',
  ];
  return [
    '--mode=root',
    '--variant=minbase',
    '--format=tar',
    `--architectures=${arch}`,
    `--include=${PACKAGES.join(',')}`,
    '--aptopt=APT::Install-Recommends "false"',
    ...DPKG_PATH_EXCLUDES.map((p) => `--dpkgopt=path-exclude=${p}`),
    ...DPKG_PATH_INCLUDES.map((p) => `--dpkgopt=path-include=${p}`),
    ...hooks.map((h) => `--customize-hook=${h}`),
    DEBIAN_SUITE,
    out,
    ...sources,
  ];
}

const mmdebstrapVersion = (): string =>
  execFileSync('mmdebstrap', ['--version'], { stdio: ['ignore', 'pipe', 'ignore'] })
    .toString()
    .trim();

export async function debianRootfs(opts: {
  arch: string;
  sources: string[];
  cacheDir: string;
  refresh: boolean;
  say: (m: string) => void;
}): Promise<Rootfs> {
  // The key: the command line without its output paths, and the tool's version.
  const key = createHash('sha256')
    .update(JSON.stringify([mmdebstrapArgs(opts.arch, opts.sources, 'OUT', 'META'), mmdebstrapVersion()]))
    .digest('hex')
    .slice(0, 16);
  const dir = join(opts.cacheDir, `rootfs-${DEBIAN_SUITE}-${opts.arch}-${key}`);
  const metaFile = join(dir, 'rootfs.json');
  if (!opts.refresh && existsSync(metaFile)) {
    const r = JSON.parse(readFileSync(metaFile, 'utf8')) as Rootfs;
    if (existsSync(r.layer.file) && statSync(r.layer.file).size === r.layer.size) return { ...r, cached: true };
  }
  mkdirSync(opts.cacheDir, { recursive: true });
  const work = mkdtempSync(join(opts.cacheDir, '.rootfs-'));
  try {
    const meta = join(work, 'meta');
    mkdirSync(meta);
    const tar = join(work, 'rootfs.tar');
    opts.say(`mmdebstrap ${DEBIAN_SUITE} (${PACKAGES.join(', ')}) from the machine's Debian mirror`);
    execFileSync('mmdebstrap', ['--quiet', ...mmdebstrapArgs(opts.arch, opts.sources, tar, meta)], {
      stdio: ['ignore', 'inherit', 'inherit'],
      timeout: 900_000,
    });
    const layer = await compressLayer(
      tar,
      join(work, 'layer.tar.gz'),
      `mmdebstrap --variant=minbase ${DEBIAN_SUITE} --include=${PACKAGES.join(',')}`,
    );
    const packages = Object.fromEntries(
      readFileSync(join(meta, 'packages.tsv'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => l.split('\t') as [string, string]),
    );
    const debianVersion = readFileSync(join(meta, 'debian_version'), 'utf8').trim();
    const sonames = parseLdconfig(readFileSync(join(meta, 'ldconfig.txt'), 'utf8'));
    const staged = join(work, 'entry');
    mkdirSync(staged);
    renameSync(layer.file, join(staged, 'layer.tar.gz'));
    const r: Rootfs = {
      layer: { ...layer, file: join(dir, 'layer.tar.gz') },
      debianVersion,
      packages,
      sonames,
      builtAt: new Date().toISOString(),
      cached: false,
    };
    writeFileSync(join(staged, 'rootfs.json'), JSON.stringify(r, null, 2));
    publishEntry(staged, dir);
    return r;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
