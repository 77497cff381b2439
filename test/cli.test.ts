// The `nodewarden` CLI contract: parse output (docs/architecture.md#cli), help, config errors exit 2.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli, startCli } from './support/procs.js';

const real = readFileSync(new URL('./fixtures/kernel/drop-lines.txt', import.meta.url), 'utf8').split('\n').filter((l) => l && !l.startsWith('#'));
const dir = mkdtempSync(join(tmpdir(), 'nw-cli-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

const journalLine = (msg: string, usec = '1795442355193845') => JSON.stringify({ __REALTIME_TIMESTAMP: usec, __CURSOR: 's=1;i=1', _TRANSPORT: 'kernel', MESSAGE: msg });

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
  const out = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
  assert.is(out.length, 3);
  assert.equal(Object.keys(out[0]).sort(), ['dst', 'dstPort', 'family', 'in', 'out', 'prefix', 'proto', 'src', 'srcPort', 'time', 'ttl'].sort());
  assert.equal([out[0].prefix, out[0].family, out[0].proto, out[0].src, out[0].dstPort, out[0].in, out[0].out], ['calico-packet:', 4, 'TCP', '10.99.0.1', 5432, 'veth-b', '']);
  assert.equal([out[1].proto, out[1].icmpType, out[1].icmpCode, out[1].time], ['ICMP', 3, 3, new Date(1795442355193).toISOString()]);
  assert.equal([out[2].family, out[2].proto, out[2].src, out[2].time], [6, 'ICMPV6', 'fd00:99::1', '2026-11-23T13:59:03.500Z']);
});

test('parse --pods-file names pods; --explain says why lines were rejected', async () => {
  const pods = join(dir, 'pods.json');
  writeFileSync(pods, JSON.stringify({ kind: 'List', items: [{ metadata: { namespace: 'db', name: 'pg-0', uid: 'u1' }, status: { podIP: '10.99.0.2', podIPs: [{ ip: '10.99.0.2' }] } }] }));
  const r = await runCli(['parse', '--pods-file', pods, '--explain'], `${real[0]}\ncalico-packet: SRC=999.1.1.1 DST=10.0.0.1\n{"MESSAGE": broken\n`);
  const d = JSON.parse(r.stdout.trim());
  assert.equal(d.dstPod, { namespace: 'db', name: 'pg-0' });
  assert.is(d.srcPod, undefined);
  assert.match(r.stderr, /line 2: bad-address/);
  assert.match(r.stderr, /line 3: bad-json/);
});

test('parse skips a journal record with an impossible time, counts it, and keeps every drop around it', async () => {
  const rec = (t: string) => JSON.stringify({ MESSAGE: real[0], __REALTIME_TIMESTAMP: t, __CURSOR: 's=1' });
  const r = await runCli(['parse'], [rec('1795442355193845'), rec('99999999999999999999'), rec('-5'), rec('1795442355193846')].join('\n'));
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
  for (const cmd of ['agent', 'collector', 'parse', 'drops', 'findings', 'nodes', 'explain']) {
    const h = await runCli([cmd, '--help']);
    assert.is(h.code, 0, cmd);
    assert.match(h.stdout, new RegExp(`Usage: nodewarden ${cmd}`));
  }
  const top = await runCli(['--help']);
  assert.match(top.stdout, /Commands:/);
  const bad = [
    [['agent', '--window', 'soon'], /--window: "soon" is not a duration/],
    [['agent', '--bogus'], /Unknown option '--bogus'/],
    [['collector', '--listen', 'nope'], /--listen: "nope" is not HOST:PORT/],
    [['collector', '--pods-file', join(dir, 'missing.json')], /--pods-file .*no such file/],
    [['drops', '-o', 'yaml'], /--output must be table, wide or json/],
    [['collector', '--pod-cidr', '10.244.0.0/33', '--pods-file', '/dev/null'], /--pod-cidr: "10.244.0.0\/33" is not a CIDR/],
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

test('flags fall back to NODEWARDEN_<FLAG> environment variables', async () => {
  const { spawnSync } = await import('node:child_process');
  const r = spawnSync(process.execPath, ['--import', 'tsx', new URL('../cli/entry.ts', import.meta.url).pathname, 'agent'], { env: { ...process.env, NODEWARDEN_WINDOW: 'later' }, encoding: 'utf8', timeout: 20_000 });
  assert.is(r.status, 2);
  assert.match(r.stderr, /--window: "later"/);
});

test('agent and collector stop on SIGTERM even when NATS was never reachable, also while still starting', async () => {
  for (const args of [['agent', '--node', 'n1', '--nats', 'nats://127.0.0.1:1', '--state-dir', join(dir, 'st'), '--journal-dir', dir, '--probes', 'none', '--container-log-dir', '', '--runtime', 'off'],
    ['collector', '--nats', 'nats://127.0.0.1:1', '--listen', '127.0.0.1:0']]) {
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

test('drops: an unreachable collector is one clear line, exit 1', async () => {
  const r = await runCli(['drops', '--collector', 'http://127.0.0.1:9']);
  assert.is(r.code, 1);
  assert.match(r.stderr, /cannot reach the collector at http:\/\/127\.0\.0\.1:9/);
});

test.run();
