// A real containerd (Debian's 1.6) running REAL pods from a locally built image, no registry
// (../shared/reference/oom-and-cri-pods.md section 2). Everything is unique to this process: temp
// root/state/socket, network namespace, CNI network name, bridge and host-local dataDir, cgroup
// parent. down() removes all of it: sandboxes, containerd and its shims (by PID), mounts under the
// temp dir, pod netns, the lab netns, cgroup dirs, the /var/lib/cni files of our network, the temp dir.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmdirSync,
  rmSync,
  statSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { containerdConfig } from '../support/containerd-config.js';
import { CriAdmin, type ContainerSpec, type SandboxSpec } from './cri-admin.js';

export const IMAGE = 'localhost/nw-app:1';
export const PAUSE_IMAGE = 'localhost/nw-pause:1';
const CNI_BIN = '/usr/lib/cni';

const sh = (cmd: string, args: string[], timeoutMs = 20_000): string =>
  execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], timeout: timeoutMs }).toString();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Resolves when p does or after ms, whichever is first, leaving no timer behind. */
function within(p: Promise<unknown>, ms: number): Promise<unknown> {
  let t: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise((r) => {
      t = setTimeout(r, ms);
    }),
  ]).finally(() => clearTimeout(t));
}

/** Why this machine cannot run the lab, or undefined when it can. */
export function labUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (netns, cgroups, containerd)';
  for (const bin of ['containerd', 'ctr', 'runc', 'nsenter', 'tar', 'ip']) {
    try {
      sh('sh', ['-c', `command -v ${bin} || test -x /usr/sbin/${bin}`]);
    } catch {
      return `${bin} not installed (apt-get install containerd iproute2)`;
    }
  }
  for (const p of ['bridge', 'host-local'])
    if (!existsSync(join(CNI_BIN, p))) return `${CNI_BIN}/${p} missing (apt-get install containernetworking-plugins)`;
  if (!existsSync('/bin/busybox')) return '/bin/busybox missing (apt-get install busybox-static)';
  try {
    sh('ldd', ['/bin/busybox']);
    return '/bin/busybox is dynamically linked (apt-get install busybox-static)';
  } catch {
    // "not a dynamic executable": static, as needed inside the image
  }
  return undefined;
}

export interface Pod {
  id: string;
  spec: SandboxSpec;
  /** The pod's own netns path (CNI pods), for cleanup if RemovePodSandbox did not happen. */
  netns?: string;
}

export interface CriLab {
  dir: string;
  endpoint: string;
  socket: string;
  netns: string;
  network: string;
  ipamDir: string;
  admin: CriAdmin;
  /** A kubelet-shaped sandbox spec (log dir, cgroup parent under this lab's own root). */
  sandbox(name: string, namespace: string, uid: string, extra?: Partial<SandboxSpec>): SandboxSpec;
  /** What the kubelet makes of /etc/kubernetes/manifests/kube-apiserver.yaml: a file-source static pod. */
  staticApiserverSandbox(name: string, hash: string): SandboxSpec;
  runPod(spec: SandboxSpec): Promise<Pod>;
  /** Creates and starts a container the way the kubelet does (log path <name>/<attempt>.log). */
  startContainer(pod: Pod, name: string, attempt: number, command?: string[], image?: string): Promise<string>;
  /** SIGKILLs a running container's init process, as an OOM or a crash would, and waits until EXITED. */
  killContainer(id: string): Promise<void>;
  /** Runs a command in the lab's netns (where the pods' bridge lives). */
  inNetns(cmd: string[]): string;
  down(): Promise<void>;
  /** What down() should have removed and is still there (empty after a clean teardown). */
  leftovers(): string[];
}

// --- image ------------------------------------------------------------------------------------

const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

