// The outbox against a real full disk (a small tmpfs, ENOSPC from the kernel): the byte budget over
// memory + disk, eviction order, the journal-cursor invariant, temp-file cleanup. Plus the pure rules.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, readdirSync, writeFileSync, mkdirSync, unlinkSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { evictions, safeCursor, type HeldSeal } from '../agent/outbox/budget.js';
import { SealStore } from '../agent/outbox/seal-store.js';
import { Outbox, type OutboxCounter } from '../agent/outbox/outbox.js';
import { Publisher } from '../agent/outbox/publisher.js';
import { backoff } from '../common/backoff.js';
import pino from 'pino';
import { decodeEnvelope } from '../proto/codec.js';
import { createLogger } from '../common/log.js';
import type { FindingReport } from '../agent/findings.js';
import type { Drop } from '../agent/parse/packet-drop.js';
import { mountTmpfs, type Tmpfs } from './support/tmpfs.js';
import { isRoot } from './support/wait.js';

if (!isRoot()) throw new Error('outbox-disk needs root (it mounts a small tmpfs); CI runs as root');

const seal = (index: number, bytes: number, inMemory: boolean, prevCursor?: string): HeldSeal => ({
  index,
  bytes,
  inMemory,
  prevCursor,
});
const msg = (n: number, size = 900) => ({ subject: 's', msgId: `m${n}`, data: new Uint8Array(size).fill(n % 256) });

let fs: Tmpfs;
test.before(() => {
  fs = mountTmpfs(1 << 20);
});
test.after(() => fs?.unmount());
test.before.each(() => {
  fs.free();
  for (const f of readdirSync(fs.dir)) rmSync(join(fs.dir, f), { recursive: true, force: true });
});

test('budget: oldest seals go first wherever they are held, never the newest', () => {
  const held = [seal(1, 100, true), seal(2, 100, false), seal(3, 100, true), seal(4, 100, false)];
  assert.equal(evictions(held, 400, 250), [1, 2]);
  assert.equal(evictions(held, 400, 400), []);
  assert.equal(evictions([seal(7, 5000, true)], 5000, 100), [], 'a single seal over budget is still sent');
});

test('cursor invariant: a memory-only seal pins the cursor before its records; disk or none lets it move', () => {
  assert.is(safeCursor([seal(1, 1, false, 'c0'), seal(2, 1, true, 'c1'), seal(3, 1, true, 'c2')], 'c9'), 'c1');
  assert.is(safeCursor([seal(1, 1, false, 'c0')], 'c9'), 'c9');
  assert.is(safeCursor([], 'c9'), 'c9');
});

test('backoff: grows exponentially, capped, with jitter in [d/2, d]', () => {
  assert.equal(
    [0, 1, 2, 3, 10].map((a) => backoff(a, { baseMs: 250, capMs: 5000, jitter: 'equal', random: () => 1 })),
    [250, 500, 1000, 2000, 5000],
  );
  assert.is(backoff(3, { baseMs: 250, capMs: 5000, jitter: 'equal', random: () => 0 }), 1000);
});

