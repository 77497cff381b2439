// Input formats, IP canonicalisation, the envelope codec and the coalescer: the pure pieces.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseInputLine, parseJournalJson, parseRawLine, cursorOf } from '../agent/parse/log-line.js';
import { canonicalIp } from '../common/ip.js';
import { encodeEnvelope, decodeEnvelope, DecodeError } from '../proto/codec.js';
import { Coalescer } from '../agent/outbox/coalescer.js';
import { parseDropMessage, type Drop } from '../agent/parse/packet-drop.js';
import { LineSplitter } from '../common/lines.js';

// A record exactly as `journalctl -k -f -o json` printed it on our VM (node-lab-feasibility.md 4a).
const journalRecord =
  '{"_BOOT_ID":"a012625a2e3b400ba5e791bc5a6e0a49","_RUNTIME_SCOPE":"system","_HOSTNAME":"vm","__REALTIME_TIMESTAMP":"1795442355193845","_TRANSPORT":"kernel","__CURSOR":"s=12bcc4216ded4be5abf8378d78be38ac;i=161;b=a012625a2e3b400ba5e791bc5a6e0a49;m=33e4f981;t=660f1ffcbc7f5;x=15333a495a89170a","PRIORITY":"4","_SOURCE_MONOTONIC_TIMESTAMP":"870641880","MESSAGE":"calico-packet: IN=cali1a2b3c4d5e6 OUT=cali6f5e4d3c2b1 MAC=92:e6:fa:3a:01:6d:6a:09:8e:ab:40:e0:08:00 SRC=10.244.0.4 DST=10.244.1.6 LEN=60 TOS=0x00 PREC=0x00 TTL=63 ID=14233 DF PROTO=TCP SPT=53182 DPT=12865 WINDOW=64240 RES=0x00 SYN URGP=0 ","_MACHINE_ID":"3d1219c7c4c5404aaa1f6d2a48adfda4","__MONOTONIC_TIMESTAMP":"870644097","SYSLOG_IDENTIFIER":"kernel","SYSLOG_FACILITY":"0"}';

test('journal JSON: message, journal time, cursor (with and without parsing)', () => {
  const e = parseJournalJson(journalRecord);
  assert.ok(!('reject' in e));
  if ('reject' in e) return;
  assert.ok(e.message.startsWith('calico-packet: IN=cali1a2b3c4d5e6'));
  assert.is(e.timeMs, 1795442355193);
  assert.is(e.cursor, cursorOf(journalRecord));
  assert.ok(e.cursor!.startsWith('s=12bcc4216ded4be5abf8378d78be38ac;i=161'));
});

test('journal JSON: MESSAGE as a byte array (non-UTF-8) and null (too large without --all)', () => {
  const bytes = [...Buffer.from('calico-packet: SRC=10.0.0.1 DST=10.0.0.2 PROTO=UDP DPT=53 ')];
  const e = parseJournalJson(JSON.stringify({ MESSAGE: bytes, __REALTIME_TIMESTAMP: '1000000' }));
  assert.ok(!('reject' in e) && e.message.includes('DPT=53') && e.timeMs === 1000);
  assert.equal(parseJournalJson('{"MESSAGE":null}'), { reject: 'no-message', detail: 'MESSAGE missing or null' });
  assert.is((parseJournalJson('{"MESSAGE": "trunc') as { reject: string }).reject, 'bad-json');
  assert.is((parseJournalJson('[1,2]') as { reject: string }).reject, 'no-message');
});

test('raw lines: RFC3339, short-iso with +0000, classic syslog without a year, bare message', () => {
  assert.is(
    parseRawLine('2026-11-23T13:59:01.123456+00:00 vm kernel: calico-packet: x').timeMs,
    Date.parse('2026-11-23T13:59:01.123Z'),
  );
  assert.is(parseRawLine('2026-11-23T13:59:01+0000 vm kernel: x').timeMs, Date.parse('2026-11-23T13:59:01Z'));
  const now = new Date(2026, 10, 23, 15, 0, 0).getTime();
  assert.is(parseRawLine('Nov 23 13:59:01 vm kernel: x', now).timeMs, new Date(2026, 10, 23, 13, 59, 1).getTime());
  // A December line read on January 2nd belongs to the previous year.
  const jan = new Date(2027, 0, 2, 0, 0, 0).getTime();
  assert.is(parseRawLine('Dec 31 23:00:00 vm kernel: x', jan).timeMs, new Date(2026, 11, 31, 23, 0, 0).getTime());
  assert.is(parseRawLine('calico-packet: SRC=1.2.3.4').timeMs, undefined);
  assert.is((parseInputLine(journalRecord) as { cursor?: string }).cursor !== undefined, true);
});

