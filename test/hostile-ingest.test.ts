// The attacks of the trust issue on the ingest path, end to end: hostile envelopes published into a
// real JetStream stream, read by a real collector process. It must stay up through its runtime
// checks (the 1e20 kubelet-error time used to crash-loop every replica), refuse and count each
// attack by reason, keep every good record that travelled with a bad one, and let no node speak for
// another (a forged clear of node-a's critical finding changes nothing).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, type JetStreamClient } from '@nats-io/jetstream';
import { startNats, type NatsServer } from './support/nats.js';
import { spawnCollector, type CollectorProc } from './support/procs.js';
import { waitFor, sleep } from './support/wait.js';
import { encodeEnvelope, type Envelope } from '../proto/codec.js';
import { subjectFor, messageId, type BodyKind } from '../common/subjects.js';

let nats: NatsServer, collector: CollectorProc, nc: NatsConnection, js: JetStreamClient, api: string, dir: string;
const NOW = Date.now();
let seq = 0;

async function publish(subjectNode: string, kind: BodyKind, e: Partial<Envelope>, raw?: Uint8Array): Promise<void> {
  const env: Envelope = {
    node: 'node-a',
    agentId: 'a0a0a0a0a0a0',
    seq: ++seq,
    sentMs: Date.now(),
    agentVersion: 'test',
    ...e,
  };
  await js.publish(subjectFor(subjectNode, kind), raw ?? encodeEnvelope(env), {
    msgID: messageId(env.node ?? 'x', env.agentId ?? 'x', Number(env.seq)) + `-${seq}`,
  });
}
const drop = (over: Record<string, unknown> = {}) => ({
  prefix: 'calico-packet:',
  family: 4,
  proto: 'TCP',
  src: '10.244.0.4',
  dst: '10.244.1.6',
  dstPort: 5432,
  count: 1,
  firstSeenMs: NOW - 500,
  lastSeenMs: NOW,
  sample: 'calico-packet: SRC=10.244.0.4 DST=10.244.1.6 PROTO=TCP DPT=5432',
  ...over,
});
const get = async (path: string) => {
  const r = await fetch(`${api}${path}`, { signal: AbortSignal.timeout(5000) });
  return { status: r.status, body: await r.text() };
};
/**
 * The value of one series, e.g. series(t, 'nodewarden_collector_messages_rejected_total', 'reason="corrupt"'); NaN when
 * absent.
 */
const series = (text: string, name: string, labels = ''): number =>
  Number(new RegExp(`^${name}${labels ? `\\{${labels}\\}` : ''} (\\d+)$`, 'm').exec(text)?.[1] ?? NaN);
const rejected = (text: string, reason: string): number =>
  series(text, 'nodewarden_collector_messages_rejected_total', `reason="${reason}"`);
const recordRejected = (text: string, reason: string): number =>
  series(text, 'nodewarden_collector_drop_records_rejected_total', `reason="${reason}"`);

