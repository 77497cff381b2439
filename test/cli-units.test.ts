// The CLI's pure parts: kubectl's ages, RFC 3339 times, the kubeconfig namespace, the namespace
// scope rules (the SSE parser -w uses is the web view's, tested in web-sse.test.ts).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { humanAge } from '../cli/output.js';
import { parseRfc3339 } from '../cli/time-filter.js';
import { kubeconfigNamespace, scopeOf } from '../cli/scope.js';
import { ConfigError } from '../common/flags.js';

test('humanAge prints what kubectl prints (apimachinery duration.HumanDuration)', () => {
  const s = 1000,
    m = 60 * s,
    h = 60 * m,
    d = 24 * h;
  const cases: [number, string][] = [
    [-3 * s, '<invalid>'],
    [-1500, '0s'],
    [0, '0s'],
    [59 * s, '59s'],
    [119 * s, '119s'],
    [2 * m, '2m'],
    [5 * m + 30 * s, '5m30s'],
    [10 * m + 5 * s, '10m'],
    [179 * m, '179m'],
    [3 * h, '3h'],
    [3 * h + 7 * m, '3h7m'],
    [8 * h + 59 * m, '8h'],
    [47 * h, '47h'],
    [2 * d, '2d'],
    [2 * d + 3 * h, '2d3h'],
    [8 * d + 5 * h, '8d'],
    [729 * d, '729d'],
    [730 * d, '2y'],
    [731 * d, '2y1d'],
    [8 * 365 * d + 9 * d, '8y'],
  ];
  for (const [ms, want] of cases) assert.is(humanAge(ms), want, String(ms));
});

test('parseRfc3339: RFC 3339 date-times only; anything else is a ConfigError (exit 2), never another throw', () => {
  assert.is(parseRfc3339('2026-12-03T14:00:00Z', 'x'), Date.UTC(2026, 11, 3, 14));
  assert.is(parseRfc3339('2026-12-03T15:30:00.250+01:30', 'x'), Date.UTC(2026, 11, 3, 14, 0, 0, 250));
  assert.is(parseRfc3339('2026-12-03t14:00:00z', 'x'), Date.UTC(2026, 11, 3, 14));
  for (const bad of [
    '2026-12-03',
    '2026-12-03 14:00:00Z',
    '2026-12-03T14:00:00',
    '2026-02-30T00:00:00Z',
    '2026-13-01T00:00:00Z',
    '1701612000',
    'now',
    '',
  ]) {
    assert.throws(
      () => parseRfc3339(bad, '--since-time'),
      (e: Error) => e instanceof ConfigError,
      bad,
    );
  }
  fc.assert(
    fc.property(fc.string(), (s) => {
      try {
        parseRfc3339(s, 'x');
      } catch (e) {
        if (!(e instanceof ConfigError)) throw e;
      }
    }),
  );
  fc.assert(
    fc.property(
      fc.date({ min: new Date('1971-01-01'), max: new Date('2099-12-31'), noInvalidDate: true }),
      (d) => parseRfc3339(d.toISOString(), 'x') === d.getTime(),
    ),
  );
});

test("kubeconfigNamespace: the current context's namespace, first file wins, junk is ignored", () => {
  const a = 'current-context: dev\ncontexts:\n- name: dev\n  context: {namespace: shop}\n';
  const b =
    'current-context: prod\ncontexts:\n- name: dev\n  context: {namespace: other}\n- name: prod\n  context: {namespace: pay}\n';
  assert.is(kubeconfigNamespace([a]), 'shop');
  assert.is(kubeconfigNamespace([a, b]), 'shop');
  assert.is(kubeconfigNamespace([b, a]), 'pay');
  assert.is(kubeconfigNamespace(['contexts: []\n', a]), 'shop', 'current-context from the first file that sets it');
  assert.is(
    kubeconfigNamespace(['current-context: dev\ncontexts:\n- name: dev\n  context: {cluster: c}\n']),
    undefined,
  );
  assert.is(kubeconfigNamespace(['{{{ not yaml', '- a list']), undefined);
  fc.assert(
    fc.property(fc.array(fc.string()), (texts) => {
      kubeconfigNamespace(texts);
    }),
  );
});

test('scopeOf: -A over -n, --pod NS/NAME, else kubeconfig, else default', () => {
  const env = { KUBECONFIG: '/nonexistent/kubeconfig' };
  assert.equal(scopeOf({}, env), { namespace: 'default', pod: undefined });
  assert.equal(scopeOf({ namespace: 'shop' }, env), { namespace: 'shop', pod: undefined });
  assert.equal(scopeOf({ namespace: 'shop', 'all-namespaces': true }, env), { pod: undefined });
  assert.equal(scopeOf({ pod: 'pay/api-0' }, env), { namespace: 'pay', pod: 'api-0' });
  assert.equal(scopeOf({ pod: 'api-0', 'all-namespaces': true }, env), { pod: 'api-0' });
  assert.throws(
    () => scopeOf({ pod: '/x' }, env),
    (e: Error) => e instanceof ConfigError,
  );
});

test.run();
