// Pure parts of the container-log signatures: CRI/Docker lines, partial merging, line splitting,
// pod identity from paths, literal extraction, kernel OOM lines, built-in signatures on real log text.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { LineAssembler, MAX_MERGED_BYTES } from '../agent/logs/assembler.js';
import { BUILTIN_RULES } from '../agent/logs/builtin-rules.js';
import { parseContainerLine, parseCriLine, parseDockerJsonLine, type PhysicalLine } from '../agent/logs/cri-line.js';
import { OffsetLineSplitter, MAX_PHYSICAL_LINE } from '../agent/logs/offset-lines.js';
import { requiredLiterals } from '../agent/logs/literals.js';
import { RuleSet, type RuleMatch } from '../agent/logs/matcher.js';
import { OomJoiner, parseOomKillLine, podFromMemcg } from '../agent/logs/oom.js';
import { metaFromLinkName, podMeta } from '../agent/logs/pod-path.js';
import { compileRules } from '../agent/logs/rules.js';
import { isRotatedName } from '../agent/logs/rotation.js';

const ok = (l: ReturnType<typeof parseCriLine>): PhysicalLine => {
  if ('reject' in l) throw new Error(`rejected: ${l.detail}`);
  return l;
};

test('CRI lines as containerd (trimmed fraction) and CRI-O (9 digits, offset) write them', () => {
  const a = ok(parseCriLine('2026-11-23T14:21:46.84140233Z stdout F app line 1 host=web-0'));
  assert.equal(
    [a.time, a.stream, a.partial, a.content],
    ['2026-11-23T14:21:46.84140233Z', 'stdout', false, 'app line 1 host=web-0'],
  );
  const b = ok(parseCriLine('2026-08-22T07:58:21.223456780+02:00 stderr P {"level":"error"'));
  assert.equal([b.stream, b.partial, b.content], ['stderr', true, '{"level":"error"']);
  assert.equal(ok(parseCriLine('2026-08-22T07:58:21Z stdout F')).content, '', 'empty line without trailing space');
  assert.equal(ok(parseCriLine('2026-08-22T07:58:21Z stdout F ')).content, '');
  assert.equal(
    ok(parseCriLine('2026-08-22T07:58:21.1Z stdout F:x a  b ')).content,
    'a  b ',
    'future tags after ":"; content keeps spaces',
  );
  const multi = ok(
    parseCriLine('2026-08-22T07:58:21.1Z stdout F héllo', Buffer.byteLength('2026-08-22T07:58:21.1Z stdout F héllo')),
  );
  assert.is(multi.contentBytes, 6);
});

test('malformed and binary CRI lines are rejected with a reason', () => {
  for (const bad of [
    '',
    'hello world',
    '2026-08-22 07:58:21 stdout F x',
    '2026-08-22T07:58:21Z stdin F x',
    '2026-08-22T07:58:21Z stdout X x',
    '2026-08-22T07:58:21Z stdout',
    '2026-13-22T07:58:21Zstdout F x',
  ]) {
    const r = parseCriLine(bad);
    assert.ok('reject' in r, bad);
    assert.is((r as { reject: string }).reject, 'malformed', bad);
  }
  const junk = parseContainerLine('\u0000\u0001\u0002PNG\ufffd\ufffd');
  assert.is((junk as { reject: string }).reject, 'binary');
});

test('Docker json-file lines (fallback format), split pieces are partial', () => {
  const a = parseDockerJsonLine('{"log":"content 1\\n","stream":"stdout","time":"2016-10-20T18:39:20.57606443Z"}');
  assert.equal(a, {
    format: 'docker',
    time: '2016-10-20T18:39:20.57606443Z',
    stream: 'stdout',
    partial: false,
    content: 'content 1',
    contentBytes: 9,
  });
  const p = parseContainerLine('{"log":"first half","stream":"stderr","time":"2016-10-20T18:39:20Z"}') as PhysicalLine;
  assert.is(p.partial, true);
  assert.ok('reject' in parseContainerLine('{"log":1}'));
  assert.ok('reject' in parseContainerLine('{"log":"x\\n","stream":"stdout"'));
});

