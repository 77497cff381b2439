// Pure parsers of small procfs files read by the sysctl, pids and journald probes.
import { canonicalIp } from '../../common/ip.js';

/** /proc/net/snmp (and netstat): "Ip: Forwarding DefaultTTL ..." header lines each followed by values. */
export function parseSnmp(text: string): Record<string, Record<string, number>> {
  const out: Record<string, Record<string, number>> = {};
  const lines = text.split('\n');
  for (let i = 0; i + 1 < lines.length; i += 2) {
    const head = lines[i].trim().split(/\s+/);
    const vals = lines[i + 1].trim().split(/\s+/);
    if (!head[0]?.endsWith(':') || head[0] !== vals[0]) continue;
    const group: Record<string, number> = {};
    for (let j = 1; j < head.length && j < vals.length; j++) group[head[j]] = Number(vals[j]);
    out[head[0].slice(0, -1)] = group;
  }
  return out;
}

export interface V6Route {
  dst: string;
  dev: string;
  flags: number;
}

/** The node's own addresses; not a route to a pod. */
const RTF_LOCAL = 0x80000000;

/** /proc/net/ipv6_route: "<dst 32 hex> <plen hex> <src> <splen> <nexthop> <metric> <refcnt> <use> <flags> <dev>". */
export function parseIpv6Routes(text: string): V6Route[] {
  const out: V6Route[] = [];
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10 || f[0].length !== 32) continue;
    const ip = canonicalIp(f[0].match(/.{4}/g)!.join(':'));
    if (ip) out.push({ dst: `${ip}/${parseInt(f[1], 16)}`, dev: f[9], flags: parseInt(f[8], 16) });
  }
  return out;
}

/** Interface name prefixes CNI plugins give the host side of pod links. */
const POD_INTERFACE_PREFIXES = [
  'cali',
  'veth',
  'cni',
  'cilium',
  'lxc',
  'flannel',
  'vxlan.calico',
  'tunl',
  'weave',
  'kube-bridge',
  'azv',
  'eni',
  'gke',
];

/** Routes that look like pod routes: global unicast destinations via a pod interface. */
export function ipv6PodRoutes(
  routes: readonly V6Route[],
  prefixes: readonly string[] = POD_INTERFACE_PREFIXES,
): V6Route[] {
  return routes.filter((r) => {
    if (!prefixes.some((p) => r.dev.startsWith(p)) || (r.flags & RTF_LOCAL) !== 0) return false;
    const first = parseInt(r.dst.split(':')[0] || '0', 16);
    const linkLocal = (first & 0xffc0) === 0xfe80;
    const multicast = (first & 0xff00) === 0xff00;
    return !linkLocal && !multicast && !r.dst.startsWith('::');
  });
}

/** /proc/loadavg field 4 is "running/total" scheduling entities (threads, each holding a PID). */
export function parseLoadavgTasks(text: string): number | undefined {
  const m = /^\S+ \S+ \S+ \d+\/(\d+) /.exec(text);
  return m ? Number(m[1]) : undefined;
}

/** "RssAnon:	   15056 kB" lines of /proc/<pid>/status, in bytes. */
export function parseStatusMemory(text: string): { vmRss?: number; rssAnon?: number; rssFile?: number } {
  const kb = (key: string) => {
    const m = new RegExp(`^${key}:\\s+(\\d+) kB$`, 'm').exec(text);
    return m ? Number(m[1]) * 1024 : undefined;
  };
  return { vmRss: kb('VmRSS'), rssAnon: kb('RssAnon'), rssFile: kb('RssFile') };
}