/** An OCI image tarball with a static busybox, named by the index annotation `ctr import` reads. */
function buildImage(dir: string, names: string[]): string {
  const rootfs = join(dir, 'rootfs');
  for (const d of ['bin', 'tmp', 'proc', 'sys', 'dev', 'etc']) mkdirSync(join(rootfs, d), { recursive: true });
  copyFileSync('/bin/busybox', join(rootfs, 'bin', 'busybox'));
  for (const a of ['sh', 'sleep', 'echo', 'date', 'cat', 'ls', 'hostname', 'ip', 'kill', 'true'])
    symlinkSync('busybox', join(rootfs, 'bin', a));
  writeFileSync(join(rootfs, 'etc', 'passwd'), 'root:x:0:0:root:/:/bin/sh\n');
  const layer = join(dir, 'layer.tar');
  sh('tar', [
    '--numeric-owner',
    '--owner=0',
    '--group=0',
    '--sort=name',
    '--mtime=@0',
    '-C',
    rootfs,
    '-cf',
    layer,
    '.',
  ]);
  const oci = join(dir, 'oci');
  mkdirSync(join(oci, 'blobs', 'sha256'), { recursive: true });
  const blob = (data: Buffer | string) => {
    const b = typeof data === 'string' ? Buffer.from(data) : data;
    const d = sha(b);
    writeFileSync(join(oci, 'blobs', 'sha256', d), b);
    return { digest: `sha256:${d}`, size: b.length };
  };
  const layerBlob = blob(readFileSync(layer));
  const arch = process.arch === 'x64' ? 'amd64' : process.arch;
  const config = blob(
    JSON.stringify({
      architecture: arch,
      os: 'linux',
      config: { Entrypoint: ['/bin/sleep', '3600'], Env: ['PATH=/bin'], WorkingDir: '/' },
      rootfs: { type: 'layers', diff_ids: [layerBlob.digest] },
    }),
  );
  const manifest = blob(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...layerBlob }],
    }),
  );
  writeFileSync(join(oci, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  writeFileSync(
    join(oci, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: names.map((n) => ({
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        ...manifest,
        annotations: { 'io.containerd.image.name': n, 'org.opencontainers.image.ref.name': n.split(':').pop() },
      })),
    }),
  );
  const tarball = join(dir, 'image.tar');
  sh('tar', ['-C', oci, '-cf', tarball, 'oci-layout', 'index.json', 'blobs']);
  return tarball;
}

// --- cleanup helpers --------------------------------------------------------------------------