test('P fragments merge per stream; the merged line is capped and the cut is flagged', () => {
  const asm = new LineAssembler();
  const frag = (stream: 'stdout' | 'stderr', partial: boolean, content: string): PhysicalLine => ({
    format: 'cri',
    time: 't',
    stream,
    partial,
    content,
    contentBytes: Buffer.byteLength(content),
  });
  assert.is(asm.push(frag('stdout', true, 'a1 '), 0), undefined);
  assert.is(asm.push(frag('stderr', true, 'b1 '), 10), undefined);
  assert.is(asm.pendingStart(), 0);
  assert.equal(asm.push(frag('stderr', false, 'b2'), 20), {
    format: 'cri',
    time: 't',
    stream: 'stderr',
    content: 'b1 b2',
    cut: false,
  });
  assert.equal(asm.push(frag('stdout', false, 'a2'), 30)?.content, 'a1 a2');
  assert.is(asm.pendingStart(), undefined);
  const big = 'x'.repeat(16384);
  for (let i = 0; i < 10; i++) assert.is(asm.push(frag('stdout', true, big), i), undefined);
  const merged = asm.push(frag('stdout', false, 'tail'), 99)!;
  assert.is(merged.cut, true);
  assert.is(merged.content.length, MAX_MERGED_BYTES);
});

test('line splitter: lines across chunk borders keep exact offsets; an endless line stays bounded', () => {
  const sp = new OffsetLineSplitter();
  const got: [string, number, number, boolean][] = [];
  const on = (b: Buffer, s: number, e: number, o: boolean) => got.push([b.toString(), s, e, o]);
  const data = Buffer.from('one\ntwo-long\nthree\n');
  sp.push(data.subarray(0, 6), 6, 0, on);
  assert.is(sp.pendingStart(), 4);
  sp.push(data.subarray(6), data.length - 6, 6, on);
  assert.equal(got, [
    ['one', 0, 4, false],
    ['two-long', 4, 13, false],
    ['three', 13, 19, false],
  ]);
  got.length = 0;
  const chunk = Buffer.alloc(1024 * 1024, 0x41);
  for (let i = 0; i < 10; i++) sp.push(chunk, chunk.length, 19 + i * chunk.length, on);
  assert.ok(sp.carried() <= MAX_PHYSICAL_LINE, 'carry bounded');
  sp.push(Buffer.from('\nok\n'), 4, 19 + 10 * chunk.length, on);
  assert.is(got.length, 2);
  assert.equal([got[0][1], got[0][3], got[0][0].length], [19, true, MAX_PHYSICAL_LINE]);
  assert.equal(got[1].slice(0, 2), ['ok', 19 + 10 * chunk.length + 1]);
});

test('pod identity from kubelet paths; the /var/log/pods path wins over a cut symlink name', () => {
  const id = 'a'.repeat(64);
  assert.equal(metaFromLinkName(`/var/log/containers/etcd-node1_kube-system_etcd-${id}.log`), {
    namespace: 'kube-system',
    name: 'etcd-node1',
    container: 'etcd',
    containerId: id,
  });
  const m = podMeta(
    '/var/log/containers/web-0_default_app-1234567890ab.log',
    '/var/log/pods/default_web-0_7b1d2c3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e/app/0.log',
  );
  assert.equal(m, {
    namespace: 'default',
    name: 'web-0',
    uid: '7b1d2c3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e',
    container: 'app',
    containerId: '1234567890ab',
  });
  // kubelet cuts the symlink name at 255 bytes: the container name itself may be cut.
  const cut = podMeta(
    '/var/log/containers/p_ns_very-long-contai.log',
    '/var/log/pods/ns_p_u-1/very-long-container-name/2.log',
  );
  assert.is(cut.container, 'very-long-container-name');
  assert.ok(isRotatedName('0.log', '0.log.20260822-075821'));
  assert.not.ok(isRotatedName('0.log', '0.log.20260822-075821.gz'));
  assert.not.ok(isRotatedName('0.log', '0.log.20260822-075821.tmp'));
});

