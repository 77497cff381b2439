// The OCI image layout (image-spec v1.1: oci-layout, index.json, blobs/sha256/…) written as one
// tar archive, the form `ctr images import`, `skopeo copy oci-archive:` and `podman load` read.
// Layers are gzip-compressed tars; the config's diff_ids are the digests of the uncompressed tars.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  createReadStream,
  createWriteStream,
  mkdirSync,
  mkdtempSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';

export const MEDIA = {
  index: 'application/vnd.oci.image.index.v1+json',
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  config: 'application/vnd.oci.image.config.v1+json',
  layer: 'application/vnd.oci.image.layer.v1.tar+gzip',
} as const;

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
  platform?: { architecture: string; os: string };
}
/** A compressed layer on disk. */
export interface Layer {
  file: string;
  digest: string;
  size: number;
  diffId: string;
  uncompressedSize: number;
  createdBy: string;
}

export const ociArch = (nodeArch: string): string =>
  (({ x64: 'amd64', arm64: 'arm64', arm: 'arm', ppc64: 'ppc64le', s390x: 's390x' }) as Record<string, string>)[
    nodeArch
  ] ?? nodeArch;

/** Reproducible tar of `entries` (relative to dir): sorted, root-owned, fixed mtime, no atime/ctime. */
export function tarDeterministic(dir: string, entries: string[], out: string, mtimeEpoch: number): void {
  execFileSync(
    'tar',
    [
      '--sort=name',
      '--format=posix',
      '--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime',
      `--mtime=@${mtimeEpoch}`,
      '--owner=0',
      '--group=0',
      '--numeric-owner',
      '-C',
      dir,
      '-cf',
      out,
      ...entries,
    ],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
}

/** gzips a tar into a layer blob, hashing both sides in one pass. */
export async function compressLayer(tar: string, out: string, createdBy: string): Promise<Layer> {
  const raw = createHash('sha256'),
    gz = createHash('sha256');
  let rawSize = 0,
    gzSize = 0;
  const tap = (h: ReturnType<typeof createHash>, count: (n: number) => void) =>
    new Transform({
      transform(c: Buffer, _e, cb) {
        h.update(c);
        count(c.length);
        cb(null, c);
      },
    });
  mkdirSync(dirname(out), { recursive: true });
  await pipeline(
    createReadStream(tar),
    tap(raw, (n) => {
      rawSize += n;
    }),
    createGzip(),
    tap(gz, (n) => {
      gzSize += n;
    }),
    createWriteStream(out),
  );
  return {
    file: out,
    digest: `sha256:${gz.digest('hex')}`,
    size: gzSize,
    diffId: `sha256:${raw.digest('hex')}`,
    uncompressedSize: rawSize,
    createdBy,
  };
}

export interface ImageSpec {
  arch: string;
  created: string;
  user: string;
  entrypoint: readonly string[];
  cmd: readonly string[];
  env: readonly string[];
  workdir: string;
  labels: Record<string, string>;
  layers: Layer[];
}

/** The image config (image-spec config.md). */
export function imageConfig(s: ImageSpec): object {
  return {
    created: s.created,
    architecture: s.arch,
    os: 'linux',
    config: {
      User: s.user,
      Env: [...s.env],
      Entrypoint: [...s.entrypoint],
      Cmd: [...s.cmd],
      WorkingDir: s.workdir,
      Labels: s.labels,
    },
    rootfs: { type: 'layers', diff_ids: s.layers.map((l) => l.diffId) },
    history: s.layers.map((l) => ({ created: s.created, created_by: l.createdBy })),
  };
}

const blobOf = (json: object, mediaType: string): { bytes: Buffer; desc: Descriptor } => {
  const bytes = Buffer.from(JSON.stringify(json));
  return {
    bytes,
    desc: { mediaType, digest: `sha256:${createHash('sha256').update(bytes).digest('hex')}`, size: bytes.length },
  };
};

export interface BuiltImage {
  name: string;
  manifestDigest: string;
  configDigest: string;
  compressedSize: number;
  uncompressedSize: number;
}

/**
 * Writes the image as an OCI archive. `name` (registry/repo:tag) goes into the index annotation
 * io.containerd.image.name, which `ctr images import` names the image by, and the tag into
 * org.opencontainers.image.ref.name.
 */
export function writeOciArchive(out: string, name: string, spec: ImageSpec): BuiltImage {
  const config = blobOf(imageConfig(spec), MEDIA.config);
  const manifest = blobOf(
    {
      schemaVersion: 2,
      mediaType: MEDIA.manifest,
      config: config.desc,
      layers: spec.layers.map((l) => ({ mediaType: MEDIA.layer, digest: l.digest, size: l.size })),
      annotations: spec.labels,
    },
    MEDIA.manifest,
  );
  const tag = name.slice(name.lastIndexOf(':') + 1);
  const index = {
    schemaVersion: 2,
    mediaType: MEDIA.index,
    manifests: [
      {
        ...manifest.desc,
        platform: { architecture: spec.arch, os: 'linux' },
        annotations: { 'io.containerd.image.name': name, 'org.opencontainers.image.ref.name': tag },
      },
    ],
  };

  // The layout as a directory of links to the layer files (tar -h stores their contents).
  const stage = mkdtempSync(join(dirname(out), '.oci-'));
  try {
    const blobs = join(stage, 'blobs', 'sha256');
    mkdirSync(blobs, { recursive: true });
    writeFileSync(join(stage, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    writeFileSync(join(stage, 'index.json'), JSON.stringify(index));
    for (const b of [config, manifest]) writeFileSync(join(blobs, b.desc.digest.slice(7)), b.bytes);
    for (const l of spec.layers) symlinkSync(l.file, join(blobs, l.digest.slice(7)));
    execFileSync(
      'tar',
      [
        '--dereference',
        '--sort=name',
        '--format=posix',
        '--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime',
        '--mtime=@0',
        '--owner=0',
        '--group=0',
        '--numeric-owner',
        '-C',
        stage,
        '-cf',
        out,
        'oci-layout',
        'index.json',
        'blobs',
      ],
      { stdio: ['ignore', 'ignore', 'inherit'] },
    );
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
  return {
    name,
    manifestDigest: manifest.desc.digest,
    configDigest: config.desc.digest,
    compressedSize: spec.layers.reduce((a, l) => a + l.size, 0),
    uncompressedSize: spec.layers.reduce((a, l) => a + l.uncompressedSize, 0),
  };
}

export interface OciIndex {
  manifests: Descriptor[];
}
export interface OciManifest {
  config: Descriptor;
  layers: Descriptor[];
  annotations?: Record<string, string>;
}
export interface OciConfig {
  config?: { User?: string; Entrypoint?: string[]; Cmd?: string[]; Env?: string[]; Labels?: Record<string, string> };
  rootfs: { diff_ids: string[] };
}

/** index.json, the (first) manifest and its config, read back from an OCI archive. */
export function readOciArchive(archive: string): {
  index: OciIndex;
  manifest: OciManifest;
  config: OciConfig;
  blob: (digest: string) => Buffer;
} {
  const member = (m: string) => execFileSync('tar', ['-xOf', archive, m], { maxBuffer: 1 << 30 });
  const blob = (digest: string) => member(`blobs/sha256/${digest.slice('sha256:'.length)}`);
  const index = JSON.parse(member('index.json').toString());
  const manifest = JSON.parse(blob(index.manifests[0].digest).toString());
  const config = JSON.parse(blob(manifest.config.digest).toString());
  return { index, manifest, config, blob };
}
