// Starts bench/load/fleet-proc.ts as a child process and calls it (see there).
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import type { FleetCounts, FleetOptions, FleetStats } from './agents.js';

export interface Marker {
  node: string;
  port: number;
  atMs: number;
}

export interface FleetProc {
  pid: number;
  call<T = unknown>(cmd: string, args?: Record<string, number>): Promise<T>;
  snapshot(): Promise<FleetCounts>;
  stats(): Promise<FleetStats>;
  stop(): Promise<void>;
}

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

const children = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});

/** configDir: where the child's config (with the pod list) is written. onMarker: latency probes as they are added. */
export function startFleetProc(
  o: FleetOptions,
  configDir: string,
  onMarker: (m: Marker) => void = () => undefined,
): FleetProc {
  const conf = join(configDir, `fleet-${o.first ?? 0}.json`);
  writeFileSync(conf, JSON.stringify(o));
  const child: ChildProcess = spawn(
    process.execPath,
    ['--import', 'tsx', join(ROOT, 'bench/load/fleet-proc.ts'), conf],
    { stdio: ['pipe', 'pipe', 'inherit'], cwd: ROOT },
  );
  children.add(child);
  child.on('exit', () => children.delete(child));
  const waiting = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  let next = 1;
  createInterface({ input: child.stdout! }).on('line', (line) => {
    const m = JSON.parse(line) as { id?: number; result?: unknown; error?: string; marker?: Marker };
    if (m.marker) return onMarker(m.marker);
    const w = m.id !== undefined ? waiting.get(m.id) : undefined;
    if (!w) return;
    waiting.delete(m.id!);
    if (m.error) w.reject(new Error(`fleet ${o.first ?? 0}: ${m.error}`));
    else w.resolve(m.result);
  });
  child.on('exit', (code) => {
    for (const w of waiting.values()) w.reject(new Error(`fleet process exited ${code}`));
    waiting.clear();
  });
  const call = <T>(cmd: string, args?: Record<string, number>) =>
    new Promise<T>((resolve, reject) => {
      const id = next++;
      waiting.set(id, { resolve: resolve as (v: unknown) => void, reject });
      child.stdin!.write(JSON.stringify({ id, cmd, args }) + '\n');
    });
  return {
    pid: child.pid!,
    call,
    snapshot: () => call<FleetCounts>('snapshot'),
    stats: () => call<FleetStats>('stats'),
    async stop() {
      await Promise.race([call('stop').catch(() => undefined), new Promise((r) => setTimeout(r, 15_000))]);
      if (child.exitCode === null) child.kill('SIGKILL');
    },
  };
}