test('IP canonical form (RFC 5952) and rejection of non-IPs', () => {
  assert.is(canonicalIp('fd00:0099:0000:0000:0000:0000:0000:0001'), 'fd00:99::1');
  assert.is(canonicalIp('2001:0db8:0000:0000:0001:0000:0000:0001'), '2001:db8::1:0:0:1');
  assert.is(canonicalIp('2001:0db8:0000:0001:0001:0001:0001:0001'), '2001:db8:0:1:1:1:1:1');
  assert.is(canonicalIp('FE80:0000:0000:0000:0000:0000:0000:0000'), 'fe80::');
  assert.is(canonicalIp('0000:0000:0000:0000:0000:0000:0000:0001'), '::1');
  assert.is(canonicalIp('0:0:0:0:0:FFFF:0a00:0001'), '::ffff:10.0.0.1');
  assert.is(canonicalIp('10.244.0.4'), '10.244.0.4');
  assert.is(canonicalIp('10.244.0.256'), undefined);
  assert.is(canonicalIp('cali123'), undefined);
});

test('envelope codec round trip; corrupt and incomplete messages are typed errors', () => {
  const now = Date.now();
  const bytes = encodeEnvelope({
    node: 'n1',
    agentId: 'a1',
    seq: 7,
    sentMs: now,
    drops: {
      drops: [
        {
          family: 4,
          src: '10.0.0.1',
          dst: '10.0.0.2',
          count: 3000000000,
          proto: 'TCP',
          dstPort: 80,
          firstSeenMs: now - 1,
          lastSeenMs: now,
        },
      ],
    },
  });
  const env = decodeEnvelope(bytes);
  assert.equal(
    [env.node, env.agentId, env.seq, env.body, Number(env.msg.drops!.drops![0].count)],
    ['n1', 'a1', 7, 'drops', 3000000000],
  );
  const kind = (b: Uint8Array) => {
    try {
      decodeEnvelope(b);
      return 'ok';
    } catch (e) {
      return (e as DecodeError).kind;
    }
  };
  assert.is(kind(new Uint8Array([0xff, 0xff, 0xff, 0xff, 0x0f])), 'corrupt');
  assert.is(kind(Buffer.from('{"json":"not protobuf"}')), 'corrupt');
  assert.is(kind(encodeEnvelope({ node: 'n1', agentId: 'a', seq: 1, sentMs: now })), 'empty-body');
  assert.is(kind(encodeEnvelope({ node: 'n1', heartbeat: {} })), 'missing-header');
  assert.is(
    kind(
      encodeEnvelope({
        node: 'n',
        agentId: 'a',
        seq: 1,
        sentMs: now,
        drops: { drops: [{ src: '1.1.1.1', count: 1 }] },
      }),
    ),
    'invalid-drop',
  );
});

test('coalescer: identical flows become one record with count and first/last seen; others stay apart', () => {
  const c = new Coalescer();
  const p = (s: string) => parseDropMessage(s, ['calico-packet:']) as Drop;
  const a1 = p('calico-packet: IN=a OUT=b SRC=10.0.0.1 DST=10.0.0.2 PROTO=TCP SPT=1000 DPT=80 ');
  const a2 = p('calico-packet: IN=a OUT=b SRC=10.0.0.1 DST=10.0.0.2 PROTO=TCP SPT=1001 DPT=80 ');
  const b = p('calico-packet: IN=a OUT=b SRC=10.0.0.1 DST=10.0.0.2 PROTO=TCP SPT=1000 DPT=443 ');
  c.add(a1, 200, 10);
  c.add(a2, 100, 10);
  c.add(a1, 300, 10);
  c.add(b, 150, 10);
  const out = c.take();
  assert.is(out.length, 2);
  const f = out.find((x) => x.dstPort === 80)!;
  assert.equal([f.count, f.firstSeenMs, f.lastSeenMs], [3, 100, 300]);
  assert.is(c.size, 0);
  // The bound: add() says "seal now" when the window holds maxFlows flows.
  assert.is(c.add(a1, 1, 2), false);
  assert.is(c.add(b, 1, 2), true);
});

test('line splitter: CRLF, split chunks, multibyte across chunks, over-long lines skipped once', () => {
  const lines: string[] = [];
  let long = 0;
  const s = new LineSplitter(
    10,
    (l) => lines.push(l),
    () => long++,
  );
  const euro = Buffer.from('€');
  s.write(Buffer.from('ab\r\ncd'));
  s.write(Buffer.concat([Buffer.from('e'), euro.subarray(0, 1)]));
  s.write(Buffer.concat([euro.subarray(1), Buffer.from('\n' + 'x'.repeat(25))]));
  s.write(Buffer.from('yyy\nok\nlast'));
  s.end();
  assert.equal(lines, ['ab', 'cde€', 'ok', 'last']);
  assert.is(long, 1);
});

test.run();
