// Tiny images for test pods, built from files on this machine (no registry, no image tool): one
// layer with the given files, written as an OCI archive by the image builder's own writer
// (scripts/image/oci.ts), which `ctr images import` names by its io.containerd.image.name.
//
//   await buildImage({ out: 't/busybox.tar', name: 'localhost/busybox:nw', ...busyboxFiles(), cmd: ['sh'] });
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { compressLayer, ociArch, tarDeterministic, writeOciArchive } from '../../scripts/image/oci.js';

export const BUSYBOX = '/bin/busybox';
/** Applets the test pods and the NATS start script use (sh, wget for the probes, httpd, nc ...). */
const APPLETS = [
  'sh',
  'cat',
  'cp',
  'echo',
  'hostname',
  'httpd',
  'ls',
  'nc',
  'printf',
  'sed',
  'sleep',
  'wc',
  'wget',
  'id',
  'touch',
  'ip',
  'true',
];

export interface ImageSpec {
  /** Output archive (OCI layout in a tar). */
  out: string;
  /** Full reference, e.g. localhost/busybox:nw. */
  name: string;
  /** Path in the image -> source file on this machine (copied, mode kept). */
  files: Record<string, string>;
  /** Path in the image -> symlink target. */
  links?: Record<string, string>;
  entrypoint?: string[];
  cmd?: string[];
}

/** A statically linked busybox (Debian busybox-static) with the applets above, as /bin/*. */
export function busyboxFiles(): { files: Record<string, string>; links: Record<string, string> } {
  const links: Record<string, string> = {};
  for (const a of APPLETS) links[`/bin/${a}`] = 'busybox';
  return { files: { '/bin/busybox': BUSYBOX }, links };
}

/** True when /bin/busybox is the static build (a dynamic one would need libc in the image). */
export function busyboxIsStatic(): boolean {
  if (!statSync(BUSYBOX, { throwIfNoEntry: false })) return false;
  // an ELF without a PT_INTERP (type 3) program header is static
  const b = readFileSync(BUSYBOX);
  const phoff = Number(b.readBigUInt64LE(0x20)),
    size = b.readUInt16LE(0x36),
    n = b.readUInt16LE(0x38);
  for (let i = 0; i < n; i++) if (b.readUInt32LE(phoff + i * size) === 3) return false;
  return true;
}

export async function buildImage(spec: ImageSpec): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'nw-oci-'));
  try {
    const root = join(work, 'rootfs');
    for (const d of ['tmp', 'proc', 'sys', 'dev', 'etc', 'bin']) mkdirSync(join(root, d), { recursive: true });
    chmodSync(join(root, 'tmp'), 0o1777);
    for (const [to, from] of Object.entries(spec.files)) {
      mkdirSync(dirname(join(root, to)), { recursive: true });
      copyFileSync(from, join(root, to));
      chmodSync(join(root, to), statSync(from).mode & 0o7777);
    }
    for (const [at, target] of Object.entries(spec.links ?? {})) symlinkSync(target, join(root, at));
    tarDeterministic(root, ['.'], join(work, 'layer.tar'), 0);
    const layer = await compressLayer(
      join(work, 'layer.tar'),
      join(work, 'layer.tar.gz'),
      'nodewarden test/support/oci-image.ts',
    );
    writeOciArchive(spec.out, spec.name, {
      arch: ociArch(process.arch),
      created: new Date(0).toISOString(),
      user: '',
      entrypoint: spec.entrypoint ?? [],
      cmd: spec.cmd ?? [],
      env: ['PATH=/bin'],
      workdir: '/',
      labels: {},
      layers: [layer],
    });
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** The image name an OCI archive carries (io.containerd.image.name of its first manifest). */
export function archiveImageName(archive: string): string {
  return JSON.parse(execFileSync('tar', ['-xOf', archive, 'index.json'], { encoding: 'utf8' })).manifests[0]
    .annotations['io.containerd.image.name'];
}
