// `npm run demo`: a real two-pod network lab (root) or a replayed recorded journal (not root),
// NATS, the collector and the agent; blocked connections show up as named flows within a second.
import { readFileSync } from 'node:fs';
import { labUp, LAB_IPS, type Lab } from '../test/support/lab.js';
import { createTestJournal, journalRemoteAvailable, type TestJournal } from '../test/support/journal.js';
import { startStack, type Stack } from '../test/support/stack.js';
import { runCli, getJson } from '../test/support/procs.js';
import { waitFor, isRoot, sleep } from '../test/support/wait.js';

const say = (m: string) => process.stdout.write(`\x1b[1m==>\x1b[0m ${m}\n`);
const root = isRoot();
let lab: Lab | undefined, journal: TestJournal | undefined, stack: Stack | undefined;

async function cleanup(): Promise<void> {
  await stack?.stop();
  await lab?.down();
  journal?.remove();
  stack = lab = journal = undefined;
}
let stopping = false;
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    if (stopping) return;
    stopping = true;
    say('stopping: removing everything the demo started');
    void cleanup().finally(() => process.exit(130));
  });
}

const pods = [
  { metadata: { namespace: 'shop', name: 'web-0', uid: 'demo-web-0' }, spec: { nodeName: 'demo-node' }, status: { podIP: LAB_IPS.podA, podIPs: [{ ip: LAB_IPS.podA }], hostIP: LAB_IPS.node } },
  { metadata: { namespace: 'shop', name: 'db-0', uid: 'demo-db-0' }, spec: { nodeName: 'demo-node' }, status: { podIP: LAB_IPS.podB, podIPs: [{ ip: LAB_IPS.podB }], hostIP: LAB_IPS.node } },
  { metadata: { namespace: 'payments', name: 'ledger-0', uid: 'demo-ledger-0' }, spec: { nodeName: 'demo-node-2' }, status: { podIP: LAB_IPS.remote, podIPs: [{ ip: LAB_IPS.remote }], hostIP: '10.4.0.5' } },
];

async function main(): Promise<void> {
  let journalDir: string;
  if (root) {
    say('root: building a real lab (network namespaces web-0 and db-0, iptables LOG+DROP on port 12865, a private journald)');
    lab = await labUp(`nwdemo${process.pid % 10000}`);
    journalDir = lab.journalDir;
  } else {
    say('not root: no network namespaces or kernel LOG lines; replaying recorded kernel lines through the same journalctl path instead');
    if (!journalRemoteAvailable()) throw new Error('systemd-journal-remote is not installed (apt-get install systemd-journal-remote, as root)');
    journal = createTestJournal();
    await journal.append(['demo journal start']);
    journalDir = journal.dir;
  }
  // Probes and container logs stay off: the demo is about packet drops, and this VM's own faults would only distract.
  stack = await startStack({ node: 'demo-node', journalDir, pods, agentArgs: ['--probes', 'none', '--container-log-dir', ''] });
  const api = stack.api;
  say(`nats-server with JetStream on ${stack.nats.url}; collector API on ${api}  (try: curl -s ${api}/api/v1/drops)`);
  say('agent following the journal');

  // One round of traffic; resolves when it is done, while the caller already watches the API.
  const round = async (): Promise<void> => {
    if (lab) {
      await Promise.all([lab.blockedConnects(2), lab.blockedConnects(1, LAB_IPS.remote), lab.allowedConnect()]);
    } else {
      const recorded = readFileSync(new URL('../test/fixtures/kernel/demo-journal.txt', import.meta.url), 'utf8').split('\n').filter((l) => l && !l.startsWith('#'));
      await journal!.append(recorded);
    }
  };
  say(lab ? 'web-0 connects to db-0:12865 and ledger-0:12865 (blocked) and db-0:8080 (allowed)' : 'appending recorded calico-packet lines to the journal');
  const t0 = Date.now();
  const traffic = round();
  await waitFor('drops in the API', async () => ((await getJson<{ total: number }>(`${api}/api/v1/drops`)).total >= 2), 15_000, 20);
  say(`both flows visible in the API ${Date.now() - t0} ms after the first packet`);
  await traffic;
  await sleep(300);
  say('nodewarden drops:');
  process.stdout.write((await runCli(['drops', '--collector', api])).stdout);
  say('nodewarden drops -n payments -o json:');
  process.stdout.write((await runCli(['drops', '--collector', api, '-n', 'payments', '-o', 'json'])).stdout);

  if (process.stdin.isTTY) {
    say('blocked traffic repeats every 5 s; counts grow. Ctrl-C stops and removes everything.');
    for (;;) { await sleep(5000); if (stopping) return; await round(); process.stdout.write((await runCli(['drops', '--collector', api])).stdout); }
  }
  await cleanup();
  say('done; everything the demo started is gone');
}

main().catch(async (err) => {
  process.stderr.write(`demo failed: ${(err as Error).message}\n`);
  await cleanup();
  process.exit(1);
});
