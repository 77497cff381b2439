// A real one-node Kubernetes cluster for tests, inside a network namespace of its own: etcd,
// kube-apiserver, kube-controller-manager, kube-scheduler, kube-proxy (iptables mode) and a kubelet
// (built from tools/k8s-testbins, like kube.ts), Debian's containerd + runc with its own socket,
// state and root under a temp dir, and Debian's CNI plugins (bridge + host-local + portmap,
// loopback) with their own conf and data dirs. Plus a private systemd-journald (the default
// instance, which reads the kernel log) whose journal directory the agent pod mounts.
//
// It is built not to take the machine over:
//  - network: everything listens in the node namespace (loopback or its pod bridge nwk0); the
//    host's interfaces, routes and iptables are untouched (kube-proxy's and the test's rules live
//    in the namespace and go with it);
//  - cgroups: the kubelet's own cgroup root (/nwk-<id>, cgroupfs driver, as containerd here),
//    failCgroupV1: false on v1 hosts; no eviction (evictionHard {}), no image GC;
//  - files: kubelet root, pod logs, volume plugins, containerd root/state, CNI conf/data and the
//    journal all live under the temp dir; what the kubelet must put on the host (/var/log/containers
//    symlinks) and the agent's hostPath state dir are removed at the end if this run created them;
//  - global kernel knobs the kubelet sets at start (vm.overcommit_memory, kernel.panic, ...) and
//    nf_log_all_netns (LOG lines from a namespace) are written back.
// stop() deletes the pods through the API, stops everything by PID, kills leftover shims by PID,
// unmounts what is mounted under the temp dir, deletes the namespace, removes the cgroups and dirs.
// What it put on the host is saved as it goes (a footprint under /run/nodewarden-test), so a run
// killed with SIGKILL (no stop(), its children orphaned) is cleaned up by the next start.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import {
  closeSync,
  existsSync,
  lstatSync,
  openSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmdirSync,
  rmSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { containerdConfig } from './containerd-config.js';
import { ensureKubeBins, type KubectlResult } from './kube.js';
import { sleep, waitFor } from './wait.js';

export const NODE_IP = '10.244.77.1';
export const POD_CIDR = '10.244.77.0/24';
export const SERVICE_CIDR = '10.96.0.0/24';
const BRIDGE = 'nwk0';
const API_PORT = 6443;
const CNI_DIR = '/usr/lib/cni';
const NF_LOG_ALL_NETNS = '/proc/sys/net/netfilter/nf_log_all_netns';
/** Knobs the kubelet's container manager writes at start (setupKernelTunables): restored by stop(). */
const KUBELET_SYSCTLS = [
  'vm/overcommit_memory',
  'vm/panic_on_oom',
  'kernel/panic',
  'kernel/panic_on_oops',
  'kernel/keys/root_maxkeys',
  'kernel/keys/root_maxbytes',
];

export interface NodeCluster {
  dir: string;
  netns: string;
  nodeName: string;
  /** The private journald's journal directory (holds <machine-id>/system.journal), mounted at /run/log/journal. */
  journalDir: string;
  /** cgroup root of the kubelet, e.g. /nwk-1234 */
  cgroupRoot: string;
  binDir: string;
  kubectl(args: string[], opts?: { input?: string; timeoutMs?: number }): Promise<KubectlResult>;
  /** kubectl that throws on a non-zero exit and returns stdout. */
  mustKubectl(args: string[], input?: string, timeoutMs?: number): Promise<string>;
  /** Runs a command in the node's network namespace (iptables, ip ...). */
  nodeExec(cmd: string, args: string[]): string;
  /** `ctr -n k8s.io images import` into this cluster's containerd. */
  importImage(archive: string): string;
  /** ctr against this cluster's containerd, namespace k8s.io (the CRI's). */
  ctr(args: string[]): string;
  /** Component logs, for failure messages. */
  logTail(component: string, lines?: number): string;
  stop(): Promise<void>;
}

