// Property-based attacks on every parser of node input (fast-check, bounded so CI stays fast): kernel
// drop lines, journal JSON, raw syslog, container-log lines, kubelet and OOM lines, procfs/cgroup
// files, iptables-save, crictl JSON. Each must return a result or a typed rejection — never throw —
// and what it returns must be safe for the next step (canonical IPs, in-range ports, real times).
// A failure prints its seed; NODEWARDEN_FUZZ_SEED=<seed> replays it.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { parseDropMessage, isReject, type Drop } from '../agent/parse/packet-drop.js';
import { parseInputLine, parseJournalJson, parseRawLine } from '../agent/parse/log-line.js';
import { parseContainerLine, parseTime } from '../agent/logs/cri-line.js';
import { parseOomKillLine, parseKilledProcess } from '../agent/logs/oom.js';
import { parseMirrorPodFailure } from '../agent/cri/kubelet-log.js';
import { parseSnmp, parseIpv6Routes, parseLoadavgTasks, parseStatusMemory } from '../agent/probes/proc-parse.js';
import { parsePidsCurrent, parsePidsMax, parsePidsEvents } from '../agent/probes/cgroup-pids.js';
import { parseIptablesSave } from '../agent/probes/iptables-save.js';
import { parseCrictlPods, parseCrictlPs, parseCrictlInfo, parseCrictlInspectp } from '../agent/cri/crictl-reader.js';
import { canonicalIp } from '../common/ip.js';
import { Coalescer } from '../agent/outbox/coalescer.js';
import { encodeEnvelope, decodeEnvelope } from '../proto/codec.js';
import { subjectFor } from '../common/subjects.js';

const RUNS = Number(process.env.NODEWARDEN_FUZZ_RUNS ?? 400);
const opts = {
  numRuns: RUNS,
  ...(process.env.NODEWARDEN_FUZZ_SEED ? { seed: Number(process.env.NODEWARDEN_FUZZ_SEED) } : {}),
};
const PREFIXES = ['calico-packet:', 'calico-drop:', 'INPUT-DROP:'];

/** Kernel-LOG-shaped text: real keys with random, boundary and hostile values, in random order. */
const field = fc.oneof(
  fc
    .tuple(
      fc.constantFrom('SRC', 'DST'),
      fc.oneof(
        fc.ipV4(),
        fc.ipV6(),
        fc.constantFrom('fd00:0099:0000:0000:0000:0000:0000:0001', '999.1.1.1', '', '::ffff:10.0.0.1'),
      ),
    )
    .map(([k, v]) => `${k}=${v}`),
  fc
    .tuple(
      fc.constantFrom('SPT', 'DPT', 'TTL', 'HOPLIMIT', 'TYPE', 'CODE', 'LEN', 'ID'),
      fc.oneof(fc.nat(), fc.constantFrom('-1', '65536', '99999999999999999999', '0x10', '', '1e3')),
    )
    .map(([k, v]) => `${k}=${v}`),
  fc
    .tuple(
      fc.constantFrom('PROTO', 'IN', 'OUT', 'MAC'),
      fc.oneof(fc.constantFrom('TCP', 'UDP', 'ICMP', 'ICMPv6', 'SCTP', '47', ''), fc.string({ maxLength: 20 })),
    )
    .map(([k, v]) => `${k}=${v}`),
  {
    arbitrary: fc.constantFrom(
      'SRC=10.0.0.1 DST=10.0.0.2 LEN=28 PROTO=UDP SPT=1 DPT=53',
      'SRC=fd00::1 DST=fd00::2 PROTO=TCP',
      'FRAG:1480',
    ),
    weight: 3,
  },
  fc.constantFrom('[', ']', 'DF', 'SYN', 'INCOMPLETE [65535 bytes]', '\u0000', '\uFFFD', '"'),
  fc.string({ maxLength: 12 }),
);
const dropLine = fc
  .tuple(
    fc.constantFrom('', 'Nov 23 13:59:01 vm kernel: ', '[ 123.456] ', 'x', '"'),
    fc.constantFrom(...PREFIXES, `${PREFIXES[0]} "`, 'calico-packe', ''),
    fc.array(field, { maxLength: 14 }),
  )
  .map(([head, prefix, fields]) => `${head}${prefix}${fields.join(' ')} `);

