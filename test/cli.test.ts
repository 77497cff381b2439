// The `nodewarden` CLI contract: parse output (docs/architecture.md#cli), help, config errors exit 2.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli, startCli } from './support/procs.js';

const real = readFileSync(new URL('./fixtures/kernel/drop-lines.txt', import.meta.url), 'utf8')
  .split('\n')
  .filter((l) => l && !l.startsWith('#'));
const dir = mkdtempSync(join(tmpdir(), 'nw-cli-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

const journalLine = (msg: string, usec = '1795442355193845') =>
  JSON.stringify({ __REALTIME_TIMESTAMP: usec, __CURSOR: 's=1;i=1', _TRANSPORT: 'kernel', MESSAGE: msg });

test('parse: raw and journal JSON lines -> NDJSON with the contract fields; other lines print nothing', async () => {
  const input = [
    `Nov 23 13:59:01 vm kernel: [  779.047770] ${real[0]}`,
    journalLine(real.find((l) => l.includes('TYPE=3 CODE=3'))!),
    'Nov 23 13:59:02 vm kernel: eth0: link up',
    journalLine('some other kernel line'),
    `2026-11-23T13:59:03.5+00:00 vm kernel: ${real.find((l) => l.includes('PROTO=ICMPv6'))!}`,
    '\u0000\u0001\u0002 binary junk',
  ].join('\n');
  const r = await runCli(['parse', '--prefix', 'calico-packet:', '--prefix', 'calico-drop:'], input);
  assert.is(r.code, 0, r.stderr);
  const out = r.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  assert.is(out.length, 3);
  assert.equal(
    Object.keys(out[0]).sort(),
    ['dst', 'dstPort', 'family', 'in', 'out', 'prefix', 'proto', 'src', 'srcPort', 'time', 'ttl'].sort(),
  );
  assert.equal(
    [out[0].prefix, out[0].family, out[0].proto, out[0].src, out[0].dstPort, out[0].in, out[0].out],
    ['calico-packet:', 4, 'TCP', '10.99.0.1', 5432, 'veth-b', ''],
  );
  assert.equal(
    [out[1].proto, out[1].icmpType, out[1].icmpCode, out[1].time],
    ['ICMP', 3, 3, new Date(1795442355193).toISOString()],
  );
  assert.equal(
    [out[2].family, out[2].proto, out[2].src, out[2].time],
    [6, 'ICMPV6', 'fd00:99::1', '2026-11-23T13:59:03.500Z'],
  );
});

test('parse --pods-file names pods; --explain says why lines were rejected', async () => {
  const pods = join(dir, 'pods.json');
  writeFileSync(
    pods,
    JSON.stringify({
      kind: 'List',
      items: [
        {
          metadata: { namespace: 'db', name: 'pg-0', uid: 'u1' },
          status: { podIP: '10.99.0.2', podIPs: [{ ip: '10.99.0.2' }] },
        },
      ],
    }),
  );
  const r = await runCli(
    ['parse', '--pods-file', pods, '--explain'],
    `${real[0]}\ncalico-packet: SRC=999.1.1.1 DST=10.0.0.1\n{"MESSAGE": broken\n`,
  );
  const d = JSON.parse(r.stdout.trim());
  assert.equal(d.dstPod, { namespace: 'db', name: 'pg-0' });
  assert.is(d.srcPod, undefined);
  assert.match(r.stderr, /line 2: bad-address/);
  assert.match(r.stderr, /line 3: bad-json/);
});

test('parse skips a journal record with an impossible time, counts it, and keeps every drop around it', async () => {
  const rec = (t: string) => JSON.stringify({ MESSAGE: real[0], __REALTIME_TIMESTAMP: t, __CURSOR: 's=1' });
  const r = await runCli(
    ['parse'],
    [rec('1795442355193845'), rec('99999999999999999999'), rec('-5'), rec('1795442355193846')].join('\n'),
  );
  assert.is(r.code, 0, r.stderr);
  assert.is(r.stdout.trim().split('\n').length, 2);
  assert.match(r.stderr, /skipped 2 unreadable drop records \(bad-time 2\)/);
});

test('parse survives a 10 MB line without newline and keeps the good lines around it', async () => {
  const r = await runCli(['parse', '--explain'], `${real[0]}\n${'A'.repeat(10 * 1024 * 1024)}\n${real[1]}`);
  assert.is(r.code, 0);
  assert.is(r.stdout.trim().split('\n').length, 2);
  assert.match(r.stderr, /too-long/);
});

test('--help answers for every command; bad config exits 2 with one line', async () => {
  for (const cmd of [
    'agent',
    'collector',
    'parse',
    'drops',
    'findings',
    'nodes',
    'explain',
    'runtime',
    'version',
    'completion',
  ]) {
    const h = await runCli([cmd, '--help']);
    assert.is(h.code, 0, cmd);
    assert.match(h.stdout, new RegExp(`Usage: nodewarden ${cmd}`));
    // kubectl's habit: examples before the flags, each one a runnable nodewarden command
    if (['drops', 'findings', 'nodes', 'explain', 'runtime', 'version', 'completion'].includes(cmd)) {
      const examples = h.stdout.slice(h.stdout.indexOf('\nExamples:\n'), h.stdout.indexOf('\nFlags:\n'));
      assert.ok(examples.length > 0, `${cmd}: an Examples: block before Flags:`);
      assert.ok(
        examples
          .split('\n')
          .some((l) => l.startsWith(`  nodewarden ${cmd}`) || l.startsWith(`  source <(nodewarden ${cmd}`)),
        `${cmd}: ${examples}`,
      );
    }
  }
  const top = await runCli(['--help']);
  assert.match(top.stdout, /Commands:/);
  const bad = [
    [['agent', '--window', 'soon'], /--window: "soon" is not a duration/],
    [['agent', '--bogus'], /Unknown option '--bogus'/],
    [['collector', '--listen', 'nope'], /--listen: "nope" is not HOST:PORT/],
    [['collector', '--pods-file', join(dir, 'missing.json')], /--pods-file .*no such file/],
    [['drops', '-o', 'xml'], /--output must be table, wide, json or yaml, not "xml"/],
    [
      ['collector', '--pod-cidr', '10.244.0.0/33', '--pods-file', '/dev/null'],
      /--pod-cidr: "10.244.0.0\/33" is not a CIDR/,
    ],
    [['explain', 'shop/web-0', 'kube-system/coredns-abc', '53/ICMP'], /protocol must be TCP, UDP or SCTP/],
    [['explain', 'shop/web-0', '53/UDP'], /expected FROM TO PORT\[\/PROTO\]/],
    [['frobnicate'], /unknown command "frobnicate"/],
  ] as const;
  for (const [args, re] of bad) {
    const r = await runCli([...args]);
    assert.is(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, re);
    assert.is(r.stderr.trim().split('\n').length, 1, r.stderr);
  }
});

test('read commands: extra arguments, bad URLs, times and choices are usage errors (exit 2, one line)', async () => {
  const bad = [
    [['drops', 'shop'], /unexpected argument "shop"/],
    [['findings', '-A', 'now'], /unexpected argument "now"/],
    [['nodes', 'extra'], /unexpected argument "extra"/],
    [['version', 'x'], /unexpected argument "x"/],
    [['drops', '--collector', 'localhost:8080'], /--collector: "localhost:8080" is not an http\(s\) base URL/],
    [['nodes', '--collector', 'ftp://127.0.0.1'], /--collector: "ftp:\/\/127\.0\.0\.1" is not an http\(s\) base URL/],
    [['findings', '--collector', 'http://[::1'], /--collector: .* is not an http\(s\) base URL/],
    [['drops', '--since-time', 'yesterday'], /--since-time: "yesterday" is not an RFC 3339 time/],
    [['findings', '--since-time', '2026-12-03 14:00'], /is not an RFC 3339 time/],
    [['findings', '--since-time', '2026-02-30T10:00:00Z'], /is not an RFC 3339 time/],
    [['drops', '--since', '1h', '--since-time', '2026-12-03T14:00:00Z'], /--since and --since-time exclude each other/],
    [['drops', '--since', 'soon'], /--since: "soon" is not a duration/],
    [['findings', '--severity', 'high'], /--severity must be critical, warning, info, not "high"/],
    [['drops', '--pod', 'a/b/c'], /--pod: "a\/b\/c" is not NAME or NAMESPACE\/NAME/],
    [['drops', '--pod', 'shop/web-0', '-n', 'pay'], /disagree/],
    [['drops', '-n', 'Not_A_Namespace'], /is not a namespace name/],
    [['nodes', '--timeout', 'fast'], /--timeout: "fast" is not a duration/],
    [['completion', 'fish'], /expected one shell: bash or zsh/],
  ] as const;
  // Three at a time: each is a short-lived process, and the machine is shared.
  const results: Awaited<ReturnType<typeof runCli>>[] = [];
  for (let i = 0; i < bad.length; i += 3)
    results.push(...(await Promise.all(bad.slice(i, i + 3).map(([args]) => runCli([...args])))));
  for (const [k, [args, re]] of bad.entries()) {
    const r = results[k];
    assert.is(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, re);
    assert.is(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.is(r.stdout, '');
  }
});

test('completion bash|zsh: generated from the specs, every command and flag; bash completes them for real', async () => {
  const { commands } = await import('../cli/main.js');
  const bash = await runCli(['completion', 'bash']);
  const zsh = await runCli(['completion', 'zsh']);
  assert.is(bash.code, 0, bash.stderr);
  for (const c of commands) {
    assert.match(bash.stdout, new RegExp(`\\b${c.spec.name}\\b`));
    assert.match(zsh.stdout, new RegExp(`'${c.spec.name}:`));
    for (const [flag, f] of Object.entries(c.spec.flags)) {
      assert.ok(
        bash.stdout.includes(`--${flag} `) || bash.stdout.includes(`--${flag}"`),
        `bash: ${c.spec.name} --${flag}`,
      );
      assert.ok(
        zsh.stdout.includes(`--${flag}[`) || zsh.stdout.includes(`--${flag}}'[`),
        `zsh: ${c.spec.name} --${flag}`,
      );
      if (f.short)
        assert.ok(
          bash.stdout.includes(` -${f.short} `) || bash.stdout.includes(` -${f.short}"`),
          `bash: ${c.spec.name} -${f.short}`,
        );
    }
  }
  const file = join(dir, 'nodewarden.bash');
  writeFileSync(file, bash.stdout);
  const { spawnSync } = await import('node:child_process');
  // What bash offers at <TAB>: COMP_WORDS as bash fills them, then the generated function.
  const complete = (words: string[]) =>
    spawnSync(
      'bash',
      [
        '-c',
        `source ${file}; COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _nodewarden; printf '%s\\n' "\${COMPREPLY[@]}"`,
      ],
      { encoding: 'utf8' },
    );
  assert.equal(complete(['nodewarden', 'fin']).stdout.split('\n').filter(Boolean), ['findings']);
  assert.equal(complete(['nodewarden', 'drops', '--no-h']).stdout.split('\n').filter(Boolean), ['--no-headers']);
  assert.equal(complete(['nodewarden', 'drops', '-o', '']).stdout.split('\n').filter(Boolean), [
    'table',
    'wide',
    'json',
    'yaml',
  ]);
  assert.equal(complete(['nodewarden', 'findings', '--severity', 'c']).stdout.split('\n').filter(Boolean), [
    'critical',
  ]);
  assert.equal(complete(['nodewarden', 'completion', '']).stdout.split('\n').filter(Boolean), ['bash', 'zsh']);
  const zfile = join(dir, '_nodewarden');
  writeFileSync(zfile, zsh.stdout);
  const z = spawnSync(
    'zsh',
    [
      '-fc',
      `autoload -U compinit; compinit -u -d ${join(dir, 'zcompdump')}; source ${zfile}; print -- \${+functions[_nodewarden]} \$_comps[nodewarden]`,
    ],
    { encoding: 'utf8' },
  );
  if (z.error) throw new Error(`zsh missing (${z.error.message}): run npm test as root, ensure-deps installs it`);
  assert.is(z.stdout.trim(), '1 _nodewarden', z.stderr);
});

test('flags fall back to NODEWARDEN_<FLAG> environment variables', async () => {
  const { spawnSync } = await import('node:child_process');
  const r = spawnSync(
    process.execPath,
    ['--import', 'tsx', new URL('../cli/entry.ts', import.meta.url).pathname, 'agent'],
    { env: { ...process.env, NODEWARDEN_WINDOW: 'later' }, encoding: 'utf8', timeout: 20_000 },
  );
  assert.is(r.status, 2);
  assert.match(r.stderr, /--window: "later"/);
});

test('agent and collector stop on SIGTERM even when NATS was never reachable, also while still starting', async () => {
  for (const args of [
    [
      'agent',
      '--node',
      'n1',
      '--nats',
      'nats://127.0.0.1:1',
      '--state-dir',
      join(dir, 'st'),
      '--journal-dir',
      dir,
      '--probes',
      'none',
      '--container-log-dir',
      '',
      '--runtime',
      'off',
    ],
    ['collector', '--nats', 'nats://127.0.0.1:1', '--listen', '127.0.0.1:0'],
  ]) {
    // the first log line (start-up under way), then once fully started
    for (const when of [/\{/, args[0] === 'agent' ? /agent: started/ : /API listening/]) {
      const p = startCli(args);
      await p.waitForLog(when);
      const t0 = Date.now();
      const code = await p.stop('SIGTERM');
      assert.is(code, 0, `${args[0]} exit code after ${when}: ${p.output().slice(-1000)}`);
      assert.ok(Date.now() - t0 < 8000, `${args[0]} took ${Date.now() - t0} ms to stop`);
    }
  }
});

test('--timeout: a collector that accepts but never answers is one line, exit 1, also with -w', async () => {
  const { createServer } = await import('node:net');
  const held: import('node:net').Socket[] = [];
  const server = createServer((sock) => {
    held.push(sock);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as import('node:net').AddressInfo).port}`;
  try {
    const [plain, watch] = await Promise.all([
      runCli(['nodes', '--collector', url, '--timeout', '500ms']),
      runCli(['drops', '-A', '-w', '--collector', url, '--timeout', '500ms']),
    ]);
    assert.is(plain.code, 1);
    assert.match(
      plain.stderr,
      new RegExp(`^nodewarden nodes: the collector at ${url} did not answer in time \\(--timeout\\)\n$`),
    );
    assert.is(watch.code, 1);
    assert.match(watch.stderr, /^nodewarden drops: cannot reach the collector at .*: no answer within --timeout\n$/);
  } finally {
    for (const s of held) s.destroy();
    server.close();
  }
});

test('drops: an unreachable collector is one clear line, exit 1', async () => {
  const r = await runCli(['drops', '--collector', 'http://127.0.0.1:9']);
  assert.is(r.code, 1);
  assert.match(r.stderr, /cannot reach the collector at http:\/\/127\.0\.0\.1:9/);
});

test.run();
