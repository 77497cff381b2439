// User rules files (YAML or JSON): every validation error is one line naming the file, the rule and
// the field; a good file adds scoped rules with message templates, and can replace or switch off
// built-in rules.
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ConfigError } from '../common/flags.js';
import { logFlags, startLogWatch, validateRulesFile } from '../agent/logs/index.js';
import { newRegistry, podLog, RuntimeWriter, tempDir, watchFlags } from './logs/helpers.js';
import { RecordingSink } from './support/sink.js';
import { testLog } from './support/log.js';
import { sleep, waitFor } from './support/wait.js';

const fixtures = path.join(path.dirname(new URL(import.meta.url).pathname), 'fixtures', 'logs');

function errorOf(file: string): string {
  try {
    validateRulesFile(file);
  } catch (err) {
    assert.instance(err, ConfigError);
    return (err as Error).message;
  }
  throw new Error(`${file} was accepted`);
}

const cases: [string, string, string][] = [
  [
    'bad-regex.yaml',
    'rules:\n  - name: bad-re\n    kind: MyThing\n    pattern: "error (unclosed"\n',
    'rule "bad-re" (rules[0]) field "pattern": invalid regular expression: /error (unclosed/: Unterminated group',
  ],
  ['no-kind.yaml', 'rules:\n  - name: r1\n    pattern: boom\n', 'rule "r1" (rules[0]) field "kind": is required'],
  [
    'kind-case.yaml',
    'rules:\n  - name: r1\n    kind: my-thing\n    pattern: boom\n',
    'rule "r1" (rules[0]) field "kind": "my-thing" is not UpperCamelCase (it becomes the Event reason)',
  ],
  [
    'severity.yaml',
    'rules:\n  - {name: r1, kind: A, pattern: boom, severity: high}\n',
    'rule "r1" (rules[0]) field "severity": "high" is not one of warning, critical, info',
  ],
  [
    'typo.yaml',
    'rules:\n  - {name: ok, kind: A, pattern: x}\n  - {name: r2, kind: A, patern: boom}\n',
    'rule "r2" (rules[1]) field "patern": unknown field (known: name, kind, severity, pattern, flags, literals, scope, message, dedupWindow, enabled)',
  ],
  [
    'template.yaml',
    'rules:\n  - {name: r1, kind: A, pattern: "user (\\\\w+)", message: "{1} and {2}"}\n',
    'rule "r1" (rules[0]) field "message": "{2}" refers to capture group 2, but the pattern has 1',
  ],
  [
    'template-name.yaml',
    'rules:\n  - {name: r1, kind: A, pattern: "user (?<who>\\\\w+)", message: "{whom}"}\n',
    'rule "r1" (rules[0]) field "message": "{whom}" is neither a capture group of the pattern nor one of {namespace}, {pod}, {container}, {uid}',
  ],
  [
    'window.yaml',
    'rules:\n  - {name: r1, kind: A, pattern: boom, dedupWindow: 5 minutes}\n',
    'rule "r1" (rules[0]) field "dedupWindow": "5 minutes" is not a duration (examples: 0s, 30s, 5m, 1h)',
  ],
  [
    'scope.yaml',
    'rules:\n  - {name: r1, kind: A, pattern: boom, scope: {namespace: "[a-"}}\n',
    'rule "r1" (rules[0]) field "scope.namespace": invalid regular expression: /[a-/: Unterminated character class',
  ],
  [
    'scope-key.yaml',
    'rules:\n  - {name: r1, kind: A, pattern: boom, scope: {node: x}}\n',
    'rule "r1" (rules[0]) field "scope.node": unknown field (known: namespace, pod, container)',
  ],
  [
    'dup.yaml',
    'rules:\n  - {name: r1, kind: A, pattern: a1}\n  - {name: r1, kind: B, pattern: b1}\n',
    'rule "r1" (rules[1]) field "name": duplicate rule name "r1"',
  ],
  [
    'flags.yaml',
    'rules:\n  - {name: r1, kind: A, pattern: boom, flags: g}\n',
    'rule "r1" (rules[0]) field "flags": "g" may only combine i, m, s, u (each once)',
  ],
  [
    'unnamed.json',
    '{"rules": [{"kind": "A", "pattern": 42}]}',
    'rule rules[0] field "pattern": expected a non-empty string, got number 42',
  ],
  [
    'off-unknown.yaml',
    'rules:\n  - {name: etcd-nospace, enabled: false}\n',
    'rule "etcd-nospace" (rules[0]) field "name": no built-in rule of that name to switch off (built-in: etcd-nospace-alarm, etcd-nospace-alarm-capnslog, etcd-no-space, etcd-member-alarm-nospace, etcd-database-space-exceeded, apiserver-too-many-requests, apiserver-request-log-429, apiserver-request-log-429-json, apiserver-request-log-429-legacy, http-too-many-requests, http-status-429, client-rate-limiter-deadline, webhook-call-failed)',
  ],
  [
    'top.yaml',
    'rule:\n  - {name: r1, kind: A, pattern: boom}\n',
    'unknown top-level field "rule" (expected only "rules")',
  ],
  ['not-list.yaml', 'rules: {name: r1}\n', '"rules" must be a list, got a mapping'],
  [
    'syntax.yaml',
    'rules:\n  - name: r1\n   kind: A\n',
    'not valid YAML: Sequence item without - indicator at line 3, column 1',
  ],
  ['syntax.json', '{"rules": [{"name": "r1",}', 'not valid JSON: '],
  [
    'scalar.yaml',
    'rules:\n  - just a string\n',
    'rule rules[0]: expected a mapping with kind and pattern, got "just a string"',
  ],
];

