// Test runner: starts the probes with agent flags from argv and prints what the sink receives as JSON
// lines on stdout ({"type":"finding",...} / {"type":"status",...}). Run inside a netns with
// `ip netns exec <ns> node --import tsx test/probes/run-probes.ts --probes sysctl ...`.
// Exits on SIGTERM or when its stdin closes (the test that spawned it went away).
import pino from 'pino';
import { Registry } from 'prom-client';
import { parseCommand } from '../../common/flags.js';
import { probeFlags, startProbes } from '../../agent/probes/index.js';

const { values } = parseCommand(
  { name: 'run-probes', summary: 'probe test runner', flags: probeFlags },
  process.argv.slice(2),
);
const out = (o: object) => process.stdout.write(`${JSON.stringify(o)}\n`);
const running = startProbes(
  values,
  {
    report: (f) => out({ type: 'finding', ...f }),
    status: (name, ok, detail) => out({ type: 'status', name, ok, detail }),
  },
  { log: pino({ level: 'warn' }, pino.destination(2)), registry: new Registry() },
);

let stopping = false;
async function shutdown(): Promise<void> {
  if (stopping) return;
  stopping = true;
  await running.stop();
  process.exit(0);
}
process.on('SIGTERM', shutdown);
process.stdin.on('end', shutdown);
process.stdin.resume();
