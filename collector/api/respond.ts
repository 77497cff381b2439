// Writing JSON answers. A big list answer is written in slices with the event loop free between
// them, so /healthz, /readyz and small queries are answered while a 10,000-item answer (≈ 25 MB
// with 2 KiB samples) goes out, and the answer never exists as one string.
import type { ServerResponse } from 'node:http';

/** Items per slice: ≈ 1 MB of JSON with 2 KiB samples, a few ms of work. */
export const SLICE = 500;

const JSON_TYPE = 'application/json; charset=utf-8';

export function sendJson(res: ServerResponse, status: number, body: unknown): number {
  const text = JSON.stringify(body);
  const bytes = Buffer.byteLength(text);
  res.writeHead(status, { 'content-type': JSON_TYPE, 'content-length': bytes });
  res.end(text);
  return bytes;
}

export interface ListBody {
  items: unknown[];
  [k: string]: unknown;
}

export const isListBody = (b: unknown): b is ListBody =>
  typeof b === 'object' && b !== null && Array.isArray((b as { items?: unknown }).items);

/** Resolves false when the client went away (nothing more to write). */
async function write(res: ServerResponse, chunk: string): Promise<boolean> {
  if (res.write(chunk)) return !res.destroyed;
  await new Promise<void>((r) => {
    res.once('drain', r);
    res.once('close', r);
  });
  return !res.destroyed;
}

/**
 * Writes a list answer; reserve(bytes) is called synchronously with its size (exact for one slice,
 * estimated from the first slice otherwise) before anything is written, so the caller can count it.
 */
export async function sendList(
  res: ServerResponse,
  status: number,
  body: ListBody,
  reserve: (bytes: number) => void,
): Promise<void> {
  const { items, ...rest } = body;
  if (items.length <= SLICE) {
    const text = JSON.stringify(body);
    reserve(Buffer.byteLength(text));
    res.writeHead(status, { 'content-type': JSON_TYPE, 'content-length': Buffer.byteLength(text) });
    res.end(text);
    return;
  }
  const first = JSON.stringify(items.slice(0, SLICE));
  reserve(Math.ceil((Buffer.byteLength(first) * items.length) / SLICE));
  res.writeHead(status, { 'content-type': JSON_TYPE });
  if (!(await write(res, `{"items":${first.slice(0, -1)}`))) return;
  for (let i = SLICE; i < items.length; i += SLICE) {
    await new Promise<void>((r) => setImmediate(r));
    if (res.destroyed) return;
    if (!(await write(res, `,${JSON.stringify(items.slice(i, i + SLICE)).slice(1, -1)}`))) return;
  }
  const tail = JSON.stringify(rest);
  res.end(tail === '{}' ? ']}' : `],${tail.slice(1)}`);
}