test.before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'nw-hostile-'));
  writeFileSync(join(dir, 'pods.json'), JSON.stringify({ kind: 'List', items: [] }));
  nats = await startNats();
  collector = await spawnCollector(nats.url, ['--pods-file', join(dir, 'pods.json')]);
  api = collector.api;
  await collector.waitForLog(/collector: consuming/);
  nc = await connect({ servers: nats.url });
  js = jetstream(nc);
});
test.after(async () => {
  await nc?.close();
  await collector?.stop();
  await nats?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('hostile envelopes are refused and counted; the good data beside them is kept; no node speaks for another', async () => {
  // Genuine: a drop flow (5) and node-a's critical finding.
  await publish('node-a', 'drops', { drops: { drops: [drop({ count: 5 })] } });
  await publish('node-a', 'finding', {
    finding: {
      kind: 'IPForwardingDisabled',
      severity: 'critical',
      active: true,
      message: 'ip_forward=0',
      evidence: { 'net.ipv4.ip_forward': '0' },
      firstSeenMs: NOW,
      lastSeenMs: NOW,
    },
  });
  // The crash-loop: a static pod whose kubelet error is dated 1e20.
  await publish('node-a', 'runtime', {
    runtime: {
      full: true,
      runtimeName: 'containerd',
      pods: [
        {
          id: 'p1',
          namespace: 'kube-system',
          name: 'kube-apiserver-node-a',
          uid: 'u1',
          state: 'SANDBOX_READY',
          createdMs: NOW,
          annotations: { 'kubernetes.io/config.source': 'file', 'kubernetes.io/config.hash': 'h' },
        },
      ],
      mirrorPodErrors: [{ namespace: 'kube-system', name: 'kube-apiserver-node-a', error: 'forbidden', sinceMs: 1e20 }],
    },
  });
  // Out-of-range times, count 0, seq 0, a v4/v6 flow — beside one good record (count 2) and a 200 KB sample.
  await publish('node-a', 'drops', {
    drops: {
      drops: [
        drop({ lastSeenMs: 1e20, dstPort: 1 }),
        drop({ lastSeenMs: NaN, dstPort: 2 }),
        drop({ count: 0, dstPort: 3 }),
        drop({ dst: 'fd00::1', dstPort: 4 }),
        drop({ count: 2, dstPort: 53, sample: 'x'.repeat(200_000) }),
      ],
    },
  });
  await publish('node-a', 'heartbeat', { seq: 0, heartbeat: {} });
  await publish('node-a', 'heartbeat', { heartbeat: { startedMs: -5 } });
  await publish('node-a', 'finding', {
    sentMs: 1e20,
    finding: { kind: 'X', severity: 'info', firstSeenMs: NOW, lastSeenMs: NOW },
  });
  await publish('node-a', 'drops', {}, new Uint8Array([0xff, 0xff, 0xff, 0xff, 0x0f]));
  // Forgeries: node-b clears node-a's finding, on node-a's subject and, claiming to be node-a, on its own.
  const clear = {
    finding: {
      kind: 'IPForwardingDisabled',
      severity: 'critical',
      active: false,
      message: 'fine',
      firstSeenMs: NOW,
      lastSeenMs: NOW + 1,
    },
  };
  await publish('node-a', 'finding', { node: 'node-b', agentId: 'b0b0b0b0b0b0', ...clear });
  await publish('node-b', 'finding', { node: 'node-a', ...clear });
  await publish('node-b', 'drops', { node: 'node-a', drops: { drops: [drop({ count: 1000, dstPort: 9999 })] } });

  const m = await waitFor(
    'every message read',
    async () => {
      const t = (await get('/metrics')).body;
      return rejected(t, 'subject_mismatch') === 3 ? t : undefined;
    },
    15_000,
  );
  assert.is(rejected(m, 'invalid_runtime'), 1);
  assert.is(recordRejected(m, 'bad_time'), 2);
  assert.is(recordRejected(m, 'invalid_drop'), 2);
  assert.is(rejected(m, 'missing_header'), 1);
  assert.is(rejected(m, 'invalid_heartbeat'), 1);
  assert.is(rejected(m, 'bad_time'), 1);
  assert.is(rejected(m, 'corrupt'), 1);
  assert.is(series(m, 'nodewarden_collector_texts_truncated_total'), 1);
  // every refusal is also one message with outcome "rejected": the message-level ones above, no more
  const messageLevel = [
    'subject_mismatch',
    'invalid_runtime',
    'missing_header',
    'invalid_heartbeat',
    'bad_time',
    'corrupt',
    'oversized',
    'bad_header',
    'empty_body',
    'invalid_drop',
    'invalid_finding',
  ];
  assert.is(
    series(m, 'nodewarden_collector_messages_total', 'outcome="rejected"'),
    messageLevel.reduce((a, r) => a + rejected(m, r), 0),
  );

  const drops = JSON.parse((await get('/api/v1/drops')).body) as {
    items: { count: number; dst: { port?: number }; sample?: string; lastSeen: string }[];
    total: number;
  };
  assert.equal(drops.items.map((f) => [f.dst.port, f.count]).sort(), [
    [53, 2],
    [5432, 5],
  ]);
  assert.ok(drops.items.every((f) => (f.sample ?? '').length <= 4096 && Date.parse(f.lastSeen) <= Date.now() + 1000));
  const findings = JSON.parse((await get('/api/v1/findings?node=node-a')).body) as {
    items: { kind: string; active: boolean }[];
  };
  assert.equal(
    findings.items.map((f) => [f.kind, f.active]),
    [['IPForwardingDisabled', true]],
    'the forged clears changed nothing',
  );
  assert.match(collector.output(), /arrived on subject/);
});

test('the collector outlives its runtime checks and every view answers', async () => {
  // The runtime tick runs every 10 s; the 1e20 snapshot used to throw in it.
  await sleep(11_000);
  assert.is(collector.child.exitCode, null, `collector exited: ${collector.output().slice(-2000)}`);
  for (const path of ['/api/v1/drops', '/api/v1/findings', '/api/v1/nodes', '/healthz'])
    assert.is((await get(path)).status, 200, path);
  assert.ok([200, 404].includes((await get('/api/v1/nodes/node-a/runtime')).status));
});

test.run();