const NOW = Date.now();

/** What the agent would send for this drop: the collector's own validation must accept it whole. */
function collectorAccepts(d: Drop): void {
  const c = new Coalescer();
  c.add(d, NOW, 10);
  const env = decodeEnvelope(
    encodeEnvelope({
      node: 'node-a',
      agentId: 'abc',
      seq: 1,
      sentMs: NOW,
      agentVersion: 't',
      drops: { drops: c.take() },
    }),
    { subject: subjectFor('node-a', 'drops'), nowMs: NOW },
  );
  if (env.adjusted.droppedRecords)
    throw new Error(`collector refused the agent's drop: ${JSON.stringify(env.adjusted)}`);
}

function checkDrop(d: Drop): void {
  for (const ip of [d.src, d.dst]) if (canonicalIp(ip) !== ip) throw new Error(`non-canonical IP ${ip}`);
  if ((d.src.includes(':') ? 6 : 4) !== d.family || (d.dst.includes(':') ? 6 : 4) !== d.family)
    throw new Error(`family ${d.family} for ${d.src} -> ${d.dst}`);
  for (const p of [d.srcPort, d.dstPort])
    if (p !== undefined && !(Number.isInteger(p) && p >= 0 && p <= 65535)) throw new Error(`port ${p}`);
  for (const v of [d.icmpType, d.icmpCode, d.ttl])
    if (v !== undefined && !(Number.isInteger(v) && v >= 0 && v <= 255)) throw new Error(`icmp/ttl ${v}`);
  if (!/^[A-Z0-9]{1,16}$/.test(d.proto)) throw new Error(`proto "${d.proto}"`);
  collectorAccepts(d);
}

test('fuzz: kernel drop lines parse into safe drops or typed rejections', () => {
  let drops = 0,
    rejects = 0;
  fc.assert(
    fc.property(
      fc.oneof(
        { arbitrary: dropLine, weight: 4 },
        fc.string({ maxLength: 300 }),
        fc.string({ unit: 'grapheme', maxLength: 200 }),
      ),
      (line) => {
        const r = parseDropMessage(line, PREFIXES);
        if (r === undefined) return;
        if (isReject(r)) {
          rejects++;
          assert.type(r.reject, 'string');
          return;
        }
        drops++;
        checkDrop(r);
      },
    ),
    { ...opts, numRuns: RUNS * 5 },
  );
  // Both outcomes must be reached, or the generator proves nothing.
  assert.ok(drops > 10 && rejects > 10, `drops ${drops}, rejects ${rejects}`);
});

const saneTime = (t: number | undefined): void => {
  if (t !== undefined) new Date(t).toISOString(); // throws RangeError on an impossible time
};

test('fuzz: journal JSON and raw lines never throw and carry only real times', () => {
  const rec = fc.record(
    {
      MESSAGE: fc.oneof(
        fc.string({ maxLength: 80 }),
        fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 40 }),
        fc.constant(null),
        fc.nat(),
      ),
      __REALTIME_TIMESTAMP: fc.oneof(
        fc.constantFrom('1795442355193845', '99999999999999999999', '-5', '', '0', 'abc', '1e20'),
        fc.bigInt({ min: 0n, max: 10n ** 22n }).map(String),
        fc.nat(),
      ),
      __CURSOR: fc.oneof(fc.string({ maxLength: 20 }), fc.nat()),
    },
    { requiredKeys: [] },
  );
  fc.assert(
    fc.property(
      fc.oneof(
        rec.map((r) => JSON.stringify(r)),
        fc.json(),
        fc.string({ maxLength: 200 }),
        fc.constantFrom('Feb 30 25:61:61 vm kernel: x', '99999-12-31T00:00:00Z x', '2026-13-45T99:99:99Z x'),
      ),
      (line) => {
        for (const r of [parseInputLine(line), parseJournalJson(line, ['SYSLOG_IDENTIFIER']), parseRawLine(line)]) {
          if ('reject' in r) continue;
          saneTime(r.timeMs);
          assert.type(r.message, 'string');
        }
      },
    ),
    { ...opts, numRuns: RUNS * 3 },
  );
});

