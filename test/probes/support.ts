// Shared helpers for the probe tests: fixtures, root-only commands, the probes in their own process.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { FindingReport } from '../../agent/findings.js';
import { RecordingSink, type StatusReport } from '../support/sink.js';

export const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'probes');
export const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export function fixture(name: string): string {
  return readFileSync(join(FIXTURES, name), 'utf8');
}

export const isRoot = process.getuid?.() === 0;

/** Unique per test process, short enough for netns and veth names. */
export const PREFIX = `nwp${process.pid}`;

/** Runs a command (no shell) with a time box; throws with stderr on failure. */
export function sh(argv: string[], timeoutMs = 10_000): string {
  return execFileSync(argv[0], argv.slice(1), {
    encoding: 'utf8',
    timeout: timeoutMs,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/**
 * The probes in their own process (test/probes/run-probes.ts), optionally inside a netns, as a
 * DaemonSet agent would run in the node's namespace. Findings and statuses land in `sink`.
 */
export class ProbeProcess {
  readonly sink = new RecordingSink();
  readonly child: ChildProcess;
  stderr = '';
  private readonly exited: Promise<void>;

  constructor(args: string[], netns?: string) {
    const node = [process.execPath, '--import', 'tsx', join(REPO, 'test', 'probes', 'run-probes.ts'), ...args];
    const argv = netns ? ['ip', 'netns', 'exec', netns, ...node] : node;
    this.child = spawn(argv[0], argv.slice(1), { cwd: REPO, stdio: ['pipe', 'pipe', 'pipe'] });
    this.exited = new Promise((r) => this.child.once('exit', () => r()));
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      const m = JSON.parse(line) as { type: string } & FindingReport & StatusReport;
      if (m.type === 'status') this.sink.status(m.name, m.ok, m.detail);
      else {
        const { type: _type, ...finding } = m;
        this.sink.report(finding as FindingReport);
      }
    });
    this.child.stderr!.on('data', (d: Buffer) => {
      if (this.stderr.length < 20_000) this.stderr += d.toString();
    });
  }

  /** SIGTERM (the runner stops its probes), SIGKILL if it has not exited after 3 s. */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill('SIGTERM');
    const t = setTimeout(() => this.child.kill('SIGKILL'), 3000);
    await this.exited;
    clearTimeout(t);
  }
}
