// The monitoring kit on a real Prometheus (Debian's): it scrapes a real collector and agent every
// second (the scrape config mirrors deploy/components/monitoring: the agent's node as a `node`
// label), loads the kit's rules, and after real drops and a real OOM kill read from a journal, every
// dashboard panel's PromQL returns series and nodewarden_packet_drops_total has the folded labels
// and the exact counts written.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestJournal, journalRemoteAvailable, type TestJournal } from './support/journal.js';
import { QUICK_AGENT_ARGS, startStack, type Stack } from './support/stack.js';
import { freePort, waitFor } from './support/wait.js';
import { PROMETHEUS, dashboardQueries, prometheusAvailable, writeRuleFiles } from './support/monitoring.js';
import { REVISION, VERSION } from '../common/version.js';

const NODE = 'node-m.example';
const UID = '3f1c2a4e-1111-4222-8333-444455556666';
const pods = [
  {
    metadata: { namespace: 'shop', name: 'web-0', uid: UID },
    spec: { nodeName: NODE },
    status: { podIP: '10.244.0.4', podIPs: [{ ip: '10.244.0.4' }], hostIP: '10.4.0.4' },
  },
  {
    metadata: { namespace: 'data', name: 'db-0', uid: 'uid-db' },
    spec: { nodeName: 'node-b' },
    status: { podIP: '10.244.1.6', podIPs: [{ ip: '10.244.1.6' }], hostIP: '10.4.0.5' },
  },
];
const line = (src: string, dst: string, dpt: number, spt: number, proto = 'TCP') =>
  `calico-packet: IN=cali1a2b3c4d5e6 OUT=eth0 SRC=${src} DST=${dst} LEN=60 TOS=0x00 PREC=0x00 TTL=63 ID=1 DF PROTO=${proto} SPT=${spt} DPT=${dpt} WINDOW=64240 RES=0x00 SYN URGP=0 `;
const n = (k: number, f: (i: number) => string) => Array.from({ length: k }, (_, i) => f(i));
// A kernel OOM kill in the memory cgroup of web-0 (the two lines the kernel prints, joined by pid).
const oom = [
  `oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=cri-containerd-0123456789ab.scope,mems_allowed=0,oom_memcg=/kubepods/burstable/pod${UID},task_memcg=/kubepods/burstable/pod${UID}/0123456789ab,task=python3,pid=4242,uid=0`,
  'Memory cgroup out of memory: Killed process 4242 (python3) total-vm:1000kB, anon-rss:900kB, file-rss:0kB, shmem-rss:0kB, UID:0 pgtables:100kB oom_score_adj:999',
];

if (!(prometheusAvailable() && journalRemoteAvailable()))
  throw new Error(
    'monitoring-prometheus needs prometheus and systemd-journal-remote: run npm test as root (it installs them)',
  );
let journal: TestJournal,
  stack: Stack,
  prom: ChildProcess | undefined,
  promUrl = '',
  dir = '';

