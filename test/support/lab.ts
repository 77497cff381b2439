// A real-kernel "two pods on one node" lab: network namespaces + veth, Calico-style routing,
// iptables LOG+DROP rules, and a private systemd-journald that reads the kernel log. Used by the
// end-to-end tests and by `npm run demo`. Everything it creates is removed by down().
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const LAB_IPS = { podA: '10.244.0.4', podB: '10.244.1.6', remote: '10.244.2.9', node: '10.4.0.4' } as const;
export const BLOCKED_PORT = 12865;
export const OPEN_PORT = 8080;
const NF_LOG_ALL_NETNS = '/proc/sys/net/netfilter/nf_log_all_netns';

export interface Lab {
  prefix: string;
  nodeNs: string;
  journalDir: string;
  /** Blocked TCP connects podA -> dst:port (each gives a SYN and its retransmit, both LOGged). */
  blockedConnects(n: number, dst?: string): Promise<void>;
  /** Allowed connect podA -> podB:8080; true when it connected. */
  allowedConnect(): Promise<boolean>;
  /** Packets the LOG rule has logged so far (the kernel's own count of LOG lines). */
  loggedPackets(): number;
  exec(ns: string, cmd: string[]): string;
  down(): Promise<void>;
}

const sh = (cmd: string, args: string[]) =>
  execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], timeout: 20_000 }).toString();

