// The scale section's own process (bench/scale.ts), started by bench/run.ts through tsx like
// bench/ingest-1m.ts: it needs the test harnesses' files (scripts, fixtures) next to its source. The
// collectors it starts are still the production bundle (NODEWARDEN_BIN). One JSON row per line.
import { scaleBench } from './scale.js';

await scaleBench(
  (key, label, value, unit, digits = 0) => {
    process.stdout.write(JSON.stringify({ key, label, value, unit, digits }) + '\n');
  },
  { NODE_OPTIONS: process.argv[2] ?? '' },
);
process.exit(0);