test('seal store on a full disk: seals wait in memory in order, are readable, within one budget, and reach disk when space is back', () => {
  const dir = join(fs.dir, 'spool');
  const store = new SealStore(dir, 5000);
  assert.is(store.write({ index: 1, cursor: 'c1', messages: [msg(1)] }, 'c0').failure, undefined);
  fs.fill();
  const r = store.write({ index: 2, cursor: 'c2', messages: [msg(2)] }, 'c1');
  assert.is(r.failure?.code, 'ENOSPC');
  assert.is(store.memoryCount, 1);
  // Behind a memory seal, the next one does not even try the disk (files stay the oldest seals).
  assert.is(store.write({ index: 3, cursor: 'c3', messages: [msg(3)] }, 'c2').failure, undefined);
  assert.is(store.memoryCount, 2);
  assert.is(store.read(2).messages[0].data[0], 2);
  assert.is(store.read(1).messages[0].msgId, 'm1', 'what is on disk is still read');
  assert.is(store.safeCursor('c3'), 'c1');
  assert.is(store.flush().failure?.code, 'ENOSPC', 'still full');
  // Budget counts memory + disk: 5 × ~950 B > 5000 evicts the oldest (on disk) first, then memory.
  for (let i = 4; i <= 6; i++) store.write({ index: i, cursor: `c${i}`, messages: [msg(i)] }, `c${i - 1}`);
  assert.equal(store.indexes(), [2, 3, 4, 5, 6]);
  assert.ok(store.totalBytes <= 5000, String(store.totalBytes));
  fs.free();
  assert.equal(store.flush(), { wrote: 5 });
  assert.is(store.memoryCount, 0);
  assert.is(store.safeCursor('c6'), 'c6');
  assert.equal(new SealStore(dir, 5000).indexes(), [2, 3, 4, 5, 6], 'all on disk after the flush');
  assert.ok(!readdirSync(dir).some((f) => f.endsWith('.tmp')), 'failed writes leave no temp file');
});

test('outbox: the saved cursor stays before memory-only seals even when the checkpoint itself can be written', async () => {
  const state = join(fs.dir, 'state');
  mkdirSync(join(state, 'spool'), { recursive: true });
  writeFileSync(join(state, '.checkpoint.json.tmp'), 'half');
  writeFileSync(join(state, 'container-log-offsets.json.tmp.4242'), 'half');
  writeFileSync(join(state, 'spool', '.000000000009.msg.tmp'), 'half');
  const log = createLogger('test', 'silent');
  const publisher = new Publisher({ url: 'nats://127.0.0.1:1', auth: {}, name: 't', log }); // never started: NATS away
  const counts: Partial<Record<OutboxCounter, number>> = {};
  let cursor = 'c1';
  const outbox = new Outbox({
    node: 'n',
    agentId: 'a',
    agentVersion: 'v',
    stateDir: state,
    spoolMaxBytes: 1 << 20,
    windowMs: 100,
    maxHoldMs: 100,
    maxFlows: 5000,
    maxInFlight: 10,
    publisher,
    journalCursor: () => cursor,
    log,
    count: (n, k = 1) => {
      counts[n] = (counts[n] ?? 0) + k;
    },
  });
  assert.equal(
    readdirSync(state).filter((f) => /\.tmp/.test(f)),
    [],
    'state dir leftovers removed',
  );
  assert.equal(readdirSync(join(state, 'spool')), [], 'spool leftovers removed');
  const findings: FindingReport[] = [];
  const addFinding = outbox.addFinding.bind(outbox);
  outbox.addFinding = (f) => {
    findings.push(f);
    addFinding(f);
  };
  const drop = (i: number): Drop => ({
    prefix: 'calico-packet:',
    family: 4,
    proto: 'TCP',
    src: `10.0.${i >> 8}.${i & 255}`,
    dst: '10.1.0.1',
    dstPort: 80,
    message: `calico-packet: ${'x'.repeat(200)} ${i}`,
  });
  outbox.addDrop(drop(0), Date.now());
  outbox.seal();
  outbox.tick();
  assert.is(JSON.parse(readFileSync(join(state, 'checkpoint.json'), 'utf8')).cursor, 'c1');
  // One free page: the small checkpoint still fits, a 60-flow seal (~20 KiB) does not.
  writeFileSync(join(fs.dir, 'reserve'), Buffer.alloc(4096));
  fs.fill();
  unlinkSync(join(fs.dir, 'reserve'));
  cursor = 'c2';
  for (let i = 1; i <= 60; i++) outbox.addDrop(drop(i), Date.now());
  outbox.seal();
  cursor = 'c3';
  outbox.tick();
  assert.is(outbox.spoolMemoryBytes > 10_000, true, `held in memory: ${outbox.spoolMemoryBytes}`);
  const pinned = JSON.parse(readFileSync(join(state, 'checkpoint.json'), 'utf8')) as { index: number; cursor: string };
  assert.ok(pinned.index >= 2, `the checkpoint was written while the seal was not (index ${pinned.index})`);
  assert.is(pinned.cursor, 'c1', 'cursor pinned before the memory seal');
  assert.ok((counts.spool_write_failures ?? 0) >= 1);
  assert.equal(
    findings.map((f) => [f.kind, f.active, f.evidence.errno]),
    [['AgentStateDirUnwritable', true, 'ENOSPC']],
  );
  fs.free();
  outbox.tick();
  assert.is(outbox.spoolMemoryBytes, 0);
  assert.is(
    JSON.parse(readFileSync(join(state, 'checkpoint.json'), 'utf8')).cursor,
    'c3',
    'on disk now: the cursor moves on',
  );
  assert.equal(
    findings.map((f) => [f.kind, f.active]),
    [
      ['AgentStateDirUnwritable', true],
      ['AgentStateDirUnwritable', false],
    ],
  );
  await outbox.stop(0);
});

