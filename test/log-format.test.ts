// --log-format text (common/log.ts): one readable line per pino record, fields as key=value.
// Run: node --import tsx test/log-format.test.ts
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { textLine } from '../common/log.js';

test('text line: time, level, component once, message, fields', () => {
  const json = JSON.stringify({
    level: 40,
    time: '2026-03-01T12:00:00.000Z',
    component: 'collector',
    msg: 'collector: cannot attach to NATS',
    err: 'connect ECONNREFUSED 127.0.0.1:4222',
    retryInMs: 500,
    synced: false,
  });
  assert.is(
    textLine(json),
    '2026-03-01T12:00:00.000Z WARN  collector: cannot attach to NATS err="connect ECONNREFUSED 127.0.0.1:4222" retryInMs=500 synced=false\n',
  );
  assert.is(
    textLine(
      JSON.stringify({ level: 30, time: 't', component: 'agent', msg: 'started', node: 'n1', prefixes: ['a', 'b'] }),
    ),
    't INFO  agent: started node=n1 prefixes=["a","b"]\n',
  );
});

test('a line that is not JSON passes through', () => {
  assert.is(textLine('not json'), 'not json\n');
});

test.run();
