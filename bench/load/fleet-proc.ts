// One load-generator process (bench/load/agents.ts Fleet), driven over stdin/stdout JSON lines by
// bench/load/fleet-client.ts, so that its CPU is measured apart from the collector's and a fleet can
// be split over processes. Usage: node --import tsx bench/load/fleet-proc.ts CONFIG.json
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { Fleet, type FleetOptions } from './agents.js';

const fleet = new Fleet(JSON.parse(readFileSync(process.argv[2], 'utf8')) as FleetOptions);
const send = (o: unknown) => process.stdout.write(JSON.stringify(o) + '\n');

type Cmd = { id: number; cmd: string; args?: Record<string, number> };
const handlers: Record<string, (a: Record<string, number>) => unknown> = {
  start: () => fleet.start(),
  steady: (a) => fleet.steady(a),
  stopSteady: () => fleet.stopSteady(),
  storm: async (a) => {
    let k = 0;
    const every = a.markerEveryTicks ?? 0;
    await fleet.storm({
      seconds: a.seconds,
      dropsPerSecond: a.dropsPerSecond,
      onTick: () => {
        if (every && ++k % every === 0) send({ marker: fleet.marker() });
      },
    });
  },
  marker: () => fleet.marker(),
  snapshot: () => fleet.snapshot(),
  stats: () => fleet.stats(),
  drained: (a) => fleet.drained(a.timeoutMs),
  stop: async () => {
    await fleet.stop();
    setTimeout(() => process.exit(0), 50);
  },
};

createInterface({ input: process.stdin }).on('line', (line) => {
  const c = JSON.parse(line) as Cmd;
  Promise.resolve()
    .then(() => handlers[c.cmd](c.args ?? {}))
    .then(
      (result) => send({ id: c.id, result: result ?? null }),
      (err: Error) => send({ id: c.id, error: err.message }),
    );
});
process.stdin.on('end', () => process.exit(0));
