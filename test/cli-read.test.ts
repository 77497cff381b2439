// The read commands as kubectl users use them, against a real stack (journal → agent → NATS →
// collector): -w follows real drops and findings, -o json|yaml parse back, --no-headers, the
// namespace scope (-n, -A, the kubeconfig's context), version with the collector's revision.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { createTestJournal, journalRemoteAvailable, type TestJournal } from './support/journal.js';
import { startStack, type Stack } from './support/stack.js';
import { runCli, startCli } from './support/procs.js';
import { waitFor } from './support/wait.js';
import { criLines, podLog, RuntimeWriter } from './logs/helpers.js';

if (!journalRemoteAvailable()) throw new Error('systemd-journal-remote missing: run npm test (installs it as root)');

const pod = (ns: string, name: string, ip: string) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { namespace: ns, name, uid: `uid-${name}` },
  spec: { nodeName: 'cli-node' },
  status: { phase: 'Running', podIP: ip, podIPs: [{ ip }], hostIP: '192.0.2.10', hostIPs: [{ ip: '192.0.2.10' }] },
});
const line = (src: string, dst: string, dpt: number) =>
  `calico-packet: IN=cali1 OUT=eth0 SRC=${src} DST=${dst} LEN=60 PROTO=TCP SPT=40000 DPT=${dpt} SYN `;
/** etcd's own words when its quota is full (agent/logs/builtin-rules.ts: EtcdNoSpace). */
const ETCD_NOSPACE =
  '{"level":"warn","ts":"2026-12-03T17:00:00.000Z","caller":"etcdserver/util.go:123","msg":"failed to apply request","error":"etcdserver: no space"}';

let journal: TestJournal, stack: Stack, api: string;
const dir = mkdtempSync(join(tmpdir(), 'nw-cli-read-'));
const logs = join(dir, 'logs');

test.before(async () => {
  mkdirSync(join(logs, 'containers'), { recursive: true });
  journal = createTestJournal();
  await journal.append(['boot']);
  stack = await startStack({
    node: 'cli-node',
    journalDir: journal.dir,
    pods: [
      pod('shop', 'web-0', '10.244.1.10'),
      pod('shop', 'db-0', '10.244.1.20'),
      pod('other', 'x-0', '10.244.2.10'),
      pod('other', 'y-0', '10.244.2.20'),
    ],
    agentArgs: [
      '--probes',
      'none',
      '--container-log-dir',
      join(logs, 'containers'),
      '--log-poll-interval',
      '100ms',
      '--log-rescan-interval',
      '200ms',
    ],
  });
  api = stack.api;
  await journal.append([line('10.244.1.10', '10.244.1.20', 5432), line('10.244.2.10', '10.244.2.20', 8080)]);
  await waitFor('two flows', async () => (await cliJson(['drops', '-A'])).total === 2, 15_000);
});
test.after(async () => {
  await stack?.stop();
  journal?.remove();
  rmSync(dir, { recursive: true, force: true });
});

async function cli(args: string[], env?: NodeJS.ProcessEnv) {
  const r = await runCli([...args, '--collector', api], undefined, 20_000, undefined, env);
  return r;
}
async function cliJson(args: string[]) {
  const r = await cli([...args, '-o', 'json']);
  if (r.code !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout) as { items: Record<string, any>[]; total: number };
}

test('-o json and -o yaml print the same answer, which parses back; LAST SEEN is an age', async () => {
  for (const cmd of ['drops', 'nodes']) {
    const args = cmd === 'drops' ? [cmd, '-A'] : [cmd];
    const j = await cli([...args, '-o', 'json']);
    const y = await cli([...args, '-o', 'yaml']);
    assert.is(y.code, 0, y.stderr);
    const fromJson = JSON.parse(j.stdout),
      fromYaml = parseYaml(y.stdout);
    assert.equal(
      fromYaml.items.map((i: any) => i.node),
      fromJson.items.map((i: any) => i.node),
      cmd,
    );
    assert.ok(fromYaml.items.length > 0, cmd);
    assert.is(fromYaml.total, fromJson.total);
  }
  const t = await cli(['drops', '-A']);
  // kubectl's ages: "5s", "1m2s"; never an ISO time in the table
  assert.match(
    t.stdout,
    /^\d+(s|m\d*s?)\s+1\s+cli-node\s+TCP\s+shop\/web-0 \(10\.244\.1\.10\)\s+shop\/db-0 \(10\.244\.1\.20\)\s+5432$/m,
    t.stdout,
  );
  assert.not.match(t.stdout, /\d{4}-\d{2}-\d{2}T/);
  const wide = await cli(['drops', '-A', '-o', 'wide']);
  assert.match(wide.stdout, /^LAST SEEN\s+COUNT\s+NODE\s+PROTO\s+SOURCE\s+DESTINATION\s+PORT\s+WHY$/m);
});

