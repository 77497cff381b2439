// The journal source against the real journalctl: first start skips history, resume after a cursor,
// a rejected cursor, a missing journalctl (logged, counted, retried — never a crash), huge records.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { JournalSource, type JournalCounter } from '../agent/sources/journal.js';
import type { LogEntry } from '../agent/parse/log-line.js';
import { createTestJournal, journalRemoteAvailable, type TestJournal } from './support/journal.js';
import { SealStore } from '../agent/outbox/seal-store.js';
import { waitFor, sleep } from './support/wait.js';

if (!journalRemoteAvailable()) throw new Error('systemd-journal-remote missing: run npm test (installs it as root)');

let journal: TestJournal;
const logLines: string[] = [];
const log = pino(
  { level: 'info' },
  {
    write: (s: string) => {
      logLines.push(s);
    },
  },
);

function source(opts: { afterCursor?: string; journalctl?: string } = {}) {
  const seen: LogEntry[] = [];
  const counts: Partial<Record<JournalCounter, number>> = {};
  let ready = false;
  const src = new JournalSource({
    journalctl: opts.journalctl ?? 'journalctl',
    journalDir: journal.dir,
    match: ['_TRANSPORT=kernel'],
    afterCursor: opts.afterCursor,
    consumers: [{ name: 't', literals: ['calico-packet:'], onEntry: (e) => seen.push(e) }],
    log,
    onCounter: (n, k = 1) => {
      counts[n] = (counts[n] ?? 0) + k;
    },
    onReady: () => {
      ready = true;
    },
  });
  src.start();
  return { src, seen, counts, isReady: () => ready };
}
const drop = (i: number) => `calico-packet: IN=eth0 OUT= SRC=10.0.0.${i} DST=10.0.1.1 PROTO=TCP SPT=1 DPT=80 `;

test.before(async () => {
  journal = createTestJournal();
  await journal.append([drop(1), drop(2), 'not a drop']);
});
test.after(() => journal.remove());

test('first start does not replay history; new records arrive with journal time and cursor', async () => {
  const s = source();
  await waitFor('ready', () => s.isReady());
  await journal.append([drop(3), 'other kernel line', drop(4)]);
  await waitFor('two new drops', () => s.seen.length === 2);
  assert.equal(
    s.seen.map((e) => e.message.split(' ')[3]),
    ['SRC=10.0.0.3', 'SRC=10.0.0.4'],
  );
  assert.ok(s.seen[0].timeMs! > Date.now() - 60_000);
  assert.ok(s.seen[1].cursor);
  await sleep(300);
  assert.is(s.counts.lines, 3);
  assert.is(s.counts.parsed, 2, 'only lines with a literal are JSON-parsed');
  await s.src.stop();
});

test('resume after a cursor gives exactly the records after it, however many (journalctl -f alone shows 10)', async () => {
  const a = source();
  await waitFor('ready', () => a.isReady());
  await journal.append([drop(5)]);
  await waitFor('drop 5', () => a.seen.length === 1);
  const cursor = a.src.currentCursor()!;
  await a.src.stop();
  const backlog = Array.from({ length: 40 }, (_, i) => drop(100 + i));
  await journal.append(backlog);
  const b = source({ afterCursor: cursor });
  await waitFor('the whole backlog', () => b.seen.length === 40);
  await sleep(300);
  assert.is(b.seen.length, 40);
  assert.equal(b.seen[0].message.split(' ')[3], 'SRC=10.0.0.100');
  assert.equal(b.seen[39].message.split(' ')[3], 'SRC=10.0.0.139');
  await b.src.stop();
});