test('rules file errors are one line naming the file, the rule and the field', async () => {
  const tmp = tempDir('rules');
  try {
    for (const [name, body, expected] of cases) {
      const file = path.join(tmp.dir, name);
      await fsp.writeFile(file, body);
      const msg = errorOf(file);
      assert.not.match(msg, /\n/, `${name}: one line`);
      if (expected.endsWith(': '))
        assert.ok(
          msg.startsWith(`rules file ${file}: ${expected}`) &&
            msg.length > `rules file ${file}: ${expected}`.length + 5,
          `${name}: ${msg}`,
        );
      else assert.is(msg, `rules file ${file}: ${expected}`, name);
    }
    assert.is(
      errorOf(path.join(tmp.dir, 'missing.yaml')),
      `rules file ${path.join(tmp.dir, 'missing.yaml')}: cannot read it: ENOENT`,
    );
    // The agent refuses to start with it, with the same message.
    const file = path.join(tmp.dir, 'bad-regex.yaml');
    let startErr: unknown;
    await startLogWatch(watchFlags(tmp.dir, { 'rules-file': file }), new RecordingSink(), {
      log: testLog,
      stateDir: tmp.dir,
      registry: newRegistry(),
    }).catch((e) => (startErr = e));
    assert.instance(startErr, ConfigError);
    assert.is((startErr as Error).message, `rules file ${file}: ${cases[0][2]}`);
  } finally {
    tmp.cleanup();
  }
});

test('the example rules files (YAML and JSON) validate to the same rules', () => {
  const yaml = validateRulesFile(path.join(fixtures, 'rules.yaml'));
  const json = validateRulesFile(path.join(fixtures, 'rules.json'));
  assert.equal(yaml, json);
  assert.ok(yaml.includes('payments-upstream-down') && yaml.includes('webhook-call-failed'));
  assert.not.ok(yaml.includes('http-status-429'), 'switched off');
  assert.is(logFlags['container-log-dir'].default, '/var/log/containers');
  assert.is(logFlags['log-lookback'].default, '0');
});

test('user rules: scope, named groups in the message, a replaced and a switched-off built-in', async () => {
  const tmp = tempDir('rules-run');
  const sink = new RecordingSink();
  const watch = await startLogWatch(watchFlags(tmp.dir, { 'rules-file': path.join(fixtures, 'rules.yaml') }), sink, {
    log: testLog,
    stateDir: path.join(tmp.dir, 'state'),
    registry: newRegistry(),
  });
  try {
    const pay = await podLog(tmp.dir, { namespace: 'payments', pod: 'checkout-1', container: 'app' });
    const other = await podLog(tmp.dir, { namespace: 'shop', pod: 'cart-1', container: 'app' });
    const line = 'ERROR upstream stripe-gateway unavailable after 3 retries';
    for (const p of [pay, other]) {
      const w = new RuntimeWriter(p.file);
      await w.line('stderr', line);
      await w.line('stdout', 'I0822 GET /pay resp=429'); // built-in http-status-429 is switched off
      await w.line('stderr', 'failed calling webhook "fraud.payments.svc": context deadline exceeded');
      await w.close();
    }
    const f = await waitFor('the payments rule', () => sink.of('PaymentUpstreamDown')[0], 5000);
    await waitFor('both webhook findings', () => sink.of('WebhookCallFailed').length === 2, 5000);
    await sleep(200);
    assert.equal(f.pod, { namespace: 'payments', name: 'checkout-1', uid: pay.uid, container: 'app' });
    assert.is(f.severity, 'critical');
    assert.is(f.message, 'Upstream stripe-gateway is unavailable for payments/checkout-1 (after 3 retries)');
    assert.is(f.evidence.rule, 'payments-upstream-down');
    assert.is(sink.of('PaymentUpstreamDown').length, 1, 'out of scope in namespace shop');
    assert.is(sink.of('APIServerThrottling').length, 0, 'http-status-429 is off');
    assert.equal(
      sink
        .of('WebhookCallFailed')
        .map((x) => x.message)
        .sort(),
      [
        'Webhook fraud.payments.svc is failing (app in payments)',
        'Webhook fraud.payments.svc is failing (app in shop)',
      ],
    );
  } finally {
    await watch.stop();
    tmp.cleanup();
  }
});

test.run();
