// Auth on both wire paths: NATS token auth (agent and collector) and the API's bearer token.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createTestJournal, journalRemoteAvailable, type TestJournal } from './support/journal.js';
import { startStack, type Stack } from './support/stack.js';
import { startCli, getJson, type Proc } from './support/procs.js';
import { freePort, waitFor, sleep } from './support/wait.js';

if (!journalRemoteAvailable()) throw new Error('systemd-journal-remote missing: run npm test (installs it as root)');

let journal: TestJournal, stack: Stack, intruder: Proc | undefined;
const NATS_TOKEN = 's3cret-nats-token';

test.before(async () => {
  journal = createTestJournal();
  await journal.append(['boot']);
  stack = await startStack({
    node: 'auth-node',
    journalDir: journal.dir,
    natsToken: NATS_TOKEN,
    agentArgs: ['--probes', 'none', '--container-log-dir', ''],
    collectorArgs: ['--api-token', 'api-token-1'],
  });
});
test.after(async () => {
  await intruder?.stop('SIGKILL');
  await stack?.stop();
  journal?.remove();
});

test('with the NATS token, drops flow from agent to collector', async () => {
  await journal.append(['calico-packet: IN=eth0 OUT= SRC=10.0.0.1 DST=10.0.0.2 PROTO=TCP SPT=1 DPT=443 ']);
  const r = await waitFor('flow', async () => {
    const d = await getJson<{ total: number }>(`${stack.api}/api/v1/drops`, 'api-token-1');
    return d.total === 1 ? d : undefined;
  });
  assert.is(r.total, 1);
});

test('a collector without the NATS token is refused, says so, and is not ready', async () => {
  const port = await freePort();
  intruder = startCli(['collector', '--nats', stack.nats.url, '--listen', `127.0.0.1:${port}`]);
  await intruder.waitForLog(/cannot attach to NATS/);
  assert.match(intruder.output(), /[Aa]uthorization/);
  await sleep(200);
  const ready = await fetch(`http://127.0.0.1:${port}/readyz`);
  assert.is(ready.status, 503);
  assert.match(await ready.text(), /NATS consumer not attached/);
});

test('the API refuses a wrong bearer token; health endpoints stay open', async () => {
  assert.is((await fetch(`${stack.api}/api/v1/nodes`, { headers: { authorization: 'Bearer nope' } })).status, 401);
  assert.is((await fetch(`${stack.api}/healthz`)).status, 200);
});

test.run();