test('fuzz: container-log lines (CRI and Docker json-file) never throw; times parse or are refused', () => {
  const criLine = fc
    .tuple(
      fc.constantFrom(
        '2026-11-23T13:59:01.123456789Z',
        '2026-11-23T13:59:01Z',
        '2026-11-23T13:59:01.5+01:00',
        '9999-99-99T99:99:99Z',
        'x',
      ),
      fc.constantFrom('stdout', 'stderr', 'stdin'),
      fc.constantFrom('F', 'P', 'P:x', 'Q', ''),
      fc.string({ maxLength: 60 }),
    )
    .map((p) => p.join(' '));
  const docker = fc
    .record(
      {
        log: fc.string({ maxLength: 40 }),
        stream: fc.constantFrom('stdout', 'stderr', 'x'),
        time: fc.constantFrom('2026-11-23T13:59:01.1Z', 'nope', ''),
      },
      { requiredKeys: [] },
    )
    .map((r) => JSON.stringify(r));
  fc.assert(
    fc.property(fc.oneof(criLine, docker, fc.string({ maxLength: 120 }), fc.json()), (line) => {
      const r = parseContainerLine(line);
      if ('reject' in r) return;
      assert.type(r.content, 'string');
      assert.ok(r.contentBytes >= 0);
      const t = parseTime(r.time);
      if (!Number.isNaN(t)) saneTime(t);
    }),
    { ...opts, numRuns: RUNS * 3 },
  );
});

test('fuzz: kubelet, OOM, procfs, cgroup, iptables-save and crictl text never throw unexpectedly', () => {
  const lines = fc.oneof(
    fc.string({ maxLength: 200 }),
    fc.constantFrom(
      'Memory cgroup out of memory: Killed process 123 (stress) total-vm:1kB',
      'oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=x,mems_allowed=0,oom_memcg=/kubepods/pod1,task_memcg=/kubepods/pod1/c,task=s,pid=1,uid=0',
      '"Failed creating a mirror pod" err="pods \\"x\\" is forbidden" pod="kube-system/x"',
      'Ip: Forwarding DefaultTTL\nIp: 1',
      'Ip: Forwarding\nIp: 1 2 3',
      'max',
      '12abc',
      'max 5',
      '-1',
      '*filter\n:INPUT DROP [5:300]\n[1:2] -A INPUT -j DROP\nCOMMIT',
      '[99999999999999999999:1] -A X -p 999 -j DROP',
    ),
  );
  fc.assert(
    fc.property(lines, (text) => {
      parseOomKillLine(text);
      parseKilledProcess(text);
      parseMirrorPodFailure(text);
      parseSnmp(text);
      parseIpv6Routes(text);
      parseLoadavgTasks(text);
      parseStatusMemory(text);
      parsePidsCurrent(text);
      parsePidsMax(text);
      parsePidsEvents(text);
      parseIptablesSave(text);
    }),
    { ...opts, numRuns: RUNS * 3 },
  );
  // crictl prints JSON; anything else (a crictl of another version, a truncated pipe) is an Error the reader reports.
  fc.assert(
    fc.property(
      fc.oneof(
        fc.json(),
        fc.string({ maxLength: 80 }),
        fc.constantFrom(
          '{"items":[{"id":1}]}',
          '{"containers":[null]}',
          '{"status":{"conditions":[{}]}}',
          '{"info":{}}',
        ),
      ),
      (text) => {
        for (const f of [parseCrictlPods, parseCrictlPs, parseCrictlInfo, parseCrictlInspectp]) {
          try {
            f(text);
          } catch (err) {
            if (!(err instanceof Error)) throw err;
            if (err instanceof TypeError || err instanceof RangeError) throw err; // a bug, not a refusal
          }
        }
      },
    ),
    opts,
  );
});

test.run();