/** What this machine lacks for a node cluster, or undefined when everything is there. */
export function missingPrerequisites(): string | undefined {
  if (process.getuid?.() !== 0) return 'not root';
  const need = [
    '/usr/bin/containerd',
    '/usr/sbin/runc',
    '/usr/bin/ctr',
    `${CNI_DIR}/bridge`,
    `${CNI_DIR}/host-local`,
    `${CNI_DIR}/portmap`,
    `${CNI_DIR}/loopback`,
    '/lib/systemd/systemd-journald',
    '/usr/bin/nsenter',
    '/usr/sbin/iptables',
  ];
  const missing = need.filter((f) => !existsSync(f));
  if (missing.length)
    return `missing ${missing.join(', ')} (scripts/ensure-deps.mjs installs containerd, runc, containernetworking-plugins, systemd, iptables)`;
  if (!existsSync(NF_LOG_ALL_NETNS)) return `${NF_LOG_ALL_NETNS} missing: no netfilter LOG for namespaces`;
  if (!existsSync('/etc/machine-id')) return '/etc/machine-id missing (journalctl and the agent need it)';
  return undefined;
}

const sh = (cmd: string, args: string[], timeout = 30_000) =>
  execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], timeout }).toString();
const tryDo = (f: () => unknown) => {
  try {
    f();
  } catch {
    /* best effort: already gone */
  }
};

/** What a node cluster put on the host: saved as it goes, removed by stop() or by the next start. */
export interface Footprint {
  /** The test process that made it. */
  owner: number;
  dir: string;
  netns: string;
  cgroupRoot: string;
  hierarchies: string[];
  /** Host mount points it mounted on. */
  hostMounts: string[];
  /** Host paths it created (removed deepest first; the agent's state dir with its files, others when empty). */
  created: string[];
  sysctlsBefore: [string, string][];
  /** Its processes, with the command each was started as (a reused PID runs something else). */
  children: { pid: number; cmd: string }[];
}
const FOOTPRINT_DIR = '/run/nodewarden-test';
const footprintFile = (fp: Footprint) => join(FOOTPRINT_DIR, `node-cluster-${fp.owner}.json`);
const saveFootprint = (fp: Footprint) => {
  mkdirSync(FOOTPRINT_DIR, { recursive: true });
  writeFileSync(footprintFile(fp), JSON.stringify(fp));
};
const pidAlive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};
const cmdlineOf = (pid: number | string) => {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return '';
  }
};

/** Cleans up after node clusters whose test process died without stop(); returns how many. */
export async function sweepLeftovers(): Promise<number> {
  if (!existsSync(FOOTPRINT_DIR)) return 0;
  let n = 0;
  for (const f of readdirSync(FOOTPRINT_DIR).filter((x) => /^node-cluster-\d+\.json$/.test(x))) {
    let fp: Footprint;
    try {
      fp = JSON.parse(readFileSync(join(FOOTPRINT_DIR, f), 'utf8')) as Footprint;
    } catch {
      continue;
    }
    if (pidAlive(fp.owner)) continue;
    for (const c of [...fp.children].reverse())
      if (cmdlineOf(c.pid).startsWith(c.cmd)) tryDo(() => process.kill(c.pid, 'SIGKILL'));
    await sleep(500);
    await clearHost(fp);
    rmSync(join(FOOTPRINT_DIR, f), { force: true });
    n++;
  }
  return n;
}

