// `npm run demo`: a real two-pod network lab (root) or a replayed recorded journal (not root),
// NATS, the collector and the agent; blocked connections show up as named flows within a second,
// a container log line raises a finding, and on a terminal `drops -w` follows until Ctrl-C.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { labUp, LAB_IPS, type Lab } from '../test/support/lab.js';
import { createTestJournal, journalRemoteAvailable, type TestJournal } from '../test/support/journal.js';
import { startStack, type Stack } from '../test/support/stack.js';
import { runCli, startCli, getJson, type Proc } from '../test/support/procs.js';
import { waitFor, isRoot, sleep } from '../test/support/wait.js';
import { criLines, podLog, RuntimeWriter } from '../test/logs/helpers.js';

// Bold arrows on a terminal only: piped output (CI, a file) and NO_COLOR (no-color.org) get plain text.
const color = process.stdout.isTTY === true && !process.env.NO_COLOR;
const say = (m: string) => process.stdout.write(`${color ? '\x1b[1m==>\x1b[0m' : '==>'} ${m}\n`);
const root = isRoot();
let lab: Lab | undefined, journal: TestJournal | undefined, stack: Stack | undefined, follow: Proc | undefined;
const logDir = mkdtempSync(join(tmpdir(), 'nwdemo-logs-'));

async function cleanup(): Promise<void> {
  await follow?.stop();
  await stack?.stop();
  await lab?.down();
  journal?.remove();
  rmSync(logDir, { recursive: true, force: true });
  follow = stack = lab = journal = undefined;
}
let stopping = false;
// SIGHUP too: `npm run demo` exits at once on Ctrl-C and the closing terminal must not cut the cleanup short.
const EXIT_CODES = { SIGINT: 0, SIGTERM: 143, SIGHUP: 129 } as const;
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(sig, () => {
    if (stopping) return;
    stopping = true;
    say('stopping: removing everything the demo started');
    // Ctrl-C is how the demo is meant to end on a terminal: a clean exit.
    void cleanup().finally(() => process.exit(EXIT_CODES[sig]));
  });
}

/** A nodewarden read command, shown with its command line and printed as it prints. */
async function show(args: string[]): Promise<void> {
  say(`nodewarden ${args.join(' ')}`);
  const r = await runCli([...args, '--collector', stack!.api]);
  process.stdout.write(r.stdout + r.stderr);
}

const pods = [
  {
    metadata: { namespace: 'shop', name: 'web-0', uid: 'demo-web-0' },
    spec: { nodeName: 'demo-node' },
    status: { podIP: LAB_IPS.podA, podIPs: [{ ip: LAB_IPS.podA }], hostIP: LAB_IPS.node },
  },
  {
    metadata: { namespace: 'shop', name: 'db-0', uid: 'demo-db-0' },
    spec: { nodeName: 'demo-node' },
    status: { podIP: LAB_IPS.podB, podIPs: [{ ip: LAB_IPS.podB }], hostIP: LAB_IPS.node },
  },
  {
    metadata: { namespace: 'payments', name: 'ledger-0', uid: 'demo-ledger-0' },
    spec: { nodeName: 'demo-node-2' },
    status: { podIP: LAB_IPS.remote, podIPs: [{ ip: LAB_IPS.remote }], hostIP: '10.4.0.5' },
  },
];

async function main(): Promise<void> {
  let journalDir: string;
  if (root) {
    say(
      'root: building a real lab (network namespaces web-0 and db-0, iptables LOG+DROP on port 12865, a private journald)',
    );
    lab = await labUp(`nwdemo${process.pid % 10000}`);
    journalDir = lab.journalDir;
  } else {
    say(
      'not root: no network namespaces or kernel LOG lines; replaying recorded kernel lines through the same journalctl path instead',
    );
    if (!journalRemoteAvailable())
      throw new Error('systemd-journal-remote is not installed (apt-get install systemd-journal-remote, as root)');
    journal = createTestJournal();
    await journal.append(['demo journal start']);
    journalDir = journal.dir;
  }
  // Probes stay off: this VM's own faults would only distract. Container logs come from the demo's own tree.
  stack = await startStack({
    node: 'demo-node',
    journalDir,
    pods,
    agentArgs: [
      '--probes',
      'none',
      '--runtime',
      'off',
      '--container-log-dir',
      join(logDir, 'containers'),
      '--log-poll-interval',
      '100ms',
      '--log-rescan-interval',
      '500ms',
    ],
  });
  const api = stack.api;
  say(`nats-server with JetStream on ${stack.nats.url}; collector API on ${api}  (try: curl -s ${api}/api/v1/drops)`);
  say('agent following the journal and the container logs');

  // One round of traffic; resolves when it is done, while the caller already watches the API.
  const round = async (): Promise<void> => {
    if (lab) {
      await Promise.all([lab.blockedConnects(2), lab.blockedConnects(1, LAB_IPS.remote), lab.allowedConnect()]);
    } else {
      const recorded = readFileSync(new URL('../test/fixtures/kernel/demo-journal.txt', import.meta.url), 'utf8')
        .split('\n')
        .filter((l) => l && !l.startsWith('#'));
      await journal!.append(recorded);
    }
  };
  say(
    lab
      ? 'web-0 connects to db-0:12865 and ledger-0:12865 (blocked) and db-0:8080 (allowed)'
      : 'appending recorded calico-packet lines to the journal',
  );
  const t0 = Date.now();
  const traffic = round();
  await waitFor(
    'drops in the API',
    async () => (await getJson<{ total: number }>(`${api}/api/v1/drops`)).total >= 2,
    15_000,
    20,
  );
  say(`both flows visible in the API ${Date.now() - t0} ms after the first packet`);
  await traffic;
  await sleep(300);
  await show(['drops', '-A']);
  await show(['drops', '-n', 'payments', '-o', 'json']);

  // etcd's own words when its space quota is full, in a kubelet-shaped container log tree.
  say('etcd in kube-system/etcd-demo-node logs "etcdserver: no space" (written to its container log)');
  const etcd = await podLog(logDir, { namespace: 'kube-system', pod: 'etcd-demo-node', container: 'etcd' });
  const writer = new RuntimeWriter(etcd.file);
  await writer.write(
    criLines(
      'stderr',
      JSON.stringify({
        level: 'warn',
        ts: new Date().toISOString(),
        caller: 'etcdserver/util.go:123',
        msg: 'failed to apply request',
        error: 'etcdserver: no space',
      }),
    ),
  );
  await writer.close();
  await waitFor(
    'the EtcdNoSpace finding',
    async () => (await getJson<{ total: number }>(`${api}/api/v1/findings?kind=EtcdNoSpace`)).total >= 1,
    20_000,
    50,
  );
  await show(['findings', '-A']);
  await show(['nodes']);
  say(`web view: ${api}/  (open it in a browser; it updates live)`);

  if (process.stdout.isTTY) {
    say(
      'following drops live (nodewarden drops -A -w); blocked traffic repeats every 5 s. Ctrl-C stops and removes everything.',
    );
    follow = startCli(['drops', '-A', '-w', '--collector', api]);
    follow.child.stdout!.pipe(process.stdout);
    for (;;) {
      await sleep(5000);
      if (stopping) return;
      await round();
    }
  }
  await cleanup();
  say('done; everything the demo started is gone');
}

main().catch(async (err) => {
  // Ctrl-C reaches the whole foreground process group, so a round of traffic in flight fails too;
  // the signal handler is already cleaning up and exits 0.
  if (stopping) return;
  process.stderr.write(`demo failed: ${(err as Error).message}\n`);
  await cleanup();
  process.exit(1);
});