test('required literals are conservative', () => {
  assert.equal(requiredLiterals('failed calling webhook \\\\?"([^"\\\\]+)', false), ['failed calling webhook ']);
  assert.equal(requiredLiterals('alarm NOSPACE raised by peer ([0-9a-f]+)', false), ['alarm NOSPACE raised by peer ']);
  assert.equal(requiredLiterals('connection refused|dial tcp', false), ['connection refused', 'dial tcp']);
  assert.equal(requiredLiterals('Timeout', true), ['timeout']);
  assert.is(requiredLiterals('a|bcdef', false), null, 'an alternative without a literal disables the pre-filter');
  assert.is(requiredLiterals('(foo|bar)baz?', false), null, '"ba" is too short');
  assert.equal(
    requiredLiterals('colou?r error', false),
    ['r error'],
    'the quantified "u" is not required; "colo" is shorter',
  );
});

// Exact kernel lines from a real OOM kill (shared/reference/oom-and-cri-pods.md).
const OOM_KILL =
  'oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,oom_memcg=/kubepods/burstable/pod3a5c1e2f-9d8b-4c7a-8e6f-5b4a3c2d1e0f/e2e3a615add1a7ba47f5e5b1747c8abf8c299bc8c048f9c71ae8ae429f8961a0,task_memcg=/kubepods/burstable/pod3a5c1e2f-9d8b-4c7a-8e6f-5b4a3c2d1e0f/e2e3a615add1a7ba47f5e5b1747c8abf8c299bc8c048f9c71ae8ae429f8961a0,task=python3,pid=21876,uid=0';
const KILLED =
  'Memory cgroup out of memory: Killed process 21876 (python3) total-vm:37060kB, anon-rss:27264kB, file-rss:6620kB, shmem-rss:0kB, UID:0 pgtables:120kB oom_score_adj:0';

test('OOM: the oom-kill line (uid) and the Killed process line (pid) are joined', () => {
  const j = new OomJoiner();
  assert.is(
    j.push({ message: 'python3 invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=0' }, 0),
    undefined,
  );
  assert.is(j.push({ message: OOM_KILL }, 1), undefined);
  const kill = j.push({ message: KILLED, timeMs: 5 }, 2)!;
  assert.equal(
    [kill.pid, kill.comm, kill.podUid, kill.containerId, kill.constraint],
    [
      21876,
      'python3',
      '3a5c1e2f-9d8b-4c7a-8e6f-5b4a3c2d1e0f',
      'e2e3a615add1a7ba47f5e5b1747c8abf8c299bc8c048f9c71ae8ae429f8961a0',
      'CONSTRAINT_MEMCG',
    ],
  );
  assert.is(kill.oomKillLine, OOM_KILL);
  // Another pid's Killed line is not attributed to this pod.
  const other = j.push({ message: 'Out of memory: Killed process 99 (java) total-vm:1kB' }, 3)!;
  assert.equal([other.pid, other.podUid], [99, undefined]);
  assert.equal(
    parseOomKillLine(
      'oom-kill:constraint=CONSTRAINT_NONE,nodemask=(null),cpuset=/,mems_allowed=0,2,oom_memcg=/,task_memcg=/x,task=a,pid=7,uid=0',
    )?.taskMemcg,
    '/x',
  );
});

test('OOM: pod uid from systemd-driver, static-pod and pod-level memcg paths; old kernels', () => {
  assert.equal(
    podFromMemcg(
      '/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod3a5c1e2f_9d8b_4c7a_8e6f_5b4a3c2d1e0f.slice/cri-containerd-e2e3a615add1a7ba47f5e5b1747c8abf8c299bc8c048f9c71ae8ae429f8961a0.scope',
    ),
    {
      podUid: '3a5c1e2f-9d8b-4c7a-8e6f-5b4a3c2d1e0f',
      containerId: 'e2e3a615add1a7ba47f5e5b1747c8abf8c299bc8c048f9c71ae8ae429f8961a0',
    },
  );
  assert.equal(podFromMemcg('/kubepods/pod6f4c1b3f0f3b4e9a8f6d5c4b3a291807/abc'), {
    podUid: '6f4c1b3f0f3b4e9a8f6d5c4b3a291807',
  });
  assert.equal(podFromMemcg('/kubepods/burstable/pod3a5c1e2f-9d8b-4c7a-8e6f-5b4a3c2d1e0f'), {
    podUid: '3a5c1e2f-9d8b-4c7a-8e6f-5b4a3c2d1e0f',
  });
  assert.equal(podFromMemcg('/system.slice/kubelet.service'), {});
  const j = new OomJoiner();
  j.push(
    {
      message:
        'Task in /kubepods/burstable/pod3a5c1e2f-9d8b-4c7a-8e6f-5b4a3c2d1e0f/0123456789abcdef killed as a result of limit of /kubepods/burstable/pod3a5c1e2f-9d8b-4c7a-8e6f-5b4a3c2d1e0f',
    },
    0,
  );
  assert.is(
    j.push({ message: 'Killed process 42 (app) total-vm:1kB' }, 1)?.podUid,
    '3a5c1e2f-9d8b-4c7a-8e6f-5b4a3c2d1e0f',
  );
});