/** Everything but the processes started by PID (stop() ends those gracefully, the sweep by SIGKILL). */
async function clearHost(fp: Footprint): Promise<void> {
  // 3. containerd shims (and their containers) left behind: found by our socket path
  for (const pid of readdirSync('/proc').filter((x) => /^\d+$/.test(x))) {
    const cmdline = cmdlineOf(pid);
    if (cmdline.startsWith('/usr/bin/containerd-shim') && cmdline.includes(join(fp.dir, 'containerd')))
      tryDo(() => process.kill(Number(pid), 'SIGKILL'));
  }
  await sleep(500);
  // 4. mounts under the temp dir (volumes, rootfs, shm, netns), deepest first
  const mounts = () =>
    readFileSync('/proc/mounts', 'utf8')
      .split('\n')
      .map((l) => l.split(' ')[1]?.replace(/\\040/g, ' '))
      .filter((m) => m?.startsWith(`${fp.dir}/`))
      .reverse();
  for (let i = 0; i < 3 && mounts().length; i++)
    for (const m of mounts()) tryDo(() => sh('umount', [i ? '-l' : '', m].filter(Boolean)));
  for (const m of fp.hostMounts) tryDo(() => sh('umount', [m]));
  // 5. the node namespace (bridge, veths, kube-proxy's and the test's iptables rules go with it)
  if (existsSync(`/run/netns/${fp.netns}`)) tryDo(() => sh('ip', ['netns', 'del', fp.netns]));
  // 6. cgroups of the kubelet's root, deepest first (every controller hierarchy)
  for (const h of fp.hierarchies) {
    const top = join(h, fp.cgroupRoot);
    if (!existsSync(top)) continue;
    const dirs: string[] = [];
    const walk = (d: string) => {
      dirs.push(d);
      for (const e of readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) walk(join(d, e.name));
    };
    tryDo(() => walk(top));
    // processes still in them are containers of this cluster whose shim is gone: by PID
    for (const d of dirs)
      tryDo(() => {
        for (const pid of readFileSync(join(d, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean))
          tryDo(() => process.kill(Number(pid), 'SIGKILL'));
      });
    for (const d of dirs.reverse())
      for (let i = 0; i < 20; i++) {
        try {
          rmdirSync(d);
          break;
        } catch {
          await sleep(100);
        }
      }
  }
  // 7. knobs back, host paths this run created, the temp dir
  for (const [k, v] of fp.sysctlsBefore) tryDo(() => writeFileSync(k, v));
  if (existsSync('/var/log/containers'))
    for (const f of readdirSync('/var/log/containers')) {
      const l = join('/var/log/containers', f);
      tryDo(() => {
        if (lstatSync(l).isSymbolicLink() && readlinkSync(l).startsWith(fp.dir)) unlinkSync(l);
      });
    }
  // deepest first; the agent's state dir with its files, the others only when empty
  for (const d of [...fp.created].reverse())
    tryDo(() => (d === '/var/lib/nodewarden' ? rmSync(d, { recursive: true, force: true }) : rmdirSync(d)));
  if (!process.env.NODEWARDEN_KEEP_NODE_DIR) rmSync(fp.dir, { recursive: true, force: true });
}

export async function startNodeCluster(opts: { readyTimeoutMs?: number } = {}): Promise<NodeCluster> {
  const readyMs = opts.readyTimeoutMs ?? 120_000;
  const binDir = await ensureKubeBins();
  const swept = await sweepLeftovers();
  if (swept) console.log(`node-cluster: removed what ${swept} earlier run(s) killed without cleanup left on the host`);
  const id = `${process.pid % 100000}`;
  const netns = `nwk${id}`;
  const nodeName = `nwk-node-${id}`;
  const cgroupRoot = `/nwk-${id}`;
  const dir = mkdtempSync(join(tmpdir(), 'nw-node-'));
  const p = (...s: string[]) => join(dir, ...s);
  for (const d of [
    'pki',
    'etcd',
    'logs',
    'kubelet',
    'pods',
    'containerd/root',
    'containerd/state',
    'containerd/opt',
    'cni/conf',
    'cni/data',
    'volume-plugins',
    'journal',
    'jsock',
  ])
    mkdirSync(p(d), { recursive: true });

  const children: { name: string; child: ChildProcess }[] = [];
  const hierarchies = existsSync('/sys/fs/cgroup/cgroup.controllers')
    ? ['/sys/fs/cgroup']
    : readdirSync('/sys/fs/cgroup').map((h) => join('/sys/fs/cgroup', h));
  const fp: Footprint = {
    owner: process.pid,
    dir,
    netns,
    cgroupRoot,
    hierarchies,
    hostMounts: [],
    created: [],
    sysctlsBefore: [...KUBELET_SYSCTLS.map((s) => `/proc/sys/${s}`), NF_LOG_ALL_NETNS]
      .filter((k) => existsSync(k))
      .map((k) => [k, readFileSync(k, 'utf8').trim()]),
    children: [],
  };
  const created = fp.created;
  for (const d of [
    '/var/log/containers',
    '/var/lib/nodewarden',
    '/run/systemd/journal',
    '/run/log/journal',
    '/var/log/journal',
  ]) {
    const missing: string[] = [];
    for (let x = d; x !== '/' && !existsSync(x); x = dirname(x)) missing.unshift(x);
    for (const m of missing) if (!created.includes(m)) created.push(m);
  }
  saveFootprint(fp);
  const logTail = (name: string, lines = 30) => {
    try {
      return readFileSync(p('logs', `${name}.log`), 'utf8')
        .split('\n')
        .slice(-lines)
        .join('\n');
    } catch {
      return '(no log)';
    }
  };

  const inNode = (argv: string[]): [string, string[]] => ['nsenter', [`--net=/run/netns/${netns}`, '--', ...argv]];
  const start = (name: string, argv: string[], spawnIn: 'node' | 'host' = 'node') => {
    const [cmd, args] = spawnIn === 'node' ? inNode(argv) : [argv[0], argv.slice(1)];
    const out = p('logs', `${name}.log`);
    writeFileSync(out, `==== ${argv.join(' ')}\n`);
    const fd = openSync(out, 'a');
    const child = spawn(cmd, args, { stdio: ['ignore', fd, fd], cwd: dir });
    closeSync(fd); // the child has its own copy
    children.push({ name, child });
    if (child.pid) {
      fp.children.push({ pid: child.pid, cmd });
      saveFootprint(fp);
    }
    return child;
  };
  const kubeconfig = p('admin.kubeconfig');
  const kubectl: NodeCluster['kubectl'] = (args, o = {}) =>
    new Promise((resolve) => {
      const [cmd, argv] = inNode([join(binDir, 'kubectl'), '--kubeconfig', kubeconfig, ...args]);
      const c = spawn(cmd, argv, { stdio: ['pipe', 'pipe', 'pipe'] });
      let stdout = '',
        stderr = '';
      c.stdout.on('data', (d: Buffer) => (stdout += d));
      c.stderr.on('data', (d: Buffer) => (stderr += d));
      const t = setTimeout(() => c.kill('SIGKILL'), o.timeoutMs ?? 60_000);
      c.on('close', (code) => {
        clearTimeout(t);
        resolve({ code: code ?? 124, stdout, stderr });
      });
      c.stdin.on('error', () => undefined);
      c.stdin.end(o.input ?? '');
    });
  const mustKubectl: NodeCluster['mustKubectl'] = async (args, input, timeoutMs) => {
    const r = await kubectl(args, { input, timeoutMs });
    if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} exited ${r.code}: ${r.stderr}${r.stdout}`);
    return r.stdout;
  };
  const nodeExec = (cmd: string, args: string[]) => sh('nsenter', [`--net=/run/netns/${netns}`, '--', cmd, ...args]);
  const ctr = (args: string[]) =>
    sh('ctr', ['--address', p('containerd', 'containerd.sock'), '-n', 'k8s.io', ...args], 120_000);

  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    // 1. pods first, through the API, so the kubelet stops their containers and unmounts volumes
    const alive = (name: string) =>
      children.some((c) => c.name === name && c.child.exitCode === null && c.child.signalCode === null);
    if (alive('kube-apiserver') && alive('kubelet')) {
      const nss = (await kubectl(['get', 'ns', '-o', 'jsonpath={.items[*].metadata.name}'])).stdout
        .split(/\s+/)
        .filter((n) => n && !['default', 'kube-system', 'kube-public', 'kube-node-lease'].includes(n));
      if (nss.length) await kubectl(['delete', 'ns', '--wait=false', ...nss]);
      await kubectl(['delete', 'pods', '--all', '--all-namespaces', '--grace-period=5', '--wait=false']);
      await waitFor(
        'pods gone',
        async () => (await kubectl(['get', 'pods', '-A', '-o', 'name'])).stdout.trim() === '',
        90_000,
        1000,
      ).catch(() => undefined);
    }
    // 2. every process by PID, in reverse start order
    for (const { child } of children.reverse()) {
      if (child.exitCode !== null || child.signalCode !== null) continue;
      child.kill('SIGTERM');
      const gone = await Promise.race([
        new Promise((r) => child.once('exit', () => r(true))),
        sleep(10_000).then(() => false),
      ]);
      if (!gone) child.kill('SIGKILL');
    }
    await clearHost(fp);
    rmSync(footprintFile(fp), { force: true });
  };
  process.once('exit', () => {
    for (const { child } of children) tryDo(() => child.kill('SIGKILL'));
  });

  try {
    // --- network namespace with the pod bridge (the apiserver and kubelet listen on its address)
    sh('ip', ['netns', 'add', netns]);
    nodeExec('ip', ['link', 'set', 'lo', 'up']);
    nodeExec('ip', ['link', 'add', BRIDGE, 'type', 'bridge']);
    nodeExec('ip', ['addr', 'add', `${NODE_IP}/24`, 'dev', BRIDGE]);
    nodeExec('ip', ['link', 'set', BRIDGE, 'up']);
    // Service IPs are DNATed by kube-proxy in OUTPUT/PREROUTING, after routing: they need a route.
    nodeExec('ip', ['route', 'add', SERVICE_CIDR, 'dev', BRIDGE, 'src', NODE_IP]);
    nodeExec('sysctl', ['-qw', 'net.ipv4.ip_forward=1', 'net.bridge.bridge-nf-call-iptables=1']);
    writeFileSync(NF_LOG_ALL_NETNS, '1'); // LOG in a non-init netns prints nothing otherwise

    // --- the node's journald: no systemd-journald runs here, so a private one (the default
    // instance, which reads /dev/kmsg) in its own mount namespace, its files under dir/journal. That
    // dir is bind-mounted at the host's /run/log/journal (the volatile journal's place, absent on
    // this machine), which the agent's manifest mounts: the agent reads "the host's journal".
    for (const d of ['/run/systemd/journal', '/run/log/journal', '/var/log/journal']) mkdirSync(d, { recursive: true });
    if (
      readFileSync('/proc/mounts', 'utf8')
        .split('\n')
        .some((l) => l.split(' ')[1] === '/run/log/journal')
    )
      throw new Error('/run/log/journal is already a mount point (a journald of the machine, or another node cluster)');
    fp.hostMounts.push('/run/log/journal');
    saveFootprint(fp); // before the mount: a kill in between leaves an umount that fails, not a mount
    sh('mount', ['--bind', p('journal'), '/run/log/journal']);
    start(
      'journald',
      [
        'unshare',
        '-m',
        '--propagation',
        'private',
        'sh',
        '-c',
        `mount --bind '${p('jsock')}' /run/systemd/journal && mount --bind '${p('journal')}' /var/log/journal && exec /lib/systemd/systemd-journald`,
      ],
      'host',
    );
    const machineId = readFileSync('/etc/machine-id', 'utf8').trim();
    await waitFor('private journald', () => existsSync(p('journal', machineId, 'system.journal')), 15_000, 100);

    // --- the kubelet's cgroup root: it must exist in every hierarchy before the kubelet starts (v1;
    // on v2 one dir), with the cpuset copied down so that tasks can join it
    for (const h of hierarchies) {
      mkdirSync(join(h, cgroupRoot), { recursive: true });
      for (const f of ['cpuset.cpus', 'cpuset.mems'])
        if (existsSync(join(h, f))) writeFileSync(join(h, cgroupRoot, f), readFileSync(join(h, f), 'utf8'));
    }

    // --- credentials: static tokens (admin in system:masters for every component: one node, one test)
    const adminToken = randomBytes(24).toString('hex');
    writeFileSync(p('pki', 'tokens.csv'), `${adminToken},admin,uid-admin,system:masters\n`, { mode: 0o600 });
    writeFileSync(
      p('pki', 'sa.key'),
      generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs1', format: 'pem' }),
      { mode: 0o600 },
    );
    const apiUrl = `https://${NODE_IP}:${API_PORT}`;
    const caFile = p('pki', 'apiserver.crt');
    writeFileSync(
      kubeconfig,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        'current-context': 'nwk',
        clusters: [{ name: 'nwk', cluster: { server: apiUrl, 'certificate-authority': caFile } }],
        users: [{ name: 'admin', user: { token: adminToken } }],
        contexts: [{ name: 'nwk', context: { cluster: 'nwk', user: 'admin' } }],
      }),
      { mode: 0o600 },
    );

    // --- etcd + kube-apiserver (real admission: ServiceAccount, NodeRestriction ...)
    const etcd = process.env.NODEWARDEN_ETCD || 'etcd';
    start('etcd', [
      etcd,
      '--name=nwk',
      `--data-dir=${p('etcd')}`,
      '--listen-client-urls=http://127.0.0.1:2379',
      '--advertise-client-urls=http://127.0.0.1:2379',
      '--listen-peer-urls=http://127.0.0.1:2380',
      '--initial-advertise-peer-urls=http://127.0.0.1:2380',
      '--initial-cluster=nwk=http://127.0.0.1:2380',
      '--unsafe-no-fsync',
    ]);
    start('kube-apiserver', [
      join(binDir, 'kube-apiserver'),
      '--etcd-servers=http://127.0.0.1:2379',
      `--bind-address=${NODE_IP}`,
      `--advertise-address=${NODE_IP}`,
      `--secure-port=${API_PORT}`,
      `--cert-dir=${p('pki')}`,
      `--service-cluster-ip-range=${SERVICE_CIDR}`,
      `--service-account-issuer=${apiUrl}`,
      `--service-account-key-file=${p('pki', 'sa.key')}`,
      `--service-account-signing-key-file=${p('pki', 'sa.key')}`,
      `--token-auth-file=${p('pki', 'tokens.csv')}`,
      '--authorization-mode=Node,RBAC',
      '--allow-privileged=true',
      '--profiling=false',
      '--kubelet-preferred-address-types=InternalIP',
    ]);
    await waitFor(
      'kube-apiserver /readyz',
      async () =>
        existsSync(caFile) && (await kubectl(['get', '--raw', '/readyz'], { timeoutMs: 5000 })).stdout.trim() === 'ok',
      readyMs,
      500,
    ).catch((e) => {
      throw new Error(`${e.message}\n${logTail('kube-apiserver')}\n${logTail('etcd')}`);
    });

    start('kube-controller-manager', [
      join(binDir, 'kube-controller-manager'),
      `--kubeconfig=${kubeconfig}`,
      '--leader-elect=false',
      '--bind-address=127.0.0.1',
      '--secure-port=0',
      `--service-account-private-key-file=${p('pki', 'sa.key')}`,
      `--root-ca-file=${caFile}`,
      '--use-service-account-credentials=false',
      '--controllers=*,-nodeipam,-service-lb-controller,-cloud-node-lifecycle',
    ]);
    start('kube-scheduler', [
      join(binDir, 'kube-scheduler'),
      `--kubeconfig=${kubeconfig}`,
      '--leader-elect=false',
      '--bind-address=127.0.0.1',
      '--secure-port=0',
    ]);

    // --- containerd: its own socket, root, state; CNI bridge on nwk0 with host-local IPAM
    const sock = p('containerd', 'containerd.sock');
    writeFileSync(
      p('containerd', 'config.toml'),
      containerdConfig({
        root: p('containerd', 'root'),
        state: p('containerd', 'state'),
        socket: sock,
        opt: p('containerd', 'opt'),
        sandboxImage: 'localhost/pause:nw',
        cniConfDir: p('cni', 'conf'),
        cniBinDir: CNI_DIR,
        // pod netns files under its state dir (not /run/netns); exec/attach streams on the node's loopback
        criExtra: ['netns_mounts_under_state_dir = true', 'stream_server_address = "127.0.0.1"'],
      }),
    );
    writeFileSync(
      p('cni', 'conf', '10-nwk.conflist'),
      JSON.stringify({
        cniVersion: '1.0.0',
        name: 'nwk',
        plugins: [
          {
            type: 'bridge',
            bridge: BRIDGE,
            isGateway: true,
            ipMasq: false,
            hairpinMode: true,
            ipam: {
              type: 'host-local',
              dataDir: p('cni', 'data'),
              ranges: [[{ subnet: POD_CIDR, rangeStart: '10.244.77.10', gateway: NODE_IP }]],
              routes: [{ dst: '0.0.0.0/0' }],
            },
          },
          { type: 'portmap', capabilities: { portMappings: true } },
        ],
      }),
    );
    start('containerd', ['containerd', '--config', p('containerd', 'config.toml')]);
    await waitFor('containerd socket', () => existsSync(sock), 20_000, 100);

    // --- kubelet: own cgroup root, no eviction, no image GC, everything under dir
    writeFileSync(
      p('kubelet', 'config.yaml'),
      JSON.stringify({
        apiVersion: 'kubelet.config.k8s.io/v1beta1',
        kind: 'KubeletConfiguration',
        address: NODE_IP,
        port: 10250,
        readOnlyPort: 0,
        healthzBindAddress: '127.0.0.1',
        healthzPort: 10248,
        // the apiserver (same namespace, no client cert) is the only caller; nothing outside can reach it
        authentication: { anonymous: { enabled: true }, webhook: { enabled: false } },
        authorization: { mode: 'AlwaysAllow' },
        cgroupDriver: 'cgroupfs',
        cgroupRoot,
        cgroupsPerQOS: true,
        enforceNodeAllocatable: ['pods'],
        failCgroupV1: false,
        failSwapOn: false,
        evictionHard: {},
        evictionSoft: {},
        imageGCHighThresholdPercent: 100,
        imageGCLowThresholdPercent: 99,
        imageMinimumGCAge: '24h',
        containerRuntimeEndpoint: `unix://${sock}`,
        podLogsDir: p('pods'),
        volumePluginDir: p('volume-plugins'),
        resolvConf: '/etc/resolv.conf',
        registerNode: true,
        serializeImagePulls: false,
        maxPods: 30,
        rotateCertificates: false,
        serverTLSBootstrap: false,
        protectKernelDefaults: false,
        localStorageCapacityIsolation: true,
      }),
    );
    start('kubelet', [
      join(binDir, 'kubelet'),
      `--config=${p('kubelet', 'config.yaml')}`,
      `--kubeconfig=${kubeconfig}`,
      `--root-dir=${p('kubelet')}`,
      `--hostname-override=${nodeName}`,
      `--node-ip=${NODE_IP}`,
      '--v=1',
    ]);
    // --- kube-proxy: iptables mode in the node namespace; conntrack knobs left alone (global)
    writeFileSync(
      p('kube-proxy.yaml'),
      JSON.stringify({
        apiVersion: 'kubeproxy.config.k8s.io/v1alpha1',
        kind: 'KubeProxyConfiguration',
        mode: 'iptables',
        clientConnection: { kubeconfig },
        hostnameOverride: nodeName,
        clusterCIDR: POD_CIDR,
        healthzBindAddress: '127.0.0.1:10256',
        metricsBindAddress: '127.0.0.1:10249',
        conntrack: { maxPerCore: 0, min: 0, tcpEstablishedTimeout: '0s', tcpCloseWaitTimeout: '0s' },
      }),
    );
    start('kube-proxy', [join(binDir, 'kube-proxy'), `--config=${p('kube-proxy.yaml')}`]);

    const deadline = Date.now() + readyMs;
    for (;;) {
      const dead = children.find((c) => c.child.exitCode !== null || c.child.signalCode !== null);
      if (dead)
        throw new Error(
          `${dead.name} exited (${dead.child.exitCode ?? dead.child.signalCode}):\n${logTail(dead.name)}`,
        );
      const r = await kubectl(
        ['get', 'node', nodeName, '-o', 'jsonpath={.status.conditions[?(@.type=="Ready")].status}'],
        { timeoutMs: 5000 },
      );
      if (r.stdout.trim() === 'True') break;
      if (Date.now() > deadline)
        throw new Error(
          `node ${nodeName} not Ready within ${readyMs} ms\n--- kubelet:\n${logTail('kubelet')}\n--- containerd:\n${logTail('containerd', 10)}`,
        );
      await sleep(1000);
    }
    // the default ServiceAccount the pods need comes from the controller-manager
    await waitFor(
      'ServiceAccount default/default',
      async () => (await kubectl(['get', 'sa', 'default'])).code === 0,
      60_000,
      500,
    );
  } catch (err) {
    await stop();
    throw err;
  }

  return {
    dir,
    netns,
    nodeName,
    cgroupRoot,
    binDir,
    journalDir: p('journal'),
    kubectl,
    mustKubectl,
    nodeExec,
    importImage: (archive) => ctr(['images', 'import', archive]),
    ctr,
    logTail,
    stop,
  };
}
