// The real agent process against real nats-server faults: a wrong token, no server at start, and
// someone else publishing under the agent's message IDs. Each fault is logged once, retried forever,
// visible on /readyz, and every drop still reaches the collector.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { createTestJournal, journalRemoteAvailable, type TestJournal } from './support/journal.js';
import { startNats, type NatsServer } from './support/nats.js';
import { startCli, spawnCollector, getJson, type Proc } from './support/procs.js';
import { waitFor, freePort } from './support/wait.js';

if (!journalRemoteAvailable())
  throw new Error('systemd-journal-remote is missing: run `npm test` (it installs it as root)');

const NODE = 'nats-node';
let journal: TestJournal;
let dir: string;
const cleanups: (() => Promise<void> | void)[] = [];

const line = (dpt: number, spt: number) =>
  `calico-packet: IN=cali1a2b3c4d5e6 OUT=eth0 SRC=10.244.0.4 DST=10.244.1.6 LEN=60 TOS=0x00 PREC=0x00 TTL=63 ID=1 DF PROTO=TCP SPT=${spt} DPT=${dpt} WINDOW=64240 RES=0x00 SYN URGP=0 `;
const lines = (n: number, dpt: number) => Array.from({ length: n }, (_, i) => line(dpt, 30000 + i));

interface Run {
  agent: Proc;
  metrics: string;
}

const tok = (t?: string) => (t ? ['--nats-token', t] : []);

/** One agent (own state dir, own metrics port) against `nats`. */
async function startAgent(nats: NatsServer, agentToken: string | undefined, extra: string[] = []): Promise<Run> {
  const state = mkdtempSync(join(dir, 'state-'));
  const mport = await freePort();
  const agent = startCli([
    'agent',
    '--node',
    NODE,
    '--nats',
    nats.url,
    ...tok(agentToken),
    '--state-dir',
    state,
    '--journal-dir',
    journal.dir,
    '--window',
    '100ms',
    '--max-hold',
    '1s',
    '--heartbeat-interval',
    '1s',
    '--probes',
    'none',
    '--container-log-dir',
    '',
    '--runtime',
    'off',
    '--metrics-listen',
    `127.0.0.1:${mport}`,
    ...extra,
  ]);
  cleanups.push(() => agent.stop().then(() => undefined));
  await agent.waitForLog(/journal: following/);
  return { agent, metrics: `http://127.0.0.1:${mport}` };
}

/** The collector; returns its API URL. */
async function startCollector(nats: NatsServer, token?: string): Promise<string> {
  const c = await spawnCollector(nats.url, tok(token));
  cleanups.push(() => c.stop().then(() => undefined));
  await c.waitForLog(/collector: consuming/);
  return c.api;
}

const delivered = async (api: string, dpt: number) =>
  (await getJson<{ items: { count: number; dst: { port?: number } }[] }>(`${api}/api/v1/drops?limit=10000`)).items
    .filter((f) => f.dst.port === dpt)
    .reduce((a, f) => a + f.count, 0);
/**
 * One series' value; `series` is its exposition text, e.g. nodewarden_agent_nats_connects_total{outcome="unreachable"}.
 */
const metric = async (r: Run, series: string) =>
  Number(
    new RegExp(`^${series.replace(/[{}]/g, '\\$&')} (\\S+)$`, 'm').exec(
      await (await fetch(`${r.metrics}/metrics`)).text(),
    )?.[1] ?? 0,
  );
const readyz = async (r: Run) => {
  const res = await fetch(`${r.metrics}/readyz`);
  return { status: res.status, text: await res.text() };
};
const occurrences = (p: Proc, re: RegExp) =>
  p
    .output()
    .split('\n')
    .filter((l) => re.test(l)).length;

test.before(async () => {
  journal = createTestJournal();
  await journal.append(['Linux version 6.18 (boot banner, not a drop)']);
  dir = mkdtempSync(join(tmpdir(), 'nw-natsfaults-'));
});

