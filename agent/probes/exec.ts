// Time-boxed command execution: a hung `iptables-save` is killed, and the probe never waits on it.
import { spawn } from 'node:child_process';
import { ProbeUnavailable } from './host.js';

export interface RunOptions {
  /** Aborting kills the command's whole process group and rejects at once. */
  signal: AbortSignal;
  /** Output beyond this is an error (a huge ruleset must not grow the agent without bound). */
  maxBytes: number;
}

/**
 * Runs argv without a shell and resolves with stdout when it exits 0. The child leads its own process
 * group so a wrapper script's children (`ip netns exec`, `nsenter`, a sleeping fake) die with it.
 */
export function runCommand(argv: readonly string[], opts: RunOptions): Promise<string> {
  return new Promise((resolve, reject) => {
    if (opts.signal.aborted) return reject(opts.signal.reason);
    const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const out: Buffer[] = [];
    let outBytes = 0;
    let err = '';
    let settled = false;
    const finish = (e: unknown, value?: string) => {
      if (settled) return;
      settled = true;
      opts.signal.removeEventListener('abort', onAbort);
      if (e === undefined) resolve(value ?? '');
      else reject(e);
    };
    const kill = () => {
      if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    };
    const onAbort = () => {
      kill();
      finish(opts.signal.reason);
    };
    opts.signal.addEventListener('abort', onAbort, { once: true });
    child.stdout.on('data', (chunk: Buffer) => {
      outBytes += chunk.length;
      if (outBytes > opts.maxBytes) {
        kill();
        return finish(new Error(`${argv[0]}: output larger than ${opts.maxBytes} bytes`));
      }
      out.push(chunk);
    });
    child.stderr.on('data', (chunk: Buffer) => {
      if (err.length < 1000) err += chunk.toString('utf8');
    });
    child.on('error', (e: NodeJS.ErrnoException) => {
      finish(
        e.code === 'ENOENT' || e.code === 'EACCES'
          ? new ProbeUnavailable(`${argv[0]}: ${e.code === 'ENOENT' ? 'command not found' : 'permission denied'}`)
          : e,
      );
    });
    child.on('close', (code, sig) => {
      if (code === 0) return finish(undefined, Buffer.concat(out).toString('utf8'));
      const why = err.trim().split('\n')[0] || (sig ? `killed by ${sig}` : `exit code ${code}`);
      finish(new ProbeUnavailable(`${argv.join(' ')}: ${why}`));
    });
  });
}
