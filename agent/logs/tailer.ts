// Follows every log file reachable from the container log dir (kubelet's symlinks into /var/log/pods):
// discovery by chokidar plus a periodic re-scan (chokidar misses dangling symlinks), data by polling
// each open descriptor (fs.watch loses files on rotation), kubelet's rename rotation (the old inode is
// read to its end before the new file, and drained a little longer for late writes), truncation, and
// offsets persisted by inode so a restart resumes where it stopped, even across a rotation.
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { watch, type FSWatcher } from 'chokidar';
import { onceLogger, type Logger } from '../../common/log.js';
import type { LogicalLine } from './assembler.js';
import { FileTail, type Count } from './file-tail.js';
import { loadOffsets, saveOffsets, type FileOffset } from './offsets.js';
import { podMeta, type PodMeta } from './pod-path.js';
import { rotatedSiblings, unreadAfter } from './rotation.js';

export interface FileInfo {
  link: string;
  target: string;
  meta: PodMeta;
}

export interface TailerOptions {
  dir: string;
  stateFile: string;
  /** For files already present at the first start: 0 = from their end, else this far back in time. */
  lookbackMs: number;
  pollMs: number;
  rescanMs: number;
  saveMs?: number;
  /** Bytes read from one file per poll before moving to the next (fairness); the next poll comes at once. */
  readBudget?: number;
  /** How long a rotated-away inode is still read for late writes. */
  drainMs?: number;
  log: Logger;
  count: Count;
  /** Called once per tracked file; returns the handler for its lines. */
  lineHandler(file: FileInfo): (line: LogicalLine) => void;
  /** Reports whether the directory can be read (once per change). */
  status?(ok: boolean, detail: string): void;
}

interface Queued {
  path: string;
  dev: number;
  ino: number;
  offset: number;
}

interface Tracked {
  link: string;
  info?: FileInfo;
  onLine?: (line: LogicalLine) => void;
  current?: FileTail;
  /** Rotated-away inodes, still read until `until` for writes that raced the rename. */
  draining: { tail: FileTail; until: number }[];
  /** Rotated files to read completely, in order, before the current one (missed rotations). */
  queue: Queued[];
  queueTail?: FileTail;
  mode: 'end' | 'start' | 'resume';
}

const LOG_NAME = /\.log$/;

export class LogTailer {
  private readonly tracked = new Map<string, Tracked>();
  private readonly buf = Buffer.allocUnsafe(256 * 1024);
  /** Saved offsets not yet applied, by link (several inodes per link after a rotation). */
  private readonly storedByLink = new Map<string, FileOffset[]>();
  private firstStart = true;
  private watcher: FSWatcher | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private rescanTimer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  private lastSave = 0;
  private dirOk: boolean | undefined;
  private readonly budget: number;
  private readonly drainMs: number;
  private readonly warnOnce: ReturnType<typeof onceLogger>;

  constructor(private readonly opt: TailerOptions) {
    this.budget = opt.readBudget ?? 8 * 1024 * 1024;
    this.drainMs = opt.drainMs ?? Math.max(1000, 2 * opt.pollMs);
    this.warnOnce = onceLogger(opt.log);
  }