export async function labUp(prefix = `nw${process.pid % 100000}`): Promise<Lab> {
  const dir = join(tmpdir(), `${prefix}-lab`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(dir, 'journal'), { recursive: true });
  mkdirSync(join(dir, 'jsock'), { recursive: true });
  const node = `${prefix}-node`,
    podA = `${prefix}-podA`,
    podB = `${prefix}-podB`;
  const nx = (ns: string, ...args: string[]) => sh('ip', ['netns', 'exec', ns, ...args]);
  const created: string[] = [];
  let journald: ChildProcess | undefined;
  let listener: ChildProcess | undefined;
  const nfOrig = existsSync(NF_LOG_ALL_NETNS) ? readFileSync(NF_LOG_ALL_NETNS, 'utf8').trim() : undefined;

  const down = async () => {
    for (const p of [listener, journald]) {
      if (p && p.exitCode === null && p.signalCode === null)
        await new Promise<void>((r) => {
          const t = setTimeout(r, 3000);
          p.once('exit', () => {
            clearTimeout(t);
            r();
          });
          p.kill('SIGTERM');
        });
    }
    for (const ns of [podA, podB, node]) {
      try {
        sh('ip', ['netns', 'del', ns]);
      } catch {
        /* not created */
      }
    }
    if (nfOrig !== undefined) writeFileSync(NF_LOG_ALL_NETNS, nfOrig);
    for (const d of created.reverse()) {
      try {
        rmdirSync(d);
      } catch {
        /* in use by another lab */
      }
    }
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    for (const ns of [node, podA, podB]) {
      sh('ip', ['netns', 'add', ns]);
      sh('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    }
    // The node's uplink: a veth whose peer stays in the node (this kernel has no dummy device).
    // proxy_arp answers for 169.254.1.1 only when the node has a default route.
    sh('ip', ['-n', node, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'ext0']);
    sh('ip', ['-n', node, 'addr', 'add', `${LAB_IPS.node}/24`, 'dev', 'eth0']);
    sh('ip', ['-n', node, 'link', 'set', 'ext0', 'up']);
    sh('ip', ['-n', node, 'link', 'set', 'eth0', 'up']);
    sh('ip', ['-n', node, 'route', 'add', 'default', 'via', '10.4.0.1', 'dev', 'eth0', 'onlink']);
    for (const [ns, cali, ip] of [
      [podA, 'cali1a2b3c4d5e6', LAB_IPS.podA],
      [podB, 'cali6f5e4d3c2b1', LAB_IPS.podB],
    ] as const) {
      sh('ip', ['link', 'add', cali, 'netns', node, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
      sh('ip', ['-n', ns, 'addr', 'add', `${ip}/32`, 'dev', 'eth0']);
      sh('ip', ['-n', ns, 'link', 'set', 'eth0', 'up']);
      sh('ip', ['-n', ns, 'route', 'add', '169.254.1.1', 'dev', 'eth0', 'scope', 'link']);
      sh('ip', ['-n', ns, 'route', 'add', 'default', 'via', '169.254.1.1', 'dev', 'eth0']);
      sh('ip', ['-n', node, 'link', 'set', cali, 'up']);
      nx(node, 'sysctl', '-qw', `net.ipv4.conf.${cali}.proxy_arp=1`, `net.ipv4.neigh.${cali}.proxy_delay=0`);
      sh('ip', ['-n', node, 'route', 'add', `${ip}/32`, 'dev', cali, 'scope', 'link']);
    }
    nx(node, 'sysctl', '-qw', 'net.ipv4.ip_forward=1');
    nx(node, 'iptables', '-N', 'LAB-POLICY');
    nx(node, 'iptables', '-A', 'FORWARD', '-j', 'LAB-POLICY');
    nx(
      node,
      'iptables',
      '-A',
      'LAB-POLICY',
      '-s',
      `${LAB_IPS.podA}/32`,
      '-p',
      'tcp',
      '--dport',
      String(BLOCKED_PORT),
      '-j',
      'LOG',
      '--log-prefix',
      'calico-packet: ',
      '--log-level',
      '4',
    );
    nx(
      node,
      'iptables',
      '-A',
      'LAB-POLICY',
      '-s',
      `${LAB_IPS.podA}/32`,
      '-p',
      'tcp',
      '--dport',
      String(BLOCKED_PORT),
      '-j',
      'DROP',
    );
    // LOG in a non-init netns prints nothing unless this global knob is 1 (restored by down()).
    if (nfOrig === undefined)
      throw new Error(`${NF_LOG_ALL_NETNS} missing: kernel without netfilter LOG for namespaces`);
    writeFileSync(NF_LOG_ALL_NETNS, '1');
    listener = spawn(
      'ip',
      [
        'netns',
        'exec',
        podB,
        'timeout',
        '900',
        'python3',
        '-c',
        'import socket\ns=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\ns.bind(("0.0.0.0", 8080)); s.listen(64)\nwhile True:\n    c,a=s.accept(); c.close()',
      ],
      { stdio: 'ignore' },
    );
    // A private journald (the default instance, the one that reads /dev/kmsg) in its own mount
    // namespace, with temp dirs over its runtime and storage paths; the host's journal is untouched.
    for (const d of ['/run/systemd/journal', '/run/log/journal', '/var/log/journal']) {
      if (!existsSync(d)) {
        mkdirSync(d, { recursive: true });
        created.push(d);
      }
    }
    journald = spawn(
      'unshare',
      [
        '-m',
        '--propagation',
        'private',
        'sh',
        '-c',
        `mount --bind '${dir}/jsock' /run/systemd/journal && mount --bind '${dir}/journal' /run/log/journal && mount --bind '${dir}/journal' /var/log/journal && exec /lib/systemd/systemd-journald`,
      ],
      { stdio: 'ignore' },
    );
    const until = Date.now() + 10_000;
    let journalDir = '';
    while (!journalDir && Date.now() < until) {
      const sub = readdirSync(join(dir, 'journal')).find((d) => existsSync(join(dir, 'journal', d, 'system.journal')));
      if (sub) journalDir = join(dir, 'journal', sub);
      else await new Promise((r) => setTimeout(r, 100));
    }
    if (!journalDir) throw new Error('private systemd-journald did not create its journal within 10 s');
    const counter = () => {
      const m = /^\[(\d+):\d+\] -A LAB-POLICY .* -j LOG/m.exec(nx(node, 'iptables-save', '-c'));
      return m ? Number(m[1]) : 0;
    };
    const connect = (dst: string, port: number, timeoutS: string) =>
      new Promise<boolean>((resolve) => {
        const p = spawn(
          'ip',
          ['netns', 'exec', podA, 'timeout', timeoutS, 'bash', '-c', `echo > /dev/tcp/${dst}/${port}`],
          { stdio: 'ignore' },
        );
        p.on('close', (code) => resolve(code === 0));
      });
    return {
      prefix,
      nodeNs: node,
      journalDir,
      async blockedConnects(n, dst = LAB_IPS.podB) {
        await Promise.all(Array.from({ length: n }, () => connect(dst, BLOCKED_PORT, '1.2')));
      },
      allowedConnect: () => connect(LAB_IPS.podB, OPEN_PORT, '3'),
      loggedPackets: counter,
      exec: (ns, cmd) => nx(ns, ...cmd),
      down,
    };
  } catch (err) {
    await down();
    throw err;
  }
}
