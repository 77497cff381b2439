import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

/** package.json version, read once (the bundled build sets NODEWARDEN_VERSION_OVERRIDE at build time instead). */
export const VERSION: string =
  process.env.NODEWARDEN_VERSION_OVERRIDE ??
  (() => {
    try {
      return (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string })
        .version;
    } catch {
      return '0.0.0';
    }
  })();

/**
 * The git commit the code was built from: set at bundle time (NODEWARDEN_REVISION_OVERRIDE); from a
 * source checkout, asked of git once; 'unknown' when neither can tell.
 */
export const REVISION: string =
  process.env.NODEWARDEN_REVISION_OVERRIDE ??
  (() => {
    try {
      return (
        execFileSync('git', ['rev-parse', '--short=12', 'HEAD'], {
          cwd: new URL('..', import.meta.url).pathname,
          stdio: ['ignore', 'pipe', 'ignore'],
          timeout: 2000,
        })
          .toString()
          .trim() || 'unknown'
      );
    } catch {
      return 'unknown';
    }
  })();

/** What `nodewarden --version` prints (one line, without the newline). */
export const versionLine = (): string => `nodewarden ${VERSION} (revision ${REVISION})`;

/** The version and revision of a `nodewarden --version` line, or undefined when it is not one. */
export function parseVersionLine(line: string): { version: string; revision: string } | undefined {
  const m = /^nodewarden (\S+) \(revision (\S+)\)$/.exec(line.trim());
  return m ? { version: m[1], revision: m[2] } : undefined;
}