test.after.each(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

test.after(() => {
  journal?.remove();
  rmSync(dir, { recursive: true, force: true });
});

test('wrong NATS token: logged once, retried until the server takes the token, /readyz says why, then delivered', async () => {
  const nats = await startNats({ token: 'old-token' });
  cleanups.push(() => nats.stop());
  const r = await startAgent(nats, 'new-token');
  await r.agent.waitForLog(/nats: auth failed: .*authorization violation/i);
  await journal.append(lines(30, 7001));
  await waitFor(
    'several rejected attempts',
    async () =>
      nats.authFailures() >= 4 && (await metric(r, 'nodewarden_agent_nats_connects_total{outcome="auth_failed"}')) >= 3,
    20_000,
  );
  assert.is(occurrences(r.agent, /nats: auth failed/), 1, 'one log line for the whole episode');
  const rz = await readyz(r);
  assert.is(rz.status, 503);
  assert.match(rz.text, /^not ready: NATS authorization failed: .*authorization violation/i);
  assert.ok(r.agent.child.exitCode === null, 'still running');
  // The operator fixes the server's token: the agent gets through by itself.
  await nats.kill();
  await nats.start({ token: 'new-token' });
  const api = await startCollector(nats, 'new-token');
  await waitFor('30 drops after the token fix', async () => (await delivered(api, 7001)) === 30, 30_000);
  assert.is((await readyz(r)).status, 200);
  assert.is(occurrences(r.agent, /nats: connected/), 1);
  const nodes = await waitFor('nats status in the nodes view', async () => {
    const n = await getJson<{ items: { node: string; probes?: { name: string; ok: boolean; detail: string }[] }[] }>(
      `${api}/api/v1/nodes`,
    );
    return n.items.find((x) => x.node === NODE)?.probes?.find((p) => p.name === 'nats');
  });
  assert.is(nodes.ok, true);
  assert.match(
    nodes.detail,
    /^connected; last problem: (auth failed: .*authorization violation|unreachable: .*ECONNREFUSED)/i,
  );
  // Rotated under a connected agent: refused at every reconnect, logged once more, never given up.
  await nats.kill();
  await nats.start({ token: 'rotated-token' });
  await waitFor('auth failure after the rotation', () => occurrences(r.agent, /nats: auth failed/) === 2, 30_000);
  assert.match(
    (await readyz(r)).text,
    /NATS authorization failed/,
    r.agent
      .output()
      .split('\n')
      .filter((l) => /nats/.test(l))
      .join('\n'),
  );
  await journal.append(lines(10, 7001));
  await nats.kill();
  await nats.start({ token: 'new-token' });
  await waitFor('40 drops after the rotation back', async () => (await delivered(api, 7001)) === 40, 30_000);
  assert.is((await readyz(r)).status, 200);
  assert.is(occurrences(r.agent, /someone else publishes/), 0, 'retries are not unexpected duplicates');
});

test('a connected collector outlives a server that turned its token away for a while', async () => {
  const nats = await startNats({ token: 'good-token' });
  cleanups.push(() => nats.stop());
  const api = await startCollector(nats, 'good-token');
  await nats.kill();
  await nats.start({ token: 'other-token' });
  // Only the collector connects: three refusals in a row, where the client's default gives up after two.
  await waitFor('the collector still trying after three refusals', () => nats.authFailures() >= 3, 20_000);
  await nats.kill();
  await nats.start({ token: 'good-token' });
  await startAgent(nats, 'good-token');
  await journal.append(lines(15, 7004));
  await waitFor('15 drops through the same collector', async () => (await delivered(api, 7004)) === 15, 30_000);
});

test('NATS unreachable when the agent starts: logged once, retried, delivered when it comes up', async () => {
  const nats = await startNats();
  cleanups.push(() => nats.stop());
  await nats.kill();
  const r = await startAgent(nats, undefined);
  await r.agent.waitForLog(/nats: unreachable: connect ECONNREFUSED 127\.0\.0\.1/);
  await journal.append(lines(20, 7002));
  await waitFor(
    'several attempts',
    async () => (await metric(r, 'nodewarden_agent_nats_connects_total{outcome="unreachable"}')) >= 3,
    20_000,
  );
  assert.is(occurrences(r.agent, /nats: unreachable/), 1);
  const rz = await readyz(r);
  assert.is(rz.status, 503);
  assert.match(rz.text, /^not ready: NATS unreachable: connect ECONNREFUSED/);
  await nats.start();
  const api = await startCollector(nats);
  await waitFor('20 drops once NATS is up', async () => (await delivered(api, 7002)) === 20, 30_000);
  assert.is((await readyz(r)).status, 200);
});

test("someone else published under the agent's next message IDs: logged as an error, the drops still arrive exactly once", async () => {
  const nats = await startNats();
  cleanups.push(() => nats.stop());
  // One heartbeat (seq 1) right after connecting, no other periodic message: the next IDs are predictable.
  const api = await startCollector(nats); // first: it creates the stream the heartbeat goes to
  const r = await startAgent(nats, undefined, ['--heartbeat-interval', '1h']);
  const agentId = (/"agentId":"([0-9a-f]{32})"/.exec(r.agent.output()) ?? [])[1];
  assert.ok(agentId, 'the start log names a 128-bit agent ID');
  await waitFor('first heartbeat (seq 1) in', async () =>
    (await getJson<{ items: { node: string }[] }>(`${api}/api/v1/nodes`)).items.some((n) => n.node === NODE),
  );
  const nc = await connect({ servers: nats.url });
  const js = jetstream(nc);
  const taken = [2, 3, 4].map((seq) => `${NODE}/${agentId}/${seq}`);
  for (const id of taken)
    assert.is(
      (await js.publish(`nodewarden.v1.${NODE}.drops`, new TextEncoder().encode('not yours'), { msgID: id })).duplicate,
      false,
    );
  await nc.close();
  await journal.append(lines(25, 7003));
  await waitFor('25 drops despite the taken IDs', async () => (await delivered(api, 7003)) === 25, 20_000);
  for (const id of taken) assert.match(r.agent.output(), new RegExp(`"msgId":"${id}".*someone else publishes`));
  assert.is(await metric(r, 'nodewarden_agent_publish_duplicates_unexpected_total'), 3);
  await r.agent.waitForLog(new RegExp(`"republishedAs":"${NODE}/${agentId}/5"`));
  assert.is(await delivered(api, 7003), 25);
});

test.run();
