// Periodic jobs never take the process down: a throw or a rejection is counted per job and logged
// once per job and message; the job runs again at its next turn.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import pino from 'pino';
import { Registry } from 'prom-client';
import { JobGuard } from '../common/guard.js';

test('a throwing and a rejecting job are counted per job and logged once per message', async () => {
  const lines: string[] = [];
  const registry = new Registry();
  const guard = new JobGuard(
    pino(
      { level: 'info' },
      {
        write: (s: string) => {
          lines.push(s);
        },
      },
    ),
    registry,
    'nodewarden_test',
  );
  let runs = 0;
  const sync = guard.wrap('sweep', () => {
    runs++;
    throw new RangeError('Invalid time value');
  });
  const later = guard.wrap('checks', async () => {
    runs++;
    throw new Error('boom');
  });
  for (let i = 0; i < 3; i++) {
    sync();
    later();
  }
  await new Promise((r) => setImmediate(r));
  assert.is(runs, 6, 'every turn ran');
  const text = await registry.metrics();
  assert.match(text, /nodewarden_test_job_failures_total\{job="sweep"\} 3/);
  assert.match(text, /nodewarden_test_job_failures_total\{job="checks"\} 3/);
  assert.is(lines.filter((l) => l.includes('Invalid time value')).length, 1);
  assert.is(lines.filter((l) => l.includes('boom')).length, 1);
});

test.run();