test("a consumer's own match (the kubelet's records) is OR-ed in and routed to it alone; kernel consumers never see it", async () => {
  const kernel: LogEntry[] = [];
  const kubelet: LogEntry[] = [];
  let ready = false;
  const src = new JournalSource({
    journalctl: 'journalctl',
    journalDir: journal.dir,
    match: ['_TRANSPORT=kernel'],
    log,
    onReady: () => {
      ready = true;
    },
    consumers: [
      { name: 'drops', literals: ['calico-packet:', 'mirror pod'], onEntry: (e) => kernel.push(e) },
      {
        name: 'kubelet',
        literals: ['mirror pod'],
        match: 'SYSLOG_IDENTIFIER=kubelet',
        onEntry: (e) => kubelet.push(e),
      },
    ],
  });
  src.start();
  await waitFor('ready', () => ready);
  await journal.append(['E1123 kubelet.go:3501] "Failed creating a mirror pod" err="x" pod="a/b"'], {
    transport: 'stdout',
    identifier: 'kubelet',
  });
  await journal.append(['mirror pod: a kernel line that happens to say so', drop(9)]);
  await journal.append(['mirror pod from some other daemon'], { transport: 'stdout', identifier: 'containerd' });
  await waitFor('the kubelet record and both kernel records', () => kubelet.length === 1 && kernel.length === 2);
  await sleep(300);
  assert.equal(
    kubelet.map((e) => [e.message.slice(0, 23), e.fields]),
    [['E1123 kubelet.go:3501] ', { SYSLOG_IDENTIFIER: 'kubelet' }]],
  );
  assert.equal(
    kernel.map((e) => e.message.slice(0, 10)),
    ['mirror pod', 'calico-pac'],
    'records of neither match are not read at all',
  );
  await src.stop();
});

test('a cursor journalctl rejects: one warning, then it follows from the end', async () => {
  const s = source({ afterCursor: 's=deadbeef;i=1' });
  await waitFor('cursor warning', () => logLines.some((l) => l.includes('saved cursor rejected')), 15_000);
  await sleep(1500);
  await journal.append([drop(8)]);
  await waitFor('drop 8', () => s.seen.length === 1, 15_000);
  await s.src.stop();
});

test('journalctl missing: a clear error line, counted restarts with backoff, no crash', async () => {
  const before = logLines.length;
  const s = source({ journalctl: '/nonexistent/journalctl' });
  await waitFor('two restarts', () => (s.counts.restarts ?? 0) >= 2, 10_000);
  const errs = logLines.slice(before).filter((l) => l.includes('/nonexistent/journalctl'));
  assert.ok(errs.length >= 2);
  assert.match(errs[0], /not found/);
  const delays = errs.map((l) => JSON.parse(l).retryInMs as number);
  assert.ok(delays[1] > delays[0], `backoff grows: ${delays}`);
  await s.src.stop();
});

test('records far over the size bound are skipped and counted; the next one still arrives', async () => {
  const s = source();
  await waitFor('ready', () => s.isReady());
  // A 200 KiB message is one JSON line under the 1 MiB bound and arrives whole; a 1.5 MiB one is over it.
  await journal.append([`${drop(9)}${'x'.repeat(200_000)}`, `${drop(8)}${'y'.repeat(1_500_000)}`, drop(10)]);
  await waitFor(
    'the records around the huge one',
    () => s.seen.length === 2 && s.counts.rejected_too_long === 1,
    15_000,
  );
  assert.is(s.seen[0].message.length > 200_000, true);
  assert.ok(s.seen[1].message.startsWith(drop(10)));
  assert.is(s.counts.rejected_too_long, 1);
  await s.src.stop();
});

test('spool: bounded by bytes, the oldest seal goes first; files survive a reopen', () => {
  const dir = mkdtempSync(join(tmpdir(), 'nw-spool-'));
  try {
    const spool = new SealStore(dir, 3000);
    const msg = (n: number) => ({ subject: 's', msgId: `m${n}`, data: new Uint8Array(900).fill(n) });
    let evicted = 0;
    for (let i = 1; i <= 5; i++)
      evicted += spool.write({ index: i, cursor: `c${i}`, messages: [msg(i)] }, undefined).evictedSeals;
    assert.is(evicted, 2);
    assert.equal(spool.indexes(), [3, 4, 5]);
    assert.ok(spool.totalBytes <= 3000);
    const again = new SealStore(dir, 3000);
    assert.equal(again.indexes(), [3, 4, 5]);
    const item = again.read(5);
    assert.equal([item.cursor, item.messages[0].msgId, item.messages[0].data[0]], ['c5', 'm5', 5]);
    assert.ok(!readdirSync(dir).some((f) => f.endsWith('.tmp')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
