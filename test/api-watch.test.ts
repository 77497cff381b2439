// GET /api/v1/watch on a real stack (journal → agent → NATS → collector): the current state, then
// `synced`, then a drop that happens while watching arrives as the same item /api/v1/drops shows,
// coalesced, filtered, behind the same bearer token.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createTestJournal, journalRemoteAvailable, type TestJournal } from './support/journal.js';
import { startStack, type Stack } from './support/stack.js';
import { getJson } from './support/procs.js';
import { waitFor } from './support/wait.js';

if (!journalRemoteAvailable()) throw new Error('systemd-journal-remote missing: run npm test (installs it as root)');

const TOKEN = 'watch-token';
const pod = (ns: string, name: string, ip: string) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { namespace: ns, name, uid: `uid-${name}` },
  spec: { nodeName: 'watch-node' },
  status: { phase: 'Running', podIP: ip, podIPs: [{ ip }], hostIP: '192.0.2.10', hostIPs: [{ ip: '192.0.2.10' }] },
});
const line = (src: string, dst: string, spt: number) =>
  `calico-packet: IN=cali1 OUT=eth0 SRC=${src} DST=${dst} LEN=60 PROTO=TCP SPT=${spt} DPT=5432 SYN `;

interface SseEvent {
  event: string;
  data: Record<string, unknown>;
}

/** Reads an SSE stream into events as they arrive (fetch + ReadableStream, as the web view does). */
async function watch(api: string, query: string, token = TOKEN) {
  const ctl = new AbortController();
  const res = await fetch(`${api}/api/v1/watch${query}`, {
    headers: { authorization: `Bearer ${token}` },
    signal: ctl.signal,
  });
  const events: SseEvent[] = [];
  const done = (async () => {
    if (!res.body) return;
    const dec = new TextDecoder();
    let buf = '';
    try {
      for await (const chunk of res.body) {
        buf += dec.decode(chunk as Uint8Array, { stream: true });
        let i: number;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const ev = /^event: (.+)$/m.exec(block)?.[1];
          const data = /^data: (.+)$/m.exec(block)?.[1];
          if (ev && data) events.push({ event: ev, data: JSON.parse(data) as Record<string, unknown> });
        }
      }
    } catch {
      /* aborted */
    }
  })();
  return {
    res,
    events,
    close: async () => {
      ctl.abort();
      await done;
    },
  };
}

const podOf = (ep: unknown) => (ep as { pod?: { namespace: string; name: string } }).pod;

let journal: TestJournal, stack: Stack;

test.before(async () => {
  journal = createTestJournal();
  await journal.append(['boot']);
  stack = await startStack({
    node: 'watch-node',
    journalDir: journal.dir,
    pods: [pod('shop', 'web-0', '10.244.1.10'), pod('shop', 'db-0', '10.244.1.20'), pod('other', 'x-0', '10.244.2.10')],
    agentArgs: ['--probes', 'none', '--container-log-dir', '', '--heartbeat-interval', '1s'],
    collectorArgs: ['--api-token', TOKEN, '--node-stale', '4s'],
  });
});
test.after(async () => {
  await stack?.stop();
  journal?.remove();
});

test('without the token the watch is refused; a bad query is a 400', async () => {
  const r = await fetch(`${stack.api}/api/v1/watch`);
  assert.is(r.status, 401);
  await r.body?.cancel();
  const bad = await fetch(`${stack.api}/api/v1/watch?types=drops,pods`, {
    headers: { authorization: `Bearer ${TOKEN}` },
  });
  assert.is(bad.status, 400);
  assert.match(((await bad.json()) as { error: string }).error, /unknown type "pods"/);
});

test('a drop while watching arrives as the list item, once per tick however many drops, and the filter holds', async () => {
  const all = await watch(stack.api, '');
  const other = await watch(stack.api, '?types=drops&namespace=other');
  assert.is(all.res.status, 200);
  assert.match(all.res.headers.get('content-type') ?? '', /text\/event-stream/);
  await waitFor(
    'both synced',
    () => all.events.some((e) => e.event === 'synced') && other.events.some((e) => e.event === 'synced'),
    10_000,
  );
  assert.is(all.events.filter((e) => e.event === 'drop').length, 0, 'no drops yet');
  const before = all.events.length;

  await journal.append(Array.from({ length: 40 }, (_, i) => line('10.244.1.10', '10.244.1.20', 40000 + i)));
  const got = await waitFor(
    'the drop event with count 40',
    () => {
      const d = all.events.filter((e) => e.event === 'drop');
      const last = d[d.length - 1];
      return last && last.data.count === 40 ? { d, last } : undefined;
    },
    15_000,
  );
  assert.equal(podOf(got.last.data.src), { namespace: 'shop', name: 'web-0', uid: 'uid-web-0' });
  assert.equal(podOf(got.last.data.dst), { namespace: 'shop', name: 'db-0', uid: 'uid-db-0' });
  assert.ok(got.d.length <= 3, `40 drops came as ${got.d.length} events (coalesced per tick)`);
  const list = await getJson<{ items: Record<string, unknown>[] }>(`${stack.api}/api/v1/drops`, TOKEN);
  assert.equal(got.last.data, list.items[0], 'the event is exactly the list item');
  assert.ok(
    all.events.slice(before).some((e) => e.event === 'node' && e.data.node === 'watch-node'),
    'the node entry follows its messages',
  );
  assert.is(other.events.filter((e) => e.event === 'drop').length, 0, 'namespace=other sees no shop flow');
  await all.close();
  await other.close();
});

test('a watcher that connects later gets the flow in its initial state, before synced', async () => {
  const late = await watch(stack.api, '?types=drops&namespace=shop&pod=db-0');
  await waitFor('synced', () => late.events.some((e) => e.event === 'synced'), 10_000);
  const i = late.events.findIndex((e) => e.event === 'synced');
  const initial = late.events.slice(0, i);
  assert.is(initial.length, 1);
  assert.is(initial[0].data.count, 40);
  assert.is(late.events[i].data.stale, false);
  await late.close();
});

test('watchers that went away leave nothing behind: metrics count none refused', async () => {
  const m = await (await fetch(`${stack.api}/metrics`)).text();
  assert.match(m, /nodewarden_collector_api_watchers_refused_total\{reason="too_slow"\} 0/);
  assert.match(m, /nodewarden_collector_api_watchers_refused_total\{reason="too_many"\} 0/);
});

test('a node that falls silent is sent again as stale, though no message marks it', async () => {
  const w = await watch(stack.api, '?types=nodes');
  await waitFor('synced', () => w.events.some((e) => e.event === 'synced'), 10_000);
  assert.is(w.events.find((e) => e.event === 'node')?.data.state, 'healthy');
  await stack.agent.stop();
  const stale = await waitFor(
    'a node event with state stale',
    () => w.events.find((e) => e.event === 'node' && e.data.state === 'stale'),
    20_000,
  );
  assert.is(stale.data.node, 'watch-node');
  await w.close();
});

test.run();