const rules = new RuleSet(compileRules(BUILTIN_RULES, 'built-in rules'));
const kinds = (line: string): string[] => {
  const out: RuleMatch[] = [];
  rules.forPod({ namespace: 'kube-system', name: 'x', container: 'c' }).match(line, out);
  return [...new Set(out.map((m) => m.rule.kind))];
};

test('built-in signatures on real log text, and not on look-alikes', () => {
  // etcd 3.4.23, zap and capnslog (node-lab-feasibility.md section 7)
  assert.equal(
    kinds(
      '{"level":"warn","ts":"2026-11-23T14:01:52.128Z","caller":"etcdserver/apply.go:636","msg":"alarm raised","alarm":"NOSPACE","from":"2e1259d415f2a040"}',
    ),
    ['EtcdNoSpace'],
  );
  assert.equal(kinds('2026-11-23 14:01:41.609259 W | etcdserver: alarm NOSPACE raised by peer 2e1259d415f2a040'), [
    'EtcdNoSpace',
  ]);
  assert.equal(kinds('Error: etcdserver: mvcc: database space exceeded'), ['EtcdNoSpace']);
  assert.equal(
    kinds('{"level":"info","msg":"enabled backend quota","quota-name":"v3-applier","quota-size-bytes":1048576}'),
    [],
  );
  assert.equal(
    kinds(
      'E1123 14:01:41.609 1 status.go:71] apiserver received an error that is not an metav1.Status: rpctypes.EtcdError{code:0x8, desc:"etcdserver: mvcc: database space exceeded"}',
    ),
    ['EtcdNoSpace'],
  );
  assert.equal(
    kinds(
      'W1123 reflector.go:424] failed to list *v1.Pod: the server has received too many requests and has asked us to try again later (get pods)',
    ),
    ['APIServerThrottling'],
  );
  assert.equal(kinds('I1123 httplog.go:132] "HTTP" verb="LIST" URI="/api/v1/pods" latency="1.2ms" resp=429'), [
    'APIServerThrottling',
  ]);
  assert.equal(
    kinds('E1123 leaderelection.go:330] error retrieving resource lock: rate: Wait(n=1) would exceed context deadline'),
    ['APIServerThrottling'],
  );
  assert.equal(kinds('{"status":429,"error":"Too Many Requests"}'), ['APIServerThrottling']);
  assert.equal(kinds('GET /healthz took 1429ms status=200'), []);
  assert.equal(
    kinds(
      'E1123 dispatcher.go:184] failed calling webhook "validate.kyverno.svc-fail": failed to call webhook: Post "https://kyverno-svc.kyverno.svc:443/validate": dial tcp 10.96.0.12:443: connect: connection refused',
    ),
    ['WebhookCallFailed'],
  );
  const json =
    '{"level":"error","msg":"Reconciler error","error":"Internal error occurred: failed calling webhook \\"mpod.elbv2.k8s.aws\\": failed to call webhook"}';
  const out: RuleMatch[] = [];
  rules.forPod({}).match(json, out);
  assert.is(out[0]?.m[1], 'mpod.elbv2.k8s.aws', 'webhook name captured inside an escaped JSON string');
});

test.run();
