// The collector API's answer sizes, on a real HTTP server over loopback: every list endpoint pages
// ({items,total,truncated}, limit ≤ MAX_LIMIT), a flood of big concurrent queries is refused with
// 503 busy past the in-flight budget instead of exhausting the heap, /healthz answers meanwhile, and
// stale stores say so (body, header, CLI warning).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Server } from 'node:http';
import { spawn } from 'node:child_process';
import { Registry } from 'prom-client';
import { createApi, type Freshness } from '../collector/api/server.js';
import { MAX_LIMIT } from '../collector/api/lists.js';
import { openapi } from '../collector/api/openapi.js';
import { IpIndex } from '../collector/resolve/resolver.js';
import { DropStore } from '../collector/store/drops.js';
import { FindingStore } from '../collector/store/findings.js';
import { NodeStore } from '../collector/store/nodes.js';
import type { Stores } from '../collector/ingest/apply.js';
import { runCli } from './support/procs.js';
import { waitFor } from './support/wait.js';

const T0 = Date.now();
const resolver = new IpIndex([]);
const stores: Stores = {
  drops: new DropStore(resolver),
  findings: new FindingStore(resolver),
  nodes: new NodeStore(60_000),
};
let fresh: Freshness = { stale: false };
const registry = new Registry();
/** A refusal means an answer is in flight: the flood is on. */
const inFlightSeen = async () =>
  Number(/^nodewarden_collector_api_busy_total (\d+)/m.exec(await registry.metrics())?.[1] ?? 0) > 0;
let api: Server;
let base = '';

const get = async (path: string) => {
  const res = await fetch(`${base}${path}`, { signal: AbortSignal.timeout(60_000) });
  return {
    status: res.status,
    headers: res.headers,
    body: (await res.json()) as Record<string, unknown> & { items: unknown[]; total: number; truncated: boolean },
  };
};

test.before(async () => {
  // 12,000 flows with 2 KiB samples: a limit=10000 answer is ≈ 25 MB.
  for (let i = 0; i < 12_000; i++) {
    stores.drops.add(`node-${i % 16}`, {
      prefix: 'calico-packet:',
      family: 4,
      proto: 'TCP',
      src: `10.1.${(i >> 8) & 255}.${i & 255}`,
      dst: '10.2.0.1',
      dstPort: 443,
      count: 1,
      firstSeenMs: T0 - i,
      lastSeenMs: T0 - i,
      inIface: 'cali1',
      outIface: 'eth0',
      sample: `${i} ${'x'.repeat(2048)}`,
    });
  }
  // 16,000 nodes, 20,000 findings (the O(nodes × findings) listing took 2.3 s a request).
  for (let n = 0; n < 16_000; n++) stores.nodes.touch(`node-${String(n).padStart(5, '0')}`, '0.1.0', T0);
  for (let k = 0; k < 20_000; k++)
    stores.findings.apply(
      `node-${String(k % 16_000).padStart(5, '0')}`,
      {
        kind: 'PIDPressure',
        key: String(k),
        severity: k % 2 ? 'critical' : 'warning',
        message: 'tasks near pid_max',
        active: true,
        firstSeenMs: T0 - k,
        lastSeenMs: T0 - k,
      },
      T0,
    );
  api = createApi({ stores, registry, ready: () => ({ ok: true }), freshness: () => fresh });
  await new Promise<void>((r) => api.listen(0, '127.0.0.1', () => r()));
  base = `http://127.0.0.1:${(api.address() as { port: number }).port}`;
});

test.after(async () => {
  api.closeAllConnections();
  await new Promise<void>((r) => api.close(() => r()));
});

test('every list endpoint takes limit and answers {items,total,truncated}; limits outside 1..MAX_LIMIT are a 400', async () => {
  const drops = await get('/api/v1/drops?limit=5');
  assert.equal(
    [drops.status, drops.body.items.length, drops.body.total, drops.body.truncated, drops.body.stale],
    [200, 5, 12_000, true, false],
  );
  const findings = await get('/api/v1/findings?limit=7&active=true');
  assert.equal(
    [findings.status, findings.body.items.length, findings.body.total, findings.body.truncated],
    [200, 7, 20_000, true],
  );
  assert.is((findings.body.items[0] as { lastSeen: string }).lastSeen, new Date(T0).toISOString(), 'newest first');
  const nodes = await get('/api/v1/nodes?limit=3');
  assert.equal([nodes.status, nodes.body.total, nodes.body.truncated], [200, 16_000, true]);
  // node-n has findings n and n+16000 (n < 4000); odd keys are critical.
  const lastSeen = new Date(T0).toISOString();
  assert.equal(nodes.body.items, [
    {
      node: 'node-00000',
      agentVersion: '0.1.0',
      lastSeen,
      healthy: true,
      stale: false,
      state: 'healthy',
      activeFindings: 2,
    },
    {
      node: 'node-00001',
      agentVersion: '0.1.0',
      lastSeen,
      healthy: false,
      stale: false,
      state: 'unhealthy',
      activeFindings: 2,
    },
    {
      node: 'node-00002',
      agentVersion: '0.1.0',
      lastSeen,
      healthy: true,
      stale: false,
      state: 'healthy',
      activeFindings: 2,
    },
  ]);
  const all = await get('/api/v1/nodes');
  assert.equal(
    [all.body.items.length, all.body.truncated],
    [1000, true],
    'the default limit bounds an unfiltered listing',
  );
  for (const path of ['/api/v1/drops', '/api/v1/findings', '/api/v1/nodes']) {
    for (const bad of ['0', String(MAX_LIMIT + 1), 'x'])
      assert.is((await get(`${path}?limit=${bad}`)).status, 400, `${path} limit=${bad}`);
    const doc = (
      openapi.paths as unknown as Record<
        string,
        {
          get: {
            parameters: { name: string; schema: { maximum?: number } }[];
            responses: Record<string, { content?: { 'application/json': { schema: { required?: string[] } } } }>;
          };
        }
      >
    )[path].get;
    assert.is(doc.parameters.find((p) => p.name === 'limit')?.schema.maximum, MAX_LIMIT, `${path}: OpenAPI limit`);
    assert.equal(
      doc.responses['200'].content?.['application/json'].schema.required,
      ['items', 'total', 'truncated', 'stale'],
      `${path}: OpenAPI answer`,
    );
    assert.ok(doc.responses['503'], `${path}: OpenAPI 503 busy`);
  }
});

