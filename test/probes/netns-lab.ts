// A Calico-shaped "node with one pod" in network namespaces (after /work/shared/reference/node-lab.sh):
// node netns with a cali veth to the pod, an eth0 default route, a /32 IPv4 and /128 IPv6 pod route.
import { sh } from './support.js';

export const POD_IP = '10.244.0.4';
/** A pod on another node: reached through this node's forwarding. */
export const REMOTE_POD_IP = '10.244.1.6';
export const POD_IP6 = 'fd00:10:244::4';
export const CALI = 'cali1a2b3c4d5e6';

export class NodeLab {
  readonly node: string;
  readonly pod: string;

  constructor(prefix: string) {
    this.node = `${prefix}-node`;
    this.pod = `${prefix}-pod`;
  }

  inNode(...argv: string[]): string {
    return sh(['ip', 'netns', 'exec', this.node, ...argv]);
  }

  inPod(...argv: string[]): string {
    return sh(['ip', 'netns', 'exec', this.pod, ...argv]);
  }

  up(): void {
    const { node, pod } = this;
    for (const ns of [node, pod]) {
      sh(['ip', 'netns', 'add', ns]);
      sh(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
    }
    // node uplink: a veth whose peer stays in the node netns (no dummy device on the test kernel)
    sh(['ip', '-n', node, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'ext0']);
    sh(['ip', '-n', node, 'addr', 'add', '10.4.0.4/24', 'dev', 'eth0']);
    sh(['ip', '-n', node, 'link', 'set', 'ext0', 'up']);
    sh(['ip', '-n', node, 'link', 'set', 'eth0', 'up']);
    sh(['ip', '-n', node, 'route', 'add', 'default', 'via', '10.4.0.1', 'dev', 'eth0', 'onlink']);
    // pod link, Calico style: /32 on eth0, default via 169.254.1.1
    sh(['ip', 'link', 'add', CALI, 'netns', node, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', pod]);
    sh(['ip', '-n', node, 'link', 'set', CALI, 'up']);
    sh(['ip', '-n', pod, 'addr', 'add', `${POD_IP}/32`, 'dev', 'eth0']);
    sh(['ip', '-n', pod, 'addr', 'add', `${POD_IP6}/128`, 'dev', 'eth0', 'nodad']);
    sh(['ip', '-n', pod, 'link', 'set', 'eth0', 'up']);
    sh(['ip', '-n', pod, 'route', 'add', '169.254.1.1', 'dev', 'eth0', 'scope', 'link']);
    sh(['ip', '-n', pod, 'route', 'add', 'default', 'via', '169.254.1.1', 'dev', 'eth0']);
    // Proxy ARP answers only while forwarding is on; a permanent entry keeps the pod sending to the
    // node while ip_forward=0, which is what the node sees in the real incident (warm ARP caches).
    const mac = (JSON.parse(sh(['ip', '-n', node, '-j', 'link', 'show', 'dev', CALI])) as { address: string }[])[0]
      .address;
    sh(['ip', '-n', pod, 'neigh', 'replace', '169.254.1.1', 'lladdr', mac, 'dev', 'eth0', 'nud', 'permanent']);
    sh(['ip', '-n', node, 'route', 'add', `${POD_IP}/32`, 'dev', CALI, 'scope', 'link']);
    sh(['ip', '-n', node, '-6', 'route', 'add', `${POD_IP6}/128`, 'dev', CALI]);
    this.inNode('sysctl', '-qw', 'net.ipv4.ip_forward=1', 'net.ipv6.conf.all.forwarding=1');
  }

  /** Bounded: `count` UDP datagrams from the pod to a pod behind this node. */
  podSends(count: number): void {
    this.inPod('bash', '-c', `for i in $(seq ${count}); do echo x > /dev/udp/${REMOTE_POD_IP}/9; done`);
  }

  down(): void {
    for (const ns of [this.node, this.pod]) {
      try {
        sh(['ip', 'netns', 'del', ns]);
      } catch {
        // not created
      }
    }
  }
}
