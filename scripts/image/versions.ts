// The release check's decision, pure: every artifact's version (as collected by
// scripts/image/release-check.ts) must be package.json's, the one place the version is written.

export interface Found {
  /** What was looked at, e.g. "image label org.opencontainers.image.version". */
  what: string;
  /** The version found there; undefined when it could not be read. */
  version: string | undefined;
  /** How it was read (a command, a file), for the report. */
  from: string;
  /** What it must be when not package.json's version (the image's revision label: git HEAD). */
  expected?: string;
}

export interface Verdict {
  ok: boolean;
  expected: string;
  problems: string[];
}

const SEMVER = /^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$/;

export function verdict(expected: string, found: Found[]): Verdict {
  const problems: string[] = [];
  if (!SEMVER.test(expected)) problems.push(`package.json version "${expected}" is not a semantic version`);
  for (const f of found) {
    const want = f.expected ?? expected;
    if (f.version === undefined) problems.push(`${f.what}: nothing found (${f.from})`);
    else if (f.version !== want)
      problems.push(`${f.what} is ${f.version}, ${f.expected ? 'expected' : 'package.json says'} ${want} (${f.from})`);
  }
  if (found.length === 0) problems.push('nothing was checked');
  return { ok: problems.length === 0, expected, problems };
}

export function report(v: Verdict, found: Found[]): string {
  const width = Math.max(...found.map((f) => f.what.length), 10);
  const rows = found.map(
    (f) =>
      `  ${f.version === (f.expected ?? v.expected) ? 'ok  ' : 'FAIL'} ${f.what.padEnd(width)}  ${f.version ?? '-'}   ${f.from}`,
  );
  const tail = v.ok
    ? `release-check: OK — ${found.length} places say ${v.expected}`
    : `release-check: FAILED\n${v.problems.map((p) => `  - ${p}`).join('\n')}`;
  return [`package.json version: ${v.expected}`, ...rows, tail].join('\n');
}

/** The version of the top `## [x.y.z]` section of a Keep a Changelog file (Unreleased skipped). */
export function changelogVersion(text: string): string | undefined {
  for (const m of text.matchAll(/^## \[([^\]]+)\]/gm)) if (m[1].toLowerCase() !== 'unreleased') return m[1];
  return undefined;
}

/** Tags of `image` in rendered or raw manifests ("image: repo:tag" lines). */
export function imageTags(yamlText: string, repository: string): string[] {
  const esc = repository.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  return [...yamlText.matchAll(new RegExp(`image:\\s*["']?${esc}:([\\w.-]+)`, 'g'))].map((m) => m[1]);
}