test('outbox on a full disk: memory obeys --spool-max-bytes, the oldest goes first, counted, logged once per episode', async () => {
  const state = join(fs.dir, 'state');
  const lines: string[] = [];
  const log = pino(
    { level: 'info' },
    {
      write: (l: string) => {
        lines.push(l);
      },
    },
  );
  const counts: Partial<Record<OutboxCounter, number>> = {};
  const publisher = new Publisher({ url: 'nats://127.0.0.1:1', auth: {}, name: 't', log });
  const outbox = new Outbox({
    node: 'n',
    agentId: 'a',
    agentVersion: 'v',
    stateDir: state,
    spoolMaxBytes: 8000,
    windowMs: 100,
    maxHoldMs: 100,
    maxFlows: 5000,
    maxInFlight: 10,
    publisher,
    journalCursor: () => 'c',
    log,
    count: (n, k = 1) => {
      counts[n] = (counts[n] ?? 0) + k;
    },
  });
  fs.fill();
  const finding = (i: number): FindingReport => ({
    kind: 'Test',
    severity: 'info',
    active: true,
    message: `${i} ${'m'.repeat(1000)}`,
    evidence: {},
    key: String(i),
  });
  for (let i = 0; i < 30; i++) outbox.addFinding(finding(i));
  assert.ok(outbox.spoolMemoryBytes <= 8000 && outbox.spoolMemoryBytes > 5000, String(outbox.spoolMemoryBytes));
  assert.is(outbox.spoolBytes, outbox.spoolMemoryBytes, 'nothing reached the disk');
  // 31 seals (30 + AgentStateDirUnwritable, raised first), about 1.1 KiB each: 7 fit.
  assert.is(counts.spool_evicted_messages, 31 - outbox.spoolMessages);
  assert.ok(outbox.spoolMessages >= 6 && outbox.spoolMessages <= 7, String(outbox.spoolMessages));
  const msgs = lines.map((l) => (JSON.parse(l) as { msg: string }).msg);
  assert.is(msgs.filter((m) => /spool budget full/.test(m)).length, 1);
  assert.is(msgs.filter((m) => /state dir unwritable/.test(m)).length, 1);
  fs.free();
  outbox.tick();
  assert.is(outbox.spoolMemoryBytes, 0);
  assert.ok(outbox.spoolBytes > 5000, 'the survivors are on disk now');
  await outbox.stop(0);
  const disk = new SealStore(join(state, 'spool'), 8000);
  const found = disk.indexes().map((i) => decodeEnvelope(disk.read(i).messages[0].data).msg.finding);
  assert.equal(
    found.filter((f) => f?.kind === 'AgentStateDirUnwritable').map((f) => f?.active),
    [false],
    'the raise was evicted, the clear is newest',
  );
  const keys = found.filter((f) => f?.kind === 'Test').map((f) => f?.key);
  assert.equal(
    keys,
    Array.from({ length: keys.length }, (_, i) => String(30 - keys.length + i)),
    'the newest findings survived, in order',
  );
});

test.run();
