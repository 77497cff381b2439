import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { parseDropMessage, isReject, allFields, DEFAULT_DROP_PREFIXES, type Drop } from '../agent/parse/packet-drop.js';

const real = readFileSync(new URL('./fixtures/kernel/drop-lines.txt', import.meta.url), 'utf8')
  .split('\n')
  .filter((l) => l && !l.startsWith('#'));
const prefixes = [...DEFAULT_DROP_PREFIXES, 'INPUT-DROP:'];
const ok = (line: string, p: readonly string[] = prefixes): Drop => {
  const r = parseDropMessage(line, p);
  assert.ok(r && !isReject(r), `expected a drop from: ${line}\ngot ${JSON.stringify(r)}`);
  return r as Drop;
};
const find = (needle: string) => real.find((l) => l.includes(needle))!;

test('real TCP SYN drop (IPv4)', () => {
  const d = ok(real[0]);
  assert.equal(
    { ...d, message: undefined },
    {
      prefix: 'calico-packet:',
      family: 4,
      proto: 'TCP',
      src: '10.99.0.1',
      dst: '10.99.0.2',
      srcPort: 58602,
      dstPort: 5432,
      in: 'veth-b',
      out: '',
      ttl: 64,
      message: undefined,
    },
  );
  assert.ok(d.message.startsWith('calico-packet: IN='));
});

test('UDP: the second LEN (UDP length) does not override the IP length; ports read', () => {
  const d = ok(find('DPT=53 LEN=28'));
  assert.equal([d.prefix, d.proto, d.srcPort, d.dstPort], ['calico-drop:', 'UDP', 50741, 53]);
  assert.equal(allFields(d).LEN, '48');
});

test('a prefix that starts like a field name (INPUT-DROP:) is not taken for IN=', () => {
  const d = ok(find('INPUT-DROP:'));
  assert.is(d.prefix, 'INPUT-DROP:');
  assert.is(d.in, 'veth-b');
  assert.is(d.out, '');
  assert.is(d.dstPort, 9999);
});

test('ICMP error: the embedded [SRC=... DST=...] packet does not override this packet', () => {
  const d = ok(find('TYPE=3 CODE=3'));
  assert.equal(
    [d.proto, d.src, d.dst, d.icmpType, d.icmpCode, d.dstPort],
    ['ICMP', '10.99.0.2', '10.99.0.1', 3, 3, undefined],
  );
});

test('ICMP echo: type/code, no ports, duplicate ID key', () => {
  const d = ok(find('TYPE=8 CODE=0'));
  assert.equal([d.proto, d.icmpType, d.icmpCode, d.srcPort, d.dstPort], ['ICMP', 8, 0, undefined, undefined]);
});

test('IPv6: kernel zero-padded addresses become RFC 5952 text; HOPLIMIT as ttl', () => {
  const d = ok(find('PROTO=TCP SPT=47278'));
  assert.equal([d.family, d.src, d.dst, d.ttl, d.dstPort], [6, 'fd00:99::1', 'fd00:99::2', 64, 5432]);
  const icmp = ok(find('PROTO=ICMPv6'));
  assert.equal([icmp.proto, icmp.icmpType, icmp.icmpCode], ['ICMPV6', 128, 0]);
  assert.is(ok(find('FLOWLBL=653859')).proto, 'UDP');
});

test('every real captured line parses', () => {
  assert.ok(real.length >= 10);
  for (const l of real) ok(l);
});

test('missing MAC, empty IN= (locally generated packet), SCTP ports', () => {
  const d = ok(
    'calico-packet: IN= OUT=eth0 SRC=10.0.0.1 DST=10.0.0.2 LEN=52 TOS=0x00 PREC=0x00 TTL=64 ID=1 DF PROTO=SCTP SPT=5000 DPT=6000 ',
  );
  assert.equal([d.in, d.out, d.proto, d.srcPort, d.dstPort], ['', 'eth0', 'SCTP', 5000, 6000]);
});

test('prefix anywhere in a raw syslog line; fields only after it', () => {
  const line =
    'Nov 23 13:59:01 vm kernel: [  779.047770] calico-packet: IN=cali1a2b3c4d5e6 OUT=cali6f5e4d3c2b1 SRC=10.244.0.4 DST=10.244.1.6 PROTO=TCP SPT=49468 DPT=12865 ';
  const d = ok(line);
  assert.equal([d.in, d.src, d.dstPort], ['cali1a2b3c4d5e6', '10.244.0.4', 12865]);
  assert.ok(d.message.startsWith('calico-packet:'));
});

test('prefix without a trailing space still separates from the first field', () => {
  const d = ok('DROPIN=eth0 OUT= SRC=10.0.0.1 DST=10.0.0.2 PROTO=UDP SPT=1 DPT=2', ['DROP']);
  assert.is(d.in, 'eth0');
});

test('only configured prefixes match; other kernel lines give nothing', () => {
  assert.is(parseDropMessage('cgroup: fork rejected by pids controller in /kubepods/pod1', prefixes), undefined);
  assert.is(parseDropMessage(real[0], ['other:']), undefined);
});

test('rejections: no address, bad address, bad port, binary, too long', () => {
  const rej = (l: string) => {
    const r = parseDropMessage(l, prefixes);
    assert.ok(r && isReject(r), `expected reject: ${l.slice(0, 80)}`);
    return (r as { reject: string }).reject;
  };
  assert.is(rej('calico-packet: IN=eth0 OUT= PROTO=TCP'), 'missing-address');
  assert.is(rej('calico-packet: SRC=10.0.0.300 DST=10.0.0.1 PROTO=TCP'), 'bad-address');
  assert.is(rej('calico-packet: SRC=10.0.0.3 DST=10.0.0.1 PROTO=TCP DPT=99999'), 'bad-number');
  assert.is(rej('calico-packet: SRC=10.0.0.3 DST=10.0.0.1 PROTO=TCP DPT=8\u0000'), 'binary');
  assert.is(rej('calico-packet: SRC=\uFFFD\uFFFD DST=10.0.0.1'), 'binary');
  assert.is(rej('calico-packet: ' + 'A=1 '.repeat(20000)), 'too-long');
});

test('random junk never throws', () => {
  let seed = 7;
  const rnd = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
  for (let i = 0; i < 2000; i++) {
    const parts = [
      'calico-packet:',
      'SRC=',
      'DST=',
      '10.0.0.1',
      '=',
      ' ',
      '[',
      'PROTO=',
      'DPT=',
      'fe80::1',
      'x'.repeat(Math.floor(rnd() * 5)),
    ];
    let s = '';
    for (let k = 0; k < 12; k++) s += parts[Math.floor(rnd() * parts.length)];
    parseDropMessage(s, prefixes);
  }
});

test.run();