/**
 * The flood comes from another process, so that what /healthz waits for is the server's work, not
 * this process parsing 25 MB answers.
 */
function flood(n: number): Promise<{ status: number; retryAfter: string | null; error: string; items: number }[]> {
  const script = `
    const base = process.argv[1];
    const one = async (i) => {
      const res = await fetch(base + '/api/v1/' + (i % 10 === 0 ? 'nodes' : 'drops') + '?limit=10000', { signal: AbortSignal.timeout(120000) });
      if (res.status === 503) return { status: 503, retryAfter: res.headers.get('retry-after'), error: (await res.json()).error, items: 0 };
      return { status: res.status, retryAfter: null, error: '', items: (await res.json()).items.length };
    };
    Promise.all(Array.from({ length: ${n} }, (_, i) => one(i))).then((r) => process.stdout.write(JSON.stringify(r)));`;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', script, base], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
    });
    const t = setTimeout(() => child.kill('SIGKILL'), 180_000);
    child.on('close', (code) => {
      clearTimeout(t);
      try {
        resolve(JSON.parse(out));
      } catch {
        reject(new Error(`flood client exited ${code}: ${out.slice(0, 500)}`));
      }
    });
  });
}

test('100 concurrent limit=10000 queries (drops; nodes over 16k nodes and 20k findings): some answered, the rest 503 busy with Retry-After; /healthz answers meanwhile', async () => {
  const running = flood(100);
  // Asked while the flood is in flight (its first answers are being written); a generous bound, not a timing assertion.
  await waitFor('the flood to start', () => inFlightSeen(), 30_000, 5);
  const t = Date.now();
  const h = await fetch(`${base}/healthz`, { signal: AbortSignal.timeout(20_000) });
  const healthMs = Date.now() - t;
  const results = await running;
  const ok = results.filter((r) => r.status === 200),
    busy = results.filter((r) => r.status === 503);
  assert.is(ok.length + busy.length, 100);
  assert.ok(ok.length >= 1 && ok.every((r) => r.items === 10_000), `${ok.length} full answers`);
  assert.ok(
    busy.length >= 50,
    `${busy.length} refused: the budget (32 MiB) holds about one 25 MB drops answer at a time`,
  );
  assert.ok(
    busy.every((r) => r.retryAfter === '1' && /^busy/.test(r.error)),
    busy[0]?.error,
  );
  assert.is(h.status, 200);
  assert.ok(healthMs < 20_000, `/healthz took ${healthMs} ms`);
  // The budget is released once answers are sent: the next query is served.
  assert.is((await get('/api/v1/drops?limit=10000')).status, 200);
  process.stderr.write(`  flood: ${ok.length} answered, ${busy.length} busy, /healthz ${healthMs} ms during it\n`);
});

test('a stale store says so: stale and staleReason in every list answer (200), the header on /api/*, a CLI warning, no bare "No drops found."', async () => {
  fresh = { stale: true, reason: 'replaying the stream (at message 10 of 20000)' };
  try {
    for (const path of ['/api/v1/drops?node=nowhere', '/api/v1/findings?limit=1', '/api/v1/nodes?limit=1']) {
      const r = await get(path);
      assert.equal(
        [r.status, r.body.stale, r.body.staleReason, r.headers.get('x-nodewarden-stale')],
        [200, true, fresh.reason, fresh.reason],
        path,
      );
    }
    const cli = await runCli(['drops', '--collector', base, '--node', 'nowhere']);
    assert.is(cli.code, 0, cli.stderr);
    assert.match(
      cli.stderr,
      'warning: collector is not caught up with the stream (replaying the stream (at message 10 of 20000)); answers may be incomplete',
    );
    assert.not.match(cli.stdout, /^No drops found\.$/m);
    assert.match(cli.stdout, /not caught up/);
    const nodes = await runCli(['nodes', '--collector', base, '--limit', '2']);
    assert.match(nodes.stderr, /^warning: collector is not caught up/m);
    assert.match(nodes.stdout, /\(2 of 16000 nodes shown; use --limit or filters\)/);
  } finally {
    fresh = { stale: false };
  }
  const quiet = await runCli(['findings', '--collector', base, '--limit', '1']);
  assert.is(quiet.stderr, '', 'no warning when caught up');
});

test.run();