/** PIDs whose command line mentions `needle` (our unique socket/dir): containerd's shims. */
function pidsMentioning(needle: string): number[] {
  const out: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e) || Number(e) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${e}/cmdline`, 'utf8').includes(needle)) out.push(Number(e));
    } catch {
      // exited
    }
  }
  return out;
}

function cgroupDirs(parent: string): string[] {
  const out: string[] = [];
  for (const h of readdirSync('/sys/fs/cgroup')) {
    const d = join('/sys/fs/cgroup', h, parent);
    try {
      if (statSync(d).isDirectory()) out.push(d);
    } catch {
      // not in this hierarchy
    }
  }
  return out;
}

function procsIn(dir: string): number[] {
  const out: number[] = [];
  const walk = (d: string) => {
    try {
      for (const p of readFileSync(join(d, 'cgroup.procs'), 'utf8').split('\n')) if (p.trim()) out.push(Number(p));
      for (const e of readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) walk(join(d, e.name));
    } catch {
      // gone
    }
  };
  walk(dir);
  return out;
}

function rmdirDepthFirst(dir: string): void {
  try {
    for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) rmdirDepthFirst(join(dir, e.name));
    rmdirSync(dir);
  } catch {
    // already gone, or still busy (reported by the caller's check)
  }
}

function kill(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // gone
  }
}

// --- the lab ------------------------------------------------------------------------------------

export async function startCriLab(prefix = `nwrt${process.pid}`): Promise<CriLab> {
  const dir = mkdtempSync(join(tmpdir(), `${prefix}-`));
  const netns = prefix;
  const network = prefix;
  const bridge = `${prefix.slice(0, 12)}br`;
  const cgroupRoot = `${prefix}-kubepods`;
  const socket = join(dir, 'containerd.sock');
  const endpoint = `unix://${socket}`;
  const ipamDir = join(dir, 'cni-ipam');
  const pods: Pod[] = [];
  let containerd: ChildProcess | undefined;
  let admin: CriAdmin | undefined;
  const hadVarLibCni = existsSync('/var/lib/cni');
  const hadVarLibCniResults = existsSync('/var/lib/cni/results');
  const hadRunContainerd = existsSync('/run/containerd');

  for (const d of ['root', 'state', 'cni', 'pods', 'img', 'opt']) mkdirSync(join(dir, d), { recursive: true });
  writeFileSync(
    join(dir, 'config.toml'),
    containerdConfig({
      root: `${dir}/root`,
      state: `${dir}/state`,
      socket,
      opt: `${dir}/opt`,
      sandboxImage: PAUSE_IMAGE,
      cniConfDir: `${dir}/cni`,
      cniBinDir: CNI_BIN,
    }),
  );
  writeFileSync(
    join(dir, 'cni', '10-nw.conflist'),
    JSON.stringify({
      cniVersion: '1.0.0',
      name: network,
      plugins: [
        {
          type: 'bridge',
          bridge,
          isGateway: true,
          ipMasq: false,
          hairpinMode: true,
          ipam: {
            type: 'host-local',
            dataDir: ipamDir,
            ranges: [[{ subnet: '10.89.0.0/24' }]],
            routes: [{ dst: '0.0.0.0/0' }],
          },
        },
      ],
    }),
  );

  let downed = false;
  const down = async (): Promise<void> => {
    if (downed) return;
    downed = true;
    const problems: string[] = [];
    if (admin) {
      for (const p of pods.reverse()) {
        await admin.stopPodSandbox(p.id).catch((e) => problems.push(`stop ${p.spec.name}: ${(e as Error).message}`));
        await admin
          .removePodSandbox(p.id)
          .catch((e) => problems.push(`remove ${p.spec.name}: ${(e as Error).message}`));
      }
      admin.close();
    }
    if (containerd && containerd.exitCode === null && containerd.signalCode === null) {
      const exited = new Promise<void>((r) => containerd!.once('exit', () => r()));
      containerd.kill('SIGTERM');
      await within(exited, 8000);
      if (containerd.exitCode === null && containerd.signalCode === null) {
        containerd.kill('SIGKILL');
        await within(exited, 3000);
      }
    }
    // Shims of this containerd (their argv carries our socket path) and anything left in our cgroups.
    for (const pid of pidsMentioning(socket)) kill(pid, 'SIGKILL');
    for (const d of cgroupDirs(cgroupRoot)) for (const pid of procsIn(d)) kill(pid, 'SIGKILL');
    await sleep(100);
    // Mounts under the temp dir (rootfs overlays, shm) that a killed containerd left behind.
    const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .map((l) => l.split(' ')[4])
      .filter((m) => m && m.startsWith(dir))
      .reverse();
    for (const m of mounts) {
      try {
        sh('umount', ['-l', m]);
      } catch {
        problems.push(`umount ${m}`);
      }
    }
    for (const p of pods) {
      if (p.netns && existsSync(p.netns)) {
        try {
          sh('ip', ['netns', 'del', basename(p.netns)]);
        } catch {
          problems.push(`netns ${p.netns}`);
        }
      }
    }
    try {
      sh('ip', ['netns', 'del', netns]);
    } catch {
      // not created
    }
    for (const d of cgroupDirs(cgroupRoot)) rmdirDepthFirst(d);
    const leftCg = cgroupDirs(cgroupRoot);
    if (leftCg.length) problems.push(`cgroup dirs left: ${leftCg.join(' ')}`);
    // libcni's result cache: /var/lib/cni/results/<network>-<container id>-<ifname>
    const results = '/var/lib/cni/results';
    if (existsSync(results))
      for (const f of readdirSync(results)) if (f.startsWith(`${network}-`)) unlinkSync(join(results, f));
    if (!hadVarLibCniResults) rmdirDepthFirst(results);
    if (!hadVarLibCni) {
      rmdirDepthFirst('/var/lib/cni/networks');
      rmdirDepthFirst('/var/lib/cni');
    }
    // containerd 1.6 keeps shim sockets in /run/containerd/s/<hash>; remove the dirs if we made them and they are
    // empty.
    if (!hadRunContainerd) rmdirDepthFirst('/run/containerd');
    rmSync(dir, { recursive: true, force: true });
    if (problems.length) process.stderr.write(`[containerd-lab] teardown problems: ${problems.join('; ')}\n`);
  };

  try {
    sh('ip', ['netns', 'add', netns]);
    sh('ip', ['-n', netns, 'link', 'set', 'lo', 'up']);
    // nsenter --net, not `ip netns exec`: the latter remounts /sys and hides /sys/fs/cgroup from runc.
    const log = join(dir, 'containerd.log');
    containerd = spawn('nsenter', [`--net=/run/netns/${netns}`, 'containerd', '--config', join(dir, 'config.toml')], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    containerd.stderr!.on('data', (c: Buffer) => {
      try {
        writeFileSync(log, c, { flag: 'a' });
      } catch {
        /* dir removed */
      }
    });
    const deadline = Date.now() + 20_000;
    while (!existsSync(socket)) {
      if (containerd.exitCode !== null) throw new Error(`containerd exited: ${readFileSync(log, 'utf8').slice(-2000)}`);
      if (Date.now() > deadline) throw new Error('containerd socket did not appear within 20 s');
      await sleep(50);
    }
    const tarball = buildImage(join(dir, 'img'), [PAUSE_IMAGE, IMAGE]);
    sh('ctr', ['-a', socket, '-n', 'k8s.io', 'images', 'import', tarball], 60_000);
    admin = new CriAdmin(endpoint);
  } catch (err) {
    await down();
    throw err;
  }

  const lab: CriLab = {
    dir,
    endpoint,
    socket,
    netns,
    network,
    ipamDir,
    admin,
    sandbox: (name, namespace, uid, extra = {}) => {
      const logDirectory = join(dir, 'pods', `${namespace}_${name}_${uid}`);
      mkdirSync(logDirectory, { recursive: true });
      return { name, namespace, uid, logDirectory, cgroupParent: `/${cgroupRoot}/burstable/pod${uid}`, ...extra };
    },
    staticApiserverSandbox: (name, hash) =>
      lab.sandbox(name, 'kube-system', hash, {
        hostNetwork: true,
        labels: { component: 'kube-apiserver', tier: 'control-plane' },
        annotations: {
          'kubernetes.io/config.source': 'file',
          'kubernetes.io/config.hash': hash,
          'kubernetes.io/config.seen': '2026-11-23T15:25:49.904417213Z',
        },
      }),
    async runPod(spec) {
      // The CRI plugin loads the CNI config asynchronously after start: retry "cni plugin not initialized" briefly.
      let id: string | undefined;
      for (const until = Date.now() + 15_000; ; ) {
        try {
          id = await admin!.runPodSandbox(spec);
          break;
        } catch (err) {
          if (!/cni|network/i.test((err as Error).message) || Date.now() > until) throw err;
          await sleep(200);
        }
      }
      const info = await admin!.sandboxInfo(id).catch(() => ({}) as Record<string, any>);
      const ns = (info.runtimeSpec?.linux?.namespaces ?? []).find(
        (n: { type: string; path?: string }) => n.type === 'network',
      )?.path as string | undefined;
      const pod: Pod = { id, spec, netns: ns && ns.includes('/netns/cni-') ? ns : undefined };
      pods.push(pod);
      return pod;
    },
    async startContainer(
      pod,
      name,
      attempt,
      command = ['/bin/sh', '-c', `echo ${name} attempt ${attempt}; exec sleep 3600`],
      image = IMAGE,
    ) {
      mkdirSync(join(pod.spec.logDirectory, name), { recursive: true });
      const c: ContainerSpec = { name, attempt, image, command, logPath: `${name}/${attempt}.log` };
      const id = await admin!.createContainer(pod.id, pod.spec, c);
      await admin!.startContainer(id);
      return id;
    },
    async killContainer(id) {
      const st = await admin!.containerStatus(id);
      if (st.pid === undefined) throw new Error(`container ${id} has no pid (state ${st.state})`);
      process.kill(st.pid, 'SIGKILL');
      for (const until = Date.now() + 10_000; (await admin!.containerStatus(id)).state !== 2; ) {
        if (Date.now() > until) throw new Error(`container ${id} not EXITED 10 s after SIGKILL`);
        await sleep(50);
      }
    },
    inNetns: (cmd) => sh('nsenter', [`--net=/run/netns/${netns}`, ...cmd]),
    down,
    leftovers: () => {
      const left: string[] = [];
      if (existsSync(dir)) left.push(dir);
      if (existsSync(`/run/netns/${netns}`)) left.push(`netns ${netns}`);
      for (const p of pods) if (p.netns && existsSync(p.netns)) left.push(p.netns);
      left.push(...cgroupDirs(cgroupRoot));
      if (readFileSync('/proc/self/mountinfo', 'utf8').includes(dir)) left.push(`mounts under ${dir}`);
      left.push(...pidsMentioning(socket).map((p) => `process ${p}`));
      if (existsSync('/var/lib/cni/results'))
        left.push(...readdirSync('/var/lib/cni/results').filter((f) => f.startsWith(`${network}-`)));
      if (!hadVarLibCni && existsSync('/var/lib/cni')) left.push('/var/lib/cni');
      if (!hadRunContainerd && existsSync('/run/containerd')) left.push('/run/containerd');
      return left;
    },
  };
  return lab;
}
