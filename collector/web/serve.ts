// Serves the web view (docs/architecture.md#web-view) on the API's port: a fixed table of paths, so no
// request can name a file (no directory traversal); the page holds no data, everything it shows comes
// from /api/* with the bearer token, which is why it loads without one.
import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { webAssets } from './assets.js';

/** Scripts, styles and fetches from this origin only; no inline code, no framing, no forms posting elsewhere. */
export const CONTENT_SECURITY_POLICY =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

export const isWebPath = (pathname: string): boolean => pathname === '/' || pathname.startsWith('/assets/');

const etags = new Map<string, string>();
const etagOf = (body: string): string => {
  let t = etags.get(body);
  if (!t) etags.set(body, (t = `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`));
  return t;
};

/** Answers a path for which isWebPath() is true: the asset, or 404. */
export async function serveWeb(req: IncomingMessage, res: ServerResponse, pathname: string): Promise<void> {
  const table = await webAssets();
  const asset = Object.hasOwn(table, pathname) ? table[pathname] : undefined;
  const headers: Record<string, string | number> = {
    'content-security-policy': CONTENT_SECURITY_POLICY,
    'x-content-type-options': 'nosniff',
    'x-frame-options': 'DENY',
    'referrer-policy': 'no-referrer',
  };
  if (!asset) {
    res.writeHead(404, { ...headers, 'content-type': 'text/plain; charset=utf-8' });
    res.end(`no such path: ${pathname}\n`);
    return;
  }
  const etag = etagOf(asset.body);
  Object.assign(headers, { 'content-type': asset.type, 'cache-control': 'no-cache', etag });
  if (req.headers['if-none-match'] === etag) {
    res.writeHead(304, headers);
    res.end();
    return;
  }
  res.writeHead(200, { ...headers, 'content-length': Buffer.byteLength(asset.body) });
  res.end(asset.body);
}
