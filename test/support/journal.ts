// A real journal directory that tests append kernel-shaped records to, through
// systemd-journal-remote (export format in, journal file out). The agent follows it with the same
// `journalctl --directory=... --follow --output=json` code path it uses in production.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';

export const JOURNAL_REMOTE = '/lib/systemd/systemd-journal-remote';

export interface TestJournal {
  dir: string;
  /** Appends records (kernel transport) with the given MESSAGEs; resolves when journald-remote wrote them. */
  append(messages: string[], opts?: { transport?: string; identifier?: string }): Promise<void>;
  remove(): void;
}

export function journalRemoteAvailable(): boolean {
  return existsSync(JOURNAL_REMOTE);
}

export function createTestJournal(): TestJournal {
  const dir = mkdtempSync(join(tmpdir(), 'nw-journal-'));
  const boot = randomBytes(16).toString('hex');
  let mono = 1_000_000;
  const file = join(dir, 'remote.journal');
  // Two systemd-journal-remote processes appending to one file at once lose each other's entries
  // (seen in CI: 1 of 3 records survived), so appends queue behind each other.
  let queue: Promise<void> = Promise.resolve();
  return {
    dir,
    append(messages, opts = {}) {
      const next = queue.then(() => write(messages, opts));
      queue = next.catch(() => undefined);
      return next;
    },
    remove() {
      rmSync(dir, { recursive: true, force: true });
    },
  };

  async function write(messages: string[], opts: { transport?: string; identifier?: string }): Promise<void> {
    const now = Date.now() * 1000;
    let body = '';
    messages.forEach((m, i) => {
      mono += 1000;
      body += `__REALTIME_TIMESTAMP=${now + i}\n__MONOTONIC_TIMESTAMP=${mono}\n_BOOT_ID=${boot}\n_TRANSPORT=${opts.transport ?? 'kernel'}\nPRIORITY=4\nSYSLOG_IDENTIFIER=${opts.identifier ?? 'kernel'}\n_HOSTNAME=test-node\nMESSAGE=${m}\n\n`;
    });
    await new Promise<void>((resolve, reject) => {
      const p = spawn(JOURNAL_REMOTE, ['-o', file, '-'], { stdio: ['pipe', 'ignore', 'pipe'] });
      let err = '';
      p.stderr.on('data', (c: Buffer) => {
        err += c.toString();
      });
      const t = setTimeout(() => p.kill('SIGKILL'), 20_000);
      p.on('close', (code) => {
        clearTimeout(t);
        code === 0 ? resolve() : reject(new Error(`systemd-journal-remote exited ${code}: ${err.trim()}`));
      });
      p.stdin.end(body);
    });
  }
}
