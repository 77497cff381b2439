// Tiny OCI image archives for test pods, built from files on this machine (no registry, no image
// tool): one uncompressed layer made by tar(1), an OCI config, manifest and index whose
// io.containerd.image.name annotation names the image for `ctr images import`.
//
//   await buildImage({ out: 't/busybox.tar', name: 'localhost/busybox:nw', files: busyboxFiles(), cmd: ['sh'] });
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

export const BUSYBOX = '/bin/busybox';
/** Applets the test pods and the NATS start script use (sh, wget for the probes, httpd, nc ...). */
const APPLETS = ['sh', 'cat', 'cp', 'echo', 'hostname', 'httpd', 'ls', 'nc', 'printf', 'sed', 'sleep', 'wc', 'wget', 'id', 'touch', 'ip', 'true'];

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
  user?: string;
}

/** A statically linked busybox (Debian busybox-static) with the applets above, as /bin/*. */
export function busyboxFiles(): { files: Record<string, string>; links: Record<string, string> } {
  const links: Record<string, string> = {};
  for (const a of APPLETS) links[`/bin/${a}`] = 'busybox';
  return { files: { '/bin/busybox': BUSYBOX }, links };
}

/** True when /bin/busybox is the static build (a dynamic one would need libc in the image). */
export function busyboxIsStatic(): boolean {
  try {
    return !/dynamically linked|interpreter/.test(execFileSync('file', ['-L', BUSYBOX], { encoding: 'utf8' }));
  } catch {
    // no file(1): the ELF program headers of a static binary have no PT_INTERP (type 3)
    const b = readFileSync(BUSYBOX);
    const phoff = Number(b.readBigUInt64LE(0x20)), size = b.readUInt16LE(0x36), n = b.readUInt16LE(0x38);
    for (let i = 0; i < n; i++) if (b.readUInt32LE(phoff + i * size) === 3) return false;
    return true;
  }
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

export function buildImage(spec: ImageSpec): { digest: string; bytes: number } {
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
    const layerFile = join(work, 'layer.tar');
    execFileSync('tar', ['--owner=0', '--group=0', '--numeric-owner', '--sort=name', '--mtime=@0', '-C', root, '-cf', layerFile, '.']);
    const layout = join(work, 'oci');
    mkdirSync(join(layout, 'blobs', 'sha256'), { recursive: true });
    const blob = (b: Buffer) => {
      const h = sha(b);
      writeFileSync(join(layout, 'blobs', 'sha256', h), b);
      return { digest: `sha256:${h}`, size: b.length };
    };
    const layer = blob(readFileSync(layerFile));
    const config = blob(Buffer.from(JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      config: { Env: ['PATH=/bin'], Entrypoint: spec.entrypoint, Cmd: spec.cmd, User: spec.user ?? '' },
      rootfs: { type: 'layers', diff_ids: [layer.digest] },
      history: [{ created_by: 'nodewarden test/support/oci-image.ts' }],
    })));
    const manifest = blob(Buffer.from(JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...layer }],
    })));
    writeFileSync(join(layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    writeFileSync(join(layout, 'index.json'), JSON.stringify({
      schemaVersion: 2,
      manifests: [{
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        ...manifest,
        annotations: { 'io.containerd.image.name': spec.name, 'org.opencontainers.image.ref.name': spec.name.split(':').pop() },
      }],
    }));
    execFileSync('tar', ['-C', layout, '-cf', spec.out, '.']);
    return { digest: manifest.digest, bytes: statSync(spec.out).size };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