test('--no-headers prints only the rows', async () => {
  const r = await cli(['drops', '-A', '--no-headers']);
  assert.is(r.code, 0, r.stderr);
  const rows = r.stdout.trim().split('\n');
  assert.is(rows.length, 2, r.stdout);
  assert.not.match(r.stdout, /LAST SEEN/);
  const n = await cli(['nodes', '--no-headers']);
  assert.match(n.stdout, /^cli-node\s+yes\s/);
});

test('namespace scope: -n, --pod ns/name, -A, else the kubeconfig context namespace, else "default"', async () => {
  const kubeconfig = join(dir, 'kubeconfig');
  writeFileSync(
    kubeconfig,
    'apiVersion: v1\nkind: Config\ncurrent-context: dev\ncontexts:\n- name: dev\n  context: {cluster: c, user: u, namespace: other}\n- name: prod\n  context: {cluster: c, user: u, namespace: shop}\n',
  );
  const fromContext = await cli(['drops'], { KUBECONFIG: kubeconfig });
  assert.match(fromContext.stdout, /other\/x-0/);
  assert.not.match(fromContext.stdout, /shop\//);
  const none = await cli(['drops'], { KUBECONFIG: join(dir, 'absent') });
  assert.is(none.code, 0);
  assert.is(none.stdout, 'No drops found in namespace default.\n');
  const shop = await cli(['drops', '-n', 'shop'], { KUBECONFIG: kubeconfig });
  assert.match(shop.stdout, /shop\/web-0/);
  assert.not.match(shop.stdout, /other\//);
  const byPod = await cliJson(['drops', '--pod', 'shop/db-0']);
  assert.equal(
    byPod.items.map((f) => f.dst.pod.name),
    ['db-0'],
  );
  assert.is((await cliJson(['drops', '--pod', 'other/db-0'])).total, 0);
  assert.is((await cliJson(['drops', '-A', '-n', 'shop'])).total, 2, '-A wins over -n, as in kubectl');
});

test('drops -w prints the table, then a row when a real drop arrives, survives a collector restart; Ctrl-C exits 0', async () => {
  const w = startCli(['drops', '-A', '-w', '--collector', api]);
  try {
    await w.waitForLog(/^LAST SEEN\s+COUNT.*\n.*shop\/db-0.*\n.*other\/y-0/m, 15_000);
    await journal.append([line('10.244.1.10', '10.244.2.20', 9090)]);
    await w.waitForLog(/shop\/web-0 \(10\.244\.1\.10\)\s+other\/y-0 \(10\.244\.2\.20\)\s+9090\n/, 15_000);
    // A repeat of a known flow is a new row with the new count.
    await journal.append([line('10.244.1.10', '10.244.2.20', 9090)]);
    await w.waitForLog(
      /\s2\s+cli-node\s+TCP\s+shop\/web-0 \(10\.244\.1\.10\)\s+other\/y-0 \(10\.244\.2\.20\)\s+9090\n/,
      15_000,
    );
    // The stream ends with the collector; -w reconnects and shows what happened meanwhile.
    await stack.collector.stop();
    await w.waitForLog(/watch: .*reconnecting in/, 15_000);
    await stack.startCollector().waitForLog(/collector: consuming/);
    await journal.append([line('10.244.2.10', '10.244.1.10', 7070)]);
    await w.waitForLog(/other\/x-0 \(10\.244\.2\.10\)\s+shop\/web-0 \(10\.244\.1\.10\)\s+7070\n/, 30_000);
    const before = w.output();
    assert.is(
      before.match(/other\/y-0 \(10\.244\.2\.20\)\s+8080/g)?.length,
      1,
      `the replayed state is not printed again:\n${before}`,
    );
    assert.is(await w.stop('SIGINT'), 0);
  } finally {
    await w.stop('SIGKILL');
  }
});

test('findings -w and nodes -w print a row when a container log raises a real finding; -o yaml and filters', async () => {
  const w = startCli(['findings', '-A', '-w', '--collector', api]);
  const n = startCli(['nodes', '-w', '--collector', api]);
  try {
    // Bounded but generous: two CLIs start at once on a shared 2-core machine.
    await w.waitForLog(/^STATE\s+SEVERITY\s+NODE\s+KIND\s+POD\s+LAST SEEN\s+MESSAGE\n/m, 30_000);
    await n.waitForLog(/^NODE\s+HEALTHY.*\ncli-node\s+yes\s+0\s/m, 30_000);
    const etcd = await podLog(logs, { namespace: 'kube-system', pod: 'etcd-cli-node', container: 'etcd' });
    const writer = new RuntimeWriter(etcd.file);
    await writer.write(criLines('stderr', ETCD_NOSPACE));
    await writer.close();
    await w.waitForLog(/^ACTIVE\s+critical\s+cli-node\s+EtcdNoSpace\s+kube-system\/etcd-cli-node\s+\d+s\s/m, 20_000);
    // The critical finding makes the node unhealthy: nodes -w prints its new row.
    await n.waitForLog(/^cli-node\s+NO\s+1\s+\d+s\s+\S+\s+unhealthy\s/m, 15_000);
    assert.is(await w.stop('SIGINT'), 0);
    assert.is(await n.stop('SIGINT'), 0);
  } finally {
    await w.stop('SIGKILL');
    await n.stop('SIGKILL');
  }
  const y = await cli(['findings', '-n', 'kube-system', '--severity', 'critical', '--since', '10m', '-o', 'yaml']);
  assert.is(y.code, 0, y.stderr);
  assert.equal(
    parseYaml(y.stdout).items.map((f: any) => f.kind),
    ['EtcdNoSpace'],
  );
  assert.is((await cliJson(['findings', '-n', 'shop'])).total, 0, 'a pod finding stays in its namespace');
  assert.is((await cliJson(['findings', '-A', '--severity', 'info'])).total, 0);
  assert.is((await cliJson(['findings', '-A', '--since-time', new Date(Date.now() + 60_000).toISOString()])).total, 0);
  assert.is(
    (await cliJson(['findings', '--pod', 'kube-system/etcd-cli-node', '--since-time', '2020-01-01T00:00:00Z'])).total,
    1,
  );
});

test('-w -o json: one JSON object per line, each exactly a list item', async () => {
  const w = startCli(['findings', '-A', '-w', '-o', 'json', '--collector', api]);
  try {
    await w.waitForLog(/EtcdNoSpace.*\n/, 15_000);
    const lines = w
      .output()
      .split('\n')
      .filter((l) => l.startsWith('{'));
    const items = lines.map((l) => JSON.parse(l));
    const listed = (await cliJson(['findings', '-A'])).items;
    assert.equal(
      items.find((f) => f.kind === 'EtcdNoSpace'),
      listed.find((f) => f.kind === 'EtcdNoSpace'),
    );
    assert.is(await w.stop('SIGINT'), 0);
  } finally {
    await w.stop('SIGKILL');
  }
});

test('version: the client and the collector, each with its revision', async () => {
  const r = await cli(['version']);
  assert.is(r.code, 0, r.stderr);
  assert.match(
    r.stdout,
    /^Client Version: \d+\.\d+\.\d+ \(revision [0-9a-f]{7,}|unknown\)\nCollector Version: \d+\.\d+\.\d+ \(revision [^)]+\) at http:\/\/127\.0\.0\.1:\d+\n$/,
  );
  const j = JSON.parse((await cli(['version', '-o', 'json'])).stdout);
  assert.equal(Object.keys(j), ['client', 'collector']);
  assert.is(j.collector.revision, j.client.revision, 'same checkout');
  const down = await runCli(['version', '--collector', 'http://127.0.0.1:9']);
  assert.is(down.code, 1);
  assert.match(down.stdout, /^Client Version: /);
  assert.match(down.stderr, /cannot reach the collector/);
});

test('-w against an unreachable collector fails at once with one line, exit 1', async () => {
  const r = await runCli(['drops', '-w', '-A', '--collector', 'http://127.0.0.1:9'], undefined, 15_000);
  assert.is(r.code, 1);
  assert.match(r.stderr, /^nodewarden drops: cannot reach the collector at http:\/\/127\.0\.0\.1:9/);
});

test.run();
