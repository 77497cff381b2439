// Which Debian mirror the image's root filesystem comes from: the one the build machine's apt is
// configured with (/etc/apt/sources.list and sources.list.d, one-line or deb822), so a build needs
// no network access apt does not already have. Only Debian's own archive and security stanzas are
// used; third-party repositories on the machine are ignored.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface AptStanza {
  uris: string[];
  suites: string[];
  components: string[];
  signedBy?: string;
}
export interface DebianMirrors {
  archive: string;
  security?: string;
  signedBy?: string;
}

/** Parses sources.list one-line entries ("deb [opts] uri suite comp...") and deb822 stanzas. */
export function parseSources(text: string): AptStanza[] {
  // comment lines go entirely (in deb822 a blanked one would split its stanza in two)
  const lines = text
    .split('\n')
    .filter((l) => !/^\s*#/.test(l))
    .map((l) => l.replace(/\s#.*$/, '').trimEnd());
  if (lines.some((l) => /^Types:/i.test(l))) {
    const out: AptStanza[] = [];
    for (const block of lines.join('\n').split(/\n\s*\n/)) {
      const f = new Map<string, string>();
      for (const l of block.split('\n')) {
        const m = /^([A-Za-z-]+):\s*(.*)$/.exec(l);
        if (m) f.set(m[1].toLowerCase(), m[2].trim());
      }
      if (!(f.get('types') ?? '').split(/\s+/).includes('deb') || /^(no|false)$/i.test(f.get('enabled') ?? ''))
        continue;
      const words = (k: string) => (f.get(k) ?? '').split(/\s+/).filter(Boolean);
      out.push({
        uris: words('uris'),
        suites: words('suites'),
        components: words('components'),
        signedBy: f.get('signed-by') || undefined,
      });
    }
    return out;
  }
  const out: AptStanza[] = [];
  for (const l of lines) {
    const m = /^deb\s+(?:\[([^\]]*)\]\s+)?(\S+)\s+(\S+)\s*(.*)$/.exec(l.trim());
    if (!m) continue;
    const signedBy = /(?:^|\s)signed-by=(\S+)/.exec(m[1] ?? '')?.[1];
    out.push({ uris: [m[2]], suites: [m[3]], components: m[4].split(/\s+/).filter(Boolean), signedBy });
  }
  return out;
}

/**
 * The Debian archive and security mirrors among the stanzas: those whose suites are a Debian
 * release name (optionally -updates/-security) with the main component. undefined when none.
 */
export function debianMirrors(stanzas: AptStanza[], releases: readonly string[]): DebianMirrors | undefined {
  const base = (s: string) => s.replace(/-(updates|security|backports)$/, '').replace(/\/updates$/, '');
  const isDebian = (s: AptStanza) => s.components.includes('main') && s.suites.some((x) => releases.includes(base(x)));
  const debian = stanzas.filter(isDebian);
  const security = debian.find((s) => s.suites.some((x) => /-security$|\/updates$/.test(x)));
  const archive = debian.find((s) => s.suites.some((x) => !/-security$|\/updates$|-backports$/.test(x)));
  if (!archive) return undefined;
  return { archive: archive.uris[0], security: security?.uris[0], signedBy: archive.signedBy };
}

/** sources.list lines for `suite` from those mirrors (mmdebstrap takes each as a MIRROR argument). */
export function sourcesFor(suite: string, m: DebianMirrors): string[] {
  const opts = m.signedBy ? `[signed-by=${m.signedBy}] ` : '';
  const lines = [`deb ${opts}${m.archive} ${suite} main`, `deb ${opts}${m.archive} ${suite}-updates main`];
  if (m.security) lines.push(`deb ${opts}${m.security} ${suite}-security main`);
  return lines;
}

/** Debian release names (and codenames of testing/unstable) that mark a stanza as Debian's. */
export const DEBIAN_RELEASES = [
  'buster',
  'bullseye',
  'bookworm',
  'trixie',
  'forky',
  'duke',
  'sid',
  'stable',
  'oldstable',
  'testing',
  'unstable',
] as const;

/** The machine's apt sources, concatenated per file (the formats differ per file). */
export function machineStanzas(dir = '/etc/apt'): AptStanza[] {
  const files: string[] = [];
  try {
    files.push(readFileSync(join(dir, 'sources.list'), 'utf8'));
  } catch {
    /* none */
  }
  try {
    for (const f of readdirSync(join(dir, 'sources.list.d')).sort()) {
      if (f.endsWith('.list') || f.endsWith('.sources'))
        files.push(readFileSync(join(dir, 'sources.list.d', f), 'utf8'));
    }
  } catch {
    /* none */
  }
  return files.flatMap(parseSources);
}
