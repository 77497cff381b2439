// Test helpers for the container-log tests: kubelet's on-disk layout, a CRI writer that behaves like
// containerd (RFC3339Nano times with trailing zeros trimmed, 16 KiB P/F split, reopen on rotation),
// kubelet's rotation, metrics.
import { mkdtempSync, promises as fsp, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createGzip } from 'node:zlib';
import { pipeline } from 'node:stream/promises';
import { createReadStream, createWriteStream } from 'node:fs';
import { Registry } from 'prom-client';

export function tempDir(tag: string): { dir: string; cleanup(): void } {
  const dir = mkdtempSync(path.join(os.tmpdir(), `nw-logs-${tag}-`));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Go's time.RFC3339Nano as containerd writes it: 9-digit fraction with trailing zeros trimmed. */
export function criTime(d = new Date(), extraNanos = 0): string {
  const iso = d.toISOString(); // 2026-08-22T07:58:21.123Z
  const frac = `${iso.slice(20, 23)}${String(extraNanos % 1e6).padStart(6, '0')}`.replace(/0+$/, '');
  return `${iso.slice(0, 19)}${frac ? `.${frac}` : ''}Z`;
}

let nanoSeq = 0;

/** CRI lines for one logical line: fragments of at most `max` content bytes, `P` … `F` (containerd's split). */
export function criLines(stream: 'stdout' | 'stderr', text: string, max = 16384, d = new Date()): string {
  const bytes = Buffer.from(text);
  const out: string[] = [];
  for (let i = 0; i < bytes.length || i === 0; i += max) {
    const part = bytes.subarray(i, i + max).toString('utf8');
    out.push(`${criTime(d, ++nanoSeq)} ${stream} ${i + max < bytes.length ? 'P' : 'F'} ${part}\n`);
    if (bytes.length === 0) break;
  }
  return out.join('');
}

export interface PodLog {
  /** /…/pods/<ns>_<pod>_<uid>/<container>/<n>.log */
  file: string;
  /** /…/containers/<pod>_<ns>_<container>-<id>.log */
  link: string;
  uid: string;
  containerId: string;
}

export function randomHex(n: number): string {
  let s = '';
  while (s.length < n) s += Math.floor(Math.random() * 16).toString(16);
  return s;
}

export function randomUid(): string {
  const h = randomHex(32);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** kubelet's layout: the runtime creates the log file, then kubelet adds the symlink (`link: false` to defer). */
export async function podLog(
  root: string,
  o: { namespace: string; pod: string; container: string; uid?: string; restart?: number; link?: boolean },
): Promise<PodLog> {
  const uid = o.uid ?? randomUid();
  const containerId = randomHex(64);
  const dir = path.join(root, 'pods', `${o.namespace}_${o.pod}_${uid}`, o.container);
  await fsp.mkdir(dir, { recursive: true });
  await fsp.mkdir(path.join(root, 'containers'), { recursive: true });
  const file = path.join(dir, `${o.restart ?? 0}.log`);
  await fsp.writeFile(file, '', { flag: 'a', mode: 0o640 });
  const link = path.join(root, 'containers', `${o.pod}_${o.namespace}_${o.container}-${containerId}.log`);
  if (o.link !== false) await fsp.symlink(file, link);
  return { file, link, uid, containerId };
}

/** Writes like the runtime: one open descriptor, appends, and ReopenContainerLog after kubelet's rename. */
export class RuntimeWriter {
  private fh: fsp.FileHandle | undefined;

  constructor(readonly file: string) {}

  async open(): Promise<void> {
    this.fh = await fsp.open(this.file, 'a', 0o640);
  }

  async write(data: string | Buffer): Promise<void> {
    if (!this.fh) await this.open();
    await this.fh!.write(typeof data === 'string' ? Buffer.from(data) : data);
  }

  async line(stream: 'stdout' | 'stderr', text: string): Promise<void> {
    await this.write(criLines(stream, text));
  }

  /** CRI ReopenContainerLog: close the (renamed) file, create a new one at the same path. */
  async reopen(): Promise<void> {
    await this.fh?.close();
    this.fh = await fsp.open(this.file, 'a', 0o640);
  }

  async close(): Promise<void> {
    await this.fh?.close();
    this.fh = undefined;
  }
}

/** kubelet's timestamp layout for rotated files, 20060102-150405 (UTC here; kubelet uses local time). */
export function rotationStamp(d: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getUTCFullYear()}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}-${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}`;
}

/**
 * kubelet's rotateLatestLog after its cleanup step: gzip every rotated file not yet compressed
 * (`<f>.tmp` -> rename `<f>.gz` -> remove `<f>`), then rename the live file to `<live>.<stamp>` and
 * let the runtime reopen. Returns the rotated file's path.
 */
export async function kubeletRotate(
  writer: RuntimeWriter,
  stamp: string,
  between?: () => Promise<void>,
): Promise<string> {
  const live = writer.file;
  const dir = path.dirname(live);
  for (const n of (await fsp.readdir(dir)).sort()) {
    const f = path.join(dir, n);
    if (!n.startsWith(`${path.basename(live)}.`) || n.endsWith('.gz') || n.endsWith('.tmp')) continue;
    await pipeline(createReadStream(f), createGzip(), createWriteStream(`${f}.tmp`));
    await fsp.rename(`${f}.tmp`, `${f}.gz`);
    await fsp.rm(f);
  }
  const rotated = `${live}.${stamp}`;
  await fsp.rename(live, rotated);
  // The runtime may still write to the renamed file until ReopenContainerLog returns.
  await between?.();
  await writer.reopen();
  return rotated;
}

/** Current value of a counter/gauge in a registry (sum over series matching `labels`). */
export async function metric(registry: Registry, name: string, labels: Record<string, string> = {}): Promise<number> {
  const m = registry.getSingleMetric(name);
  if (!m) throw new Error(`no metric ${name}`);
  const { values } = await m.get();
  return values
    .filter((v) => Object.entries(labels).every(([k, val]) => String(v.labels[k]) === val))
    .reduce((a, v) => a + v.value, 0);
}

export function newRegistry(): Registry {
  return new Registry();
}

/** Flags for startLogWatch pointing at a test tree, with short intervals. */
export function watchFlags(root: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    'container-log-dir': path.join(root, 'containers'),
    'log-lookback': '0',
    'log-poll-interval': '50ms',
    'log-rescan-interval': '200ms',
    ...extra,
  };
}