type Sample = { metric: Record<string, string>; value: [number, string] };
async function query(expr: string): Promise<Sample[]> {
  const r = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(expr)}`, {
    signal: AbortSignal.timeout(5000),
  });
  const body = (await r.json()) as { status: string; error?: string; data: { resultType: string; result: Sample[] } };
  assert.is(body.status, 'success', `${expr}: ${body.error}`);
  return body.data.result;
}

test.before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'nw-prometheus-'));
  journal = createTestJournal();
  await journal.append(['Linux version 6.18 (boot banner, not a drop)']); // journalctl needs a journal file to follow
  const agentPort = await freePort();
  stack = await startStack({
    node: NODE,
    journalDir: journal.dir,
    pods,
    agentArgs: [...QUICK_AGENT_ARGS, '--metrics-listen', `127.0.0.1:${agentPort}`],
  });
  const promPort = await freePort();
  promUrl = `http://127.0.0.1:${promPort}`;
  writeRuleFiles(dir);
  writeFileSync(
    join(dir, 'prometheus.yml'),
    [
      'global: { scrape_interval: 1s, evaluation_interval: 1s }',
      'rule_files: [rules.yaml]',
      'scrape_configs:',
      `  - job_name: nodewarden-collector`,
      `    static_configs: [{ targets: ['${new URL(stack.api).host}'] }]`,
      `  - job_name: nodewarden-agent`,
      `    static_configs: [{ targets: ['127.0.0.1:${agentPort}'], labels: { node: '${NODE}' } }]`,
      '',
    ].join('\n'),
  );
  prom = spawn(
    PROMETHEUS,
    [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${promPort}`,
      '--log.level=warn',
    ],
    { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let promErr = '';
  prom.stderr!.on('data', (c: Buffer) => {
    promErr += c.toString();
  });
  await waitFor(
    `prometheus ready\n${promErr}`,
    async () => (await fetch(`${promUrl}/-/ready`).catch(() => undefined))?.ok,
    30_000,
    200,
  );
});

test.after(async () => {
  if (prom?.pid && prom.exitCode === null) {
    const gone = new Promise((r) => prom!.once('exit', r));
    prom.kill('SIGTERM');
    await Promise.race([gone, new Promise((r) => setTimeout(r, 10_000))]);
    if (prom.exitCode === null) prom.kill('SIGKILL');
  }
  await stack?.stop();
  journal?.remove();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('both targets are up, every counter exists from the first scrape, and the rules loaded', async () => {
  await waitFor('both targets up', async () => (await query('up == 1')).length === 2, 20_000, 250);
  // absent() works before anything happened: the series are there at 0
  for (const s of [
    'nodewarden_agent_nats_connects_total{outcome="auth_failed"}',
    'nodewarden_collector_messages_rejected_total{reason="corrupt"}',
    'nodewarden_agent_drop_lines_rejected_total{reason="bad_address"}',
    'nodewarden_collector_drop_series_overflow_total',
  ]) {
    const r = await query(s);
    assert.is(r.length, 1, s);
    assert.is(r[0].value[1], '0', s);
  }
  const info = await query('nodewarden_build_info');
  assert.equal(info.map((s) => [s.metric.job, s.metric.version, s.metric.revision, s.value[1]]).sort(), [
    ['nodewarden-agent', VERSION, REVISION, '1'],
    ['nodewarden-collector', VERSION, REVISION, '1'],
  ]);
  // no unprefixed default metrics, one prefix per role
  const names = (await (await fetch(`${promUrl}/api/v1/label/__name__/values`)).json()) as { data: string[] };
  const own = names.data.filter((x) => !/^(up|scrape_.*|ALERTS.*)$/.test(x));
  assert.ok(own.length > 20);
  for (const x of own)
    assert.match(
      x,
      /^nodewarden_(agent|collector)_|^nodewarden_(packet_drops_total|findings_active|nodes|build_info)$/,
      x,
    );
  const rules = (await (await fetch(`${promUrl}/api/v1/rules`)).json()) as {
    data: { groups: { rules: { name: string; health: string }[] }[] };
  };
  const loaded = rules.data.groups.flatMap((g) => g.rules);
  assert.is(loaded.length, 8);
  for (const r of loaded) assert.is.not(r.health, 'err', r.name);
});

test('after real drops and an OOM kill, every dashboard panel returns series and the drop counter is exact', async () => {
  // 5 pod -> pod, 3 to the internet, 2 to a node IP, 4 to an unnamed private IP (UDP)
  await journal.append([
    ...n(5, (i) => line('10.244.0.4', '10.244.1.6', 5432, 40000 + i)),
    ...n(3, (i) => line('10.244.0.4', '93.184.216.34', 443, 41000 + i)),
    ...n(2, (i) => line('10.244.0.4', '10.4.0.5', 10250, 42000 + i)),
    ...n(4, (i) => line('10.244.0.4', '10.9.9.9', 53, 43000 + i, 'UDP')),
    ...oom,
  ]);
  const want: Record<string, number> = {
    'shop|data|TCP': 5,
    'shop|external|TCP': 3,
    'shop|node|TCP': 2,
    'shop|unknown|UDP': 4,
  };
  const got = await waitFor(
    'all 14 drops scraped',
    async () => {
      const r = await query('nodewarden_packet_drops_total{src_namespace!="_other_"}');
      const m = Object.fromEntries(
        r.map((s) => [`${s.metric.src_namespace}|${s.metric.dst_namespace}|${s.metric.proto}`, Number(s.value[1])]),
      );
      return Object.values(m).reduce((a, b) => a + b, 0) === 14 ? { r, m } : undefined;
    },
    30_000,
    250,
  );
  assert.equal(got.m, want);
  for (const s of got.r) {
    assert.is(s.metric.node, NODE);
    assert.is(s.metric.job, 'nodewarden-collector');
  }
  await waitFor(
    'the OOM kill is an active finding',
    async () =>
      (await query(`nodewarden_findings_active{kind="OOMKilled",severity="warning",node="${NODE}"} == 1`)).length === 1,
    30_000,
    250,
  );
  const nodes = await query('nodewarden_nodes');
  assert.equal(Object.fromEntries(nodes.map((s) => [s.metric.state, s.value[1]])), {
    healthy: '1',
    unhealthy: '0',
    stale: '0',
  });
  // rate() needs two samples after the increase: wait for a few more scrapes
  await waitFor(
    'a rate over the drops',
    async () => (await query('rate(nodewarden_packet_drops_total[1m]) > 0')).length === 4,
    20_000,
    250,
  );
  const queries = dashboardQueries({ rateInterval: '1m', range: '5m' });
  assert.is(queries.length, 10);
  for (const q of queries) {
    const r = await query(q.expr);
    assert.ok(r.length > 0, `panel "${q.panel}" returned no series: ${q.expr}`);
  }
  const pairs = await query(queries.find((q) => q.panel === 'Packet drops by namespace pair')!.expr);
  // the four pairs, and the overflow set (registered at start) at 0: the cap was not reached
  assert.equal(
    Object.fromEntries(
      pairs.map((s) => [`${s.metric.src_namespace}->${s.metric.dst_namespace}`, Number(s.value[1]) > 0]),
    ),
    {
      '_other_->_other_': false,
      'shop->data': true,
      'shop->external': true,
      'shop->node': true,
      'shop->unknown': true,
    },
  );
  const top = await query(queries.find((q) => q.panel.startsWith('Top dropped flows'))!.expr);
  assert.is(top[0].metric.dst_namespace, 'data', 'the biggest pair first');
  const findings = await query(queries.find((q) => q.panel === 'Active findings by node')!.expr);
  assert.equal(
    findings.map((s) => [s.metric.node, s.metric.severity, s.value[1]]),
    [[NODE, 'warning', '1']],
  );
  const nats = await query(queries.find((q) => q.panel === 'Agent NATS connection')!.expr);
  assert.equal(
    nats.map((s) => [s.metric.node, s.value[1]]),
    [[NODE, '1']],
  );
});

test('a collector restart replays the stream without a reset or a spike: the same target goes from 14 to 14', async () => {
  const before = await query('sum(nodewarden_packet_drops_total)');
  assert.is(before[0].value[1], '14');
  await stack.collector.stop();
  await waitFor(
    'the collector target down',
    async () => (await query('up{job="nodewarden-collector"} == 0')).length === 1,
    20_000,
    250,
  );
  await stack.startCollector().waitForLog(/collector: caught up with the stream/, 30_000);
  await waitFor(
    'the collector target up again',
    async () => (await query('up{job="nodewarden-collector"} == 1')).length === 1,
    20_000,
    250,
  );
  // a few scrapes of the new process
  const started = Date.now() / 1000;
  await waitFor(
    'three scrapes after the restart',
    async () => Number((await query('timestamp(up{job="nodewarden-collector"})'))[0]?.value[1]) > started + 3,
    20_000,
    250,
  );
  assert.is((await query('sum(nodewarden_packet_drops_total)'))[0].value[1], '14', 'the replayed total, not doubled');
  const resets = await query('resets(nodewarden_packet_drops_total[5m]) > 0');
  assert.equal(resets, [], 'Prometheus saw no counter reset');
  const increase = await query('sum(increase(nodewarden_packet_drops_total[2m]))');
  assert.ok(
    Number(increase[0].value[1]) <= 14 * 1.5,
    `no replay spike: increase over 2m is ${increase[0].value[1]} for 14 real drops`,
  );
});

test.run();
