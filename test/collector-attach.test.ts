// A collector that cannot attach (here: a real nats-server without JetStream) keeps retrying with
// one connection at a time: each failed attempt closes its own (they used to pile up, each with its
// own reconnect loop), seen through the server's own connection list (/connz).
import { spawn, type ChildProcess } from 'node:child_process';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import pino from 'pino';
import { runCollector, type RunningCollector } from '../collector/collector.js';
import { IpIndex } from '../collector/resolve/resolver.js';
import { freePort, waitFor } from './support/wait.js';
import { collectorTestConfig } from './support/stack.js';

let server: ChildProcess | undefined;
let collector: RunningCollector | undefined;
const logs: string[] = [];
const log = pino(
  { level: 'info' },
  {
    write: (s: string) => {
      logs.push(s);
    },
  },
);

test.after(async () => {
  await collector?.stop();
  if (server && server.exitCode === null)
    await new Promise<void>((r) => {
      server!.once('exit', () => r());
      server!.kill('SIGKILL');
    });
});

test('failed attaches close their connection: never more than one open, /readyz says why', async () => {
  const [port, monitor] = [await freePort(), await freePort()];
  server = spawn('nats-server', ['-a', '127.0.0.1', '-p', String(port), '-m', String(monitor)], { stdio: 'ignore' });
  const connz = async () =>
    (
      (await (await fetch(`http://127.0.0.1:${monitor}/connz`, { signal: AbortSignal.timeout(2000) })).json()) as {
        num_connections: number;
      }
    ).num_connections;
  await waitFor('nats-server monitor', async () => (await connz()) === 0, 15_000, 100);
  collector = await runCollector(collectorTestConfig(`nats://127.0.0.1:${port}`), new IpIndex([]), log);
  const counts: number[] = [];
  // Backoff 0.5 s, 1 s, 2 s: four attempts within ≈ 4 s.
  await waitFor(
    'four failed attaches',
    async () => {
      counts.push(await connz());
      return logs.filter((l) => l.includes('cannot attach to NATS')).length >= 4;
    },
    30_000,
    50,
  );
  counts.push(await connz());
  assert.ok(Math.max(...counts) <= 1, `open connections seen: ${[...new Set(counts)].join(', ')}`);
  assert.ok(counts[counts.length - 1] <= 1);
  const r = await fetch(`http://127.0.0.1:${collector.port}/readyz`);
  assert.equal([r.status, await r.text()], [503, 'not ready: NATS consumer not attached\n']);
  const d = (await (await fetch(`http://127.0.0.1:${collector.port}/api/v1/drops`)).json()) as {
    items: unknown[];
    stale: boolean;
    staleReason: string;
  };
  assert.equal(
    [d.items, d.stale, d.staleReason],
    [[], true, 'NATS consumer not attached'],
    'an empty answer that says it is not the truth',
  );
});

test.run();
