// The typed flag layer (common/flags.ts): kinds, bounds, defaults from the spec, comma lists in both
// the flag and the env form, error wording (one line, names the flag), help groups and examples.
// Run: node --import tsx test/flags.test.ts
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import {
  ConfigError,
  formatDuration,
  parseCommand,
  parseDuration,
  readFlags,
  renderHelp,
  type CommandSpec,
  type FlagSpecs,
} from '../common/flags.js';

const flags = {
  every: { type: 'duration', min: 10, default: '10s', help: 'h' },
  lookback: { type: 'duration', zero: true, min: 1000, default: '0', help: 'h' },
  size: { type: 'bytes', default: '64Mi', help: 'h' },
  replicas: { type: 'int', max: 5, default: '1', help: 'h' },
  qps: { type: 'number', default: '5', help: 'h' },
  pct: { type: 'number', max: 100, default: '90', help: 'h' },
  mode: { type: 'choice', choices: ['auto', 'on', 'off'], default: 'auto', help: 'h' },
  names: { type: 'list', default: ['a', 'b'], help: 'h' },
  raw: { type: 'list', noSplit: true, help: 'h' },
  path: { type: 'string', help: 'h' },
} satisfies FlagSpecs;
const spec: CommandSpec = {
  name: 't',
  summary: 's',
  flags,
  groups: [{ title: 'Sizes', flags: ['size', 'replicas'] }],
  examples: ['t --every 5s'],
};

const bad = (values: Record<string, unknown>, message: RegExp) => {
  assert.throws(
    () => readFlags(flags, values),
    (e: unknown) => e instanceof ConfigError && message.test((e as Error).message),
    JSON.stringify(values),
  );
};

test('defaults come from the spec; kinds are read into numbers, strings and lists', () => {
  const f = readFlags(flags, {});
  assert.equal(f, {
    every: 10_000,
    lookback: 0,
    size: 64 * 2 ** 20,
    replicas: 1,
    qps: 5,
    pct: 90,
    mode: 'auto',
    names: ['a', 'b'],
    raw: [],
    path: undefined,
  });
  const g = readFlags(flags, {
    every: '250ms',
    lookback: '10m',
    size: '1G',
    replicas: '5',
    qps: '0.5',
    mode: 'off',
    names: ['x,y', 'z'],
    raw: ['a,b'],
    path: '/p',
  });
  assert.equal(g, {
    every: 250,
    lookback: 600_000,
    size: 1e9,
    replicas: 5,
    qps: 0.5,
    pct: 90,
    mode: 'off',
    names: ['x', 'y', 'z'],
    raw: ['a,b'],
    path: '/p',
  });
});

test('bounds and kinds: one line naming the flag', () => {
  bad({ every: 'soon' }, /^--every: "soon" is not a duration/);
  bad({ every: '5ms' }, /^--every must be at least 10 ms/);
  bad({ lookback: '500ms' }, /^--lookback must be at least 1000 ms \(or 0\)/);
  bad({ replicas: '9' }, /^--replicas must be an integer in \[1, 5\], not "9"/);
  bad({ replicas: '2.5' }, /^--replicas must be/);
  bad({ qps: '0' }, /^--qps must be a positive number, not "0"/);
  bad({ qps: '-1' }, /^--qps must be a positive number/);
  bad({ pct: '150' }, /^--pct must be a number in \(0, 100\]/);
  bad({ mode: 'maybe' }, /^--mode must be auto, on or off, not "maybe"/);
  bad({ size: 'lots' }, /^--size: "lots" is not a size/);
});

test('lists take commas in the flag and the env form; env fills only what argv left out', () => {
  const argv = parseCommand(spec, ['--names', 'p,q', '--names', 'r'], {});
  assert.equal(argv.values.names, ['p', 'q', 'r']);
  const env = parseCommand(spec, [], { NODEWARDEN_NAMES: 's, t', NODEWARDEN_EVERY: '1m' });
  assert.equal(env.values.names, ['s', 't']);
  assert.is(readFlags(flags, env.values).every, 60_000);
  assert.equal(parseCommand(spec, ['--names', 'u'], { NODEWARDEN_NAMES: 's' }).values.names, ['u']);
});

test('help: ungrouped flags first, then each group, then examples', () => {
  const h = renderHelp(spec);
  assert.ok(h.indexOf('Flags:') < h.indexOf('Sizes:') && h.indexOf('Sizes:') < h.indexOf('Examples:'));
  assert.match(h, /--mode auto\|on\|off/);
  assert.match(h, /Examples:\n {2}t --every 5s/);
  const sizes = h.slice(h.indexOf('Sizes:'), h.indexOf('Examples:'));
  assert.ok(sizes.includes('--size') && sizes.includes('--replicas') && !sizes.includes('--every'));
});

test('formatDuration is the inverse of parseDuration for whole units (property)', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 10_000_000 }), (ms) => parseDuration(formatDuration(ms), 'x') === ms),
  );
});

test.run();
