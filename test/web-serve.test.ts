// The web view's server side on a real HTTP server over loopback: the page and its assets with their
// content types and a Content-Security-Policy, loadable without the token while /api/* still needs it,
// and no path outside the fixed asset table (traversal, encoded dots, other methods) ever answers.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Server } from 'node:http';
import { request } from 'node:http';
import { readFileSync } from 'node:fs';
import { Registry } from 'prom-client';
import { createApi } from '../collector/api/server.js';
import { CONTENT_SECURITY_POLICY } from '../collector/web/serve.js';
import { IpIndex } from '../collector/resolve/resolver.js';
import { DropStore } from '../collector/store/drops.js';
import { FindingStore } from '../collector/store/findings.js';
import { NodeStore } from '../collector/store/nodes.js';

const TOKEN = 's3cret-token';
let api: Server;
let port = 0;

/** A raw request: the path goes on the wire exactly as written (fetch would normalise "..", node:http does not). */
function raw(
  method: string,
  path: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers, timeout: 10_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        body += c;
      });
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`timeout: ${method} ${path}`)));
    req.on('error', reject);
    req.end();
  });
}

test.before(async () => {
  const resolver = new IpIndex([]);
  api = createApi({
    stores: { drops: new DropStore(resolver), findings: new FindingStore(resolver), nodes: new NodeStore(60_000) },
    registry: new Registry(),
    ready: () => ({ ok: true }),
    token: TOKEN,
  });
  await new Promise<void>((r) => api.listen(0, '127.0.0.1', r));
  port = (api.address() as { port: number }).port;
});

test.after(() => new Promise<void>((r) => api.close(() => r())));

test('the page and its assets load without the token, typed, with CSP and nosniff; the data still needs it', async () => {
  const page = await raw('GET', '/');
  assert.is(page.status, 200);
  assert.is(page.headers['content-type'], 'text/html; charset=utf-8');
  assert.is(page.headers['content-security-policy'], CONTENT_SECURITY_POLICY);
  assert.match(CONTENT_SECURITY_POLICY, /script-src 'self';/);
  assert.not.match(CONTENT_SECURITY_POLICY, /unsafe-inline|unsafe-eval/);
  assert.is(page.headers['x-content-type-options'], 'nosniff');
  assert.is(page.headers['x-frame-options'], 'DENY');
  assert.match(page.body, /<script type="module" src="\/assets\/app\.js"><\/script>/);
  assert.not.match(page.body, /<script>|<style>| style=/, 'no inline script or style: the CSP would block them');
  for (const [path, type, marker] of [
    ['/assets/app.js', 'text/javascript; charset=utf-8', '/api/v1/watch'],
    ['/assets/app.css', 'text/css; charset=utf-8', '--focus'],
    ['/assets/icon.svg', 'image/svg+xml', '<svg'],
  ] as const) {
    const r = await raw('GET', path);
    assert.is(r.status, 200, path);
    assert.is(r.headers['content-type'], type, path);
    assert.is(r.headers['content-security-policy'], CONTENT_SECURITY_POLICY);
    assert.ok(r.body.includes(marker), `${path} holds ${marker}`);
    assert.is(Number(r.headers['content-length']), Buffer.byteLength(r.body));
    const again = await raw('GET', path, { 'if-none-match': String(r.headers.etag) });
    assert.equal([again.status, again.body], [304, ''], `${path} revalidates by ETag`);
  }
  const head = await raw('HEAD', '/assets/app.js');
  assert.equal([head.status, head.body], [200, '']);
  assert.is((await raw('GET', '/api/v1/drops')).status, 401);
  assert.is((await raw('GET', '/api/v1/drops', { authorization: `Bearer ${TOKEN}` })).status, 200);
});

test('nothing outside the asset table answers: traversal, encoded dots, unknown assets, other methods', async () => {
  const secret = readFileSync(new URL('../package.json', import.meta.url), 'utf8').slice(0, 40);
  for (const path of [
    '/assets/../package.json',
    '/assets/%2e%2e/package.json',
    '/assets/..%2fpackage.json',
    '/assets/%2e%2e%2f%2e%2e%2fpackage.json',
    '/assets/app.js/../../package.json',
    '/assets/',
    '/assets/app.js.map',
    '/assets/constructor',
    '/assets/__proto__',
    '/assets//etc/passwd',
    '/assets/..\\..\\package.json',
    '/index.html',
    '/../../../etc/passwd',
    '/assets/page/index.html',
    '/assets/client/main.ts',
  ]) {
    const r = await raw('GET', path);
    assert.is(r.status, 404, path);
    assert.not.ok(r.body.includes(secret) || r.body.includes('root:'), `${path} leaked a file`);
  }
  assert.is((await raw('POST', '/')).status, 405);
  assert.is((await raw('DELETE', '/assets/app.js')).status, 405);
});

test.run();