  async start(): Promise<void> {
    const state = await loadOffsets(this.opt.stateFile);
    this.firstStart = !state.existed;
    for (const f of state.files) {
      const list = this.storedByLink.get(f.link) ?? [];
      list.push(f);
      this.storedByLink.set(f.link, list);
    }
    await this.rescan(true);
    // Hints only: the re-scan and the poll loop are the source of truth.
    this.watcher = watch(this.opt.dir, { depth: 0, ignoreInitial: true, followSymlinks: false, persistent: true });
    this.watcher.on('add', (p) => {
      if (LOG_NAME.test(p)) this.track(p, false);
    });
    this.watcher.on('error', (err) =>
      this.opt.log.debug({ err: String(err) }, 'chokidar error (the re-scan covers it)'),
    );
    this.rescanTimer = setInterval(() => void this.rescan(false), this.opt.rescanMs);
    this.rescanTimer.unref();
    // The first poll opens every present file, so "from their end" means the end at start().
    const more = await this.runPoll();
    this.schedule(more ? 0 : this.opt.pollMs);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.pollTimer);
    clearInterval(this.rescanTimer);
    await this.watcher?.close();
    await this.running;
    await this.save();
    for (const t of this.tracked.values()) await this.closeAll(t);
    this.tracked.clear();
  }

  /** Files currently followed (for tests and metrics). */
  files(): FileInfo[] {
    return [...this.tracked.values()].flatMap((t) => (t.info ? [t.info] : []));
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    clearTimeout(this.pollTimer);
    this.pollTimer = setTimeout(() => {
      void this.runPoll().then((more) => this.schedule(more ? 0 : this.opt.pollMs));
    }, ms);
  }

  /** Polls never overlap: each one chains after the previous. */
  private runPoll(): Promise<boolean> {
    const p = (this.running ?? Promise.resolve()).then(() => this.pollAll());
    this.running = p.then(
      () => undefined,
      () => undefined,
    );
    return p;
  }

  private async pollAll(): Promise<boolean> {
    let more = false;
    for (const t of [...this.tracked.values()]) {
      if (this.stopped) break;
      try {
        if (await this.service(t)) more = true;
      } catch (err) {
        this.opt.count('read-error');
        this.warnOnce(t.link, 'container log read failed; retrying on every poll', { link: t.link, err: String(err) });
      }
    }
    if (!this.stopped && Date.now() - this.lastSave >= (this.opt.saveMs ?? 2000)) await this.save();
    return more;
  }

  private async rescan(initial: boolean): Promise<void> {
    let names: string[];
    try {
      names = await fsp.readdir(this.opt.dir);
    } catch (err) {
      this.setDirOk(false, `cannot read ${this.opt.dir}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
      return;
    }
    this.setDirOk(true, `following container logs in ${this.opt.dir}`);
    for (const n of names) if (LOG_NAME.test(n)) this.track(path.join(this.opt.dir, n), initial);
  }

  private setDirOk(ok: boolean, detail: string): void {
    if (this.dirOk === ok) return;
    this.dirOk = ok;
    this.opt.status?.(ok, detail);
    if (!ok) this.opt.log.warn({ dir: this.opt.dir }, detail);
  }

  private track(link: string, initial: boolean): void {
    if (this.stopped || this.tracked.has(link)) return;
    const mode = this.storedByLink.has(link) ? 'resume' : initial && this.firstStart ? 'end' : 'start';
    this.tracked.set(link, { link, draining: [], queue: [], mode });
    // A file found between polls is read at the next one; no need to wait a full interval.
    if (!initial) this.schedule(0);
  }

  /** One poll of one link. Returns true when the read budget was used up (more data waiting). */
  private async service(t: Tracked): Promise<boolean> {
    const now = Date.now();
    for (const d of [...t.draining]) {
      await this.readAll(t, d.tail);
      if (now >= d.until) {
        await d.tail.close();
        t.draining.splice(t.draining.indexOf(d), 1);
      }
    }
    if (await this.readQueue(t)) return true;

    const st = await fsp.stat(t.link).catch(() => undefined);
    if (!st) {
      const linkGone = await fsp.lstat(t.link).then(
        () => false,
        () => true,
      );
      if (t.current) await this.readAll(t, t.current);
      if (linkGone) {
        // The container is gone: everything it wrote is read; forget it.
        await this.closeAll(t);
        this.tracked.delete(t.link);
      }
      // Otherwise the live file was renamed and not re-created yet: keep the old descriptor.
      return false;
    }
    if (!t.current) {
      if (!(await this.openFirst(t))) return false;
      if (await this.readQueue(t)) return true;
    } else if (st.ino !== t.current.ino || st.dev !== t.current.dev) {
      await this.rotate(t);
      if (await this.readQueue(t)) return true;
    } else if (st.size < t.current.pos) {
      this.opt.count('truncation');
      t.current.restart();
    }
    const cur = t.current!;
    const n = await cur.read(this.buf, this.budget, t.onLine!, this.opt.count);
    return n >= this.budget;
  }

  /** First open of a link: position by mode, and catch up on rotations missed while stopped. */
  private async openFirst(t: Tracked): Promise<boolean> {
    let opened;
    try {
      opened = await FileTail.open(t.link);
    } catch {
      return false; // dangling symlink: the re-scan and the next poll retry
    }
    const { tail, size } = opened;
    const target = await fsp.realpath(t.link).catch(() => t.link);
    t.info = { link: t.link, target, meta: podMeta(t.link, target) };
    t.onLine = this.opt.lineHandler(t.info);
    t.current = tail;
    if (t.mode === 'end') {
      if (this.opt.lookbackMs > 0) {
        const cutoff = Date.now() - this.opt.lookbackMs;
        await tail.seek(await tail.offsetAtTime(size, cutoff));
        tail.skipOlderThan(cutoff);
      } else await tail.seek(size);
    } else if (t.mode === 'resume') {
      const stored = this.storedByLink.get(t.link) ?? [];
      const mine = stored.find((s) => s.dev === tail.dev && s.ino === tail.ino);
      const older = stored.filter((s) => s !== mine);
      if (older.length > 0) {
        // Rotated while we were stopped: finish the old inode(s) from their offsets, then the rotations after them.
        const sibs = await rotatedSiblings(target);
        const at = (s: { dev: number; ino: number }) => sibs.findIndex((x) => x.dev === s.dev && x.ino === s.ino);
        const found = older.filter((s) => at(s) >= 0).sort((a, b) => at(a) - at(b));
        if (found.length < older.length) {
          this.opt.count('rotated-lost', older.length - found.length);
          this.opt.log.warn(
            { link: t.link },
            'a rotated container log was compressed or removed before it was read to its end',
          );
        }
        for (const s of found) t.queue.push({ path: sibs[at(s)].path, dev: s.dev, ino: s.ino, offset: s.offset });
        if (found.length > 0 && !mine)
          for (const sib of unreadAfter(sibs, found[found.length - 1], tail)) t.queue.push({ ...sib, offset: 0 });
      }
      if (mine && mine.offset <= size) await tail.seek(mine.offset);
      else if (mine) {
        this.opt.count('truncation');
        await tail.seek(0);
      } else await tail.seek(0); // created after our last run
    } else await tail.seek(0);
    this.storedByLink.delete(t.link);
    return true;
  }

  /** The live path now names another inode: finish the old one, queue rotations we never saw, switch. */
  private async rotate(t: Tracked): Promise<void> {
    const old = t.current!;
    await this.readAll(t, old);
    let next;
    try {
      next = await FileTail.open(t.link);
    } catch {
      return; // renamed again in between; the next poll sees it
    }
    this.opt.count('rotation');
    const sibs = await rotatedSiblings(t.info!.target);
    for (const sib of unreadAfter(sibs, old, next.tail)) t.queue.push({ ...sib, offset: 0 });
    t.draining.push({ tail: old, until: Date.now() + this.drainMs });
    t.current = next.tail;
    await next.tail.seek(0);
  }

  /** Reads queued rotated files to their end, one at a time. True when the budget ran out. */
  private async readQueue(t: Tracked): Promise<boolean> {
    while (t.queue.length > 0) {
      const q = t.queue[0];
      if (!t.queueTail) {
        try {
          const { tail } = await FileTail.open(q.path);
          if (tail.dev !== q.dev || tail.ino !== q.ino) {
            await tail.close();
            throw new Error('replaced');
          }
          await tail.seek(q.offset);
          t.queueTail = tail;
        } catch {
          this.opt.count('rotated-lost');
          t.queue.shift();
          continue;
        }
      }
      const n = await t.queueTail.read(this.buf, this.budget, t.onLine!, this.opt.count);
      if (n >= this.budget) return true;
      await t.queueTail.close();
      t.queueTail = undefined;
      t.queue.shift();
    }
    return false;
  }

  private async readAll(t: Tracked, tail: FileTail): Promise<void> {
    while ((await tail.read(this.buf, this.budget, t.onLine!, this.opt.count)) >= this.budget) {
      // keep going: this inode is about to be left behind
    }
  }

  private async closeAll(t: Tracked): Promise<void> {
    for (const d of t.draining) await d.tail.close();
    t.draining = [];
    await t.queueTail?.close();
    t.queueTail = undefined;
    await t.current?.close();
    t.current = undefined;
  }

  /** Offsets of every open inode (plus queued ones not reached yet), written atomically. */
  private async save(): Promise<void> {
    this.lastSave = Date.now();
    const files: FileOffset[] = [];
    for (const t of this.tracked.values()) {
      if (!t.info) {
        // Not opened yet (dangling or just found): keep what we had for it.
        for (const s of this.storedByLink.get(t.link) ?? []) files.push(s);
        continue;
      }
      const target = t.info.target;
      for (const d of t.draining) {
        // A rotated file read to its end needs no entry (kubelet will gzip it; that loses nothing).
        const offset = d.tail.committed();
        if (offset < (await d.tail.size().catch(() => 0)))
          files.push({ link: t.link, target, dev: d.tail.dev, ino: d.tail.ino, offset });
      }
      t.queue.forEach((q, i) => {
        const offset = i === 0 && t.queueTail ? t.queueTail.committed() : q.offset;
        files.push({ link: t.link, target: q.path, dev: q.dev, ino: q.ino, offset });
      });
      if (t.current)
        files.push({ link: t.link, target, dev: t.current.dev, ino: t.current.ino, offset: t.current.committed() });
    }
    try {
      await saveOffsets(this.opt.stateFile, files);
    } catch (err) {
      this.opt.log.warn({ file: this.opt.stateFile, err: String(err) }, 'cannot save container log offsets');
    }
  }
}
