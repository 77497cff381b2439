// The real `nodewarden` CLI as child processes, with their JSON logs kept for assertions and failures.
import { spawn, type ChildProcess } from 'node:child_process';
import { freePort, waitFor } from './wait.js';

const ENTRY = new URL('../../cli/entry.ts', import.meta.url).pathname;
/** Sources through tsx by default (never a stale dist/); NODEWARDEN_BIN=<bundle> runs a build (bench). */
export const CLI_ARGS = process.env.NODEWARDEN_BIN ? [process.env.NODEWARDEN_BIN] : ['--import', 'tsx', ENTRY];

export interface Proc {
  child: ChildProcess;
  output(): string;
  waitForLog(re: RegExp, timeoutMs?: number): Promise<void>;
  /** SIGTERM (graceful) or SIGKILL; resolves when the process is gone. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of running) c.kill('SIGKILL');
});

/** `ip netns exec NS` execs the command in place, so PIDs and signals reach nodewarden itself. */
const inNetns = (netns: string | undefined, argv: string[]): [string, string[]] =>
  netns ? ['ip', ['netns', 'exec', netns, ...argv]] : [argv[0], argv.slice(1)];

export function startCli(args: string[], env: NodeJS.ProcessEnv = {}, netns?: string): Proc {
  const [cmd, argv] = inNetns(netns, [process.execPath, ...CLI_ARGS, ...args]);
  const child = spawn(cmd, argv, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NODEWARDEN_LOG_LEVEL: 'info', ...env },
  });
  running.add(child);
  let out = '';
  child.stdout!.on('data', (c: Buffer) => {
    out += c.toString();
    if (out.length > 2_000_000) out = out.slice(-1_000_000);
  });
  child.stderr!.on('data', (c: Buffer) => {
    out += c.toString();
  });
  child.on('exit', () => running.delete(child));
  return {
    child,
    output: () => out,
    waitForLog: (re, timeoutMs = 20_000) =>
      waitFor(
        `log ${re} from nodewarden ${args[0]}\n--- output:\n${out.slice(-3000)}`,
        () => re.test(out),
        timeoutMs,
        50,
      ).then(() => undefined),
    stop: (signal = 'SIGTERM') =>
      new Promise((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve(child.exitCode);
        const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
        child.once('exit', (code) => {
          clearTimeout(t);
          resolve(code);
        });
        child.kill(signal);
      }),
  };
}

export interface CollectorProc extends Proc {
  port: number;
  /** Its base URL, http://127.0.0.1:<port>. */
  api: string;
}

/** `nodewarden collector --nats <url> --listen 127.0.0.1:<a free port> ...args`; waits for nothing. */
export async function spawnCollector(natsUrl: string, args: string[] = []): Promise<CollectorProc> {
  const port = await freePort();
  const proc = startCli(['collector', '--nats', natsUrl, '--listen', `127.0.0.1:${port}`, ...args]);
  return { ...proc, port, api: `http://127.0.0.1:${port}` };
}

/** Runs the CLI to completion (bounded) and returns its exit code and output. */
export function runCli(
  args: string[],
  input?: string,
  timeoutMs = 30_000,
  netns?: string,
  env?: NodeJS.ProcessEnv,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const [cmd, argv] = inNetns(netns, [process.execPath, ...CLI_ARGS, ...args]);
    const child = spawn(cmd, argv, {
      stdio: ['pipe', 'pipe', 'pipe'],
      ...(env ? { env: { ...process.env, ...env } } : {}),
    });
    let stdout = '',
      stderr = '';
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    const t = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(t);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(input ?? '');
  });
}

export async function getJson<T = any>(url: string, token?: string): Promise<T> {
  const res = await fetch(url, {
    headers: token ? { authorization: `Bearer ${token}` } : {},
    signal: AbortSignal.timeout(5000),
  });
  return (await res.json()) as T;
}
