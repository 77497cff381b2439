// sysctl probe: reads forwarding/bridge sysctls and /proc/net/snmp of the netns the agent runs in.
import { join } from 'node:path';
import type { Probe } from './framework.js';
import { readHostFile, readOptionalFile } from './host.js';
import { ipv6PodRoutes, parseIpv6Routes, parseSnmp } from './proc-parse.js';
import { sysctlFindings, type Ipv6Mode, type SysctlMemory } from './sysctl-checks.js';

export interface SysctlProbeOptions {
  intervalMs: number;
  /** /proc, or the host's /proc mounted elsewhere; /proc/sys/net is the reading process's netns. */
  procRoot: string;
  ipv6: Ipv6Mode;
}

export function sysctlProbe(opts: SysctlProbeOptions): Probe {
  const p = (rel: string) => join(opts.procRoot, rel);
  let memory: SysctlMemory = {};
  return {
    name: 'sysctl',
    intervalMs: opts.intervalMs,
    async tick() {
      const [ipForward, ipv6Forward, bridge, snmp] = await Promise.all([
        readHostFile(p('sys/net/ipv4/ip_forward')),
        opts.ipv6 === 'off' ? undefined : readOptionalFile(p('sys/net/ipv6/conf/all/forwarding')),
        readOptionalFile(p('sys/net/bridge/bridge-nf-call-iptables')),
        readOptionalFile(p('net/snmp')),
      ]);
      const routes =
        opts.ipv6 === 'auto' && ipv6Forward !== undefined ? await readOptionalFile(p('net/ipv6_route')) : undefined;
      const r = sysctlFindings(
        {
          ipForward: ipForward.trim(),
          ipv6Forward: ipv6Forward?.trim(),
          ipv6PodRoutes: routes ? ipv6PodRoutes(parseIpv6Routes(routes)).map((x) => `${x.dst} dev ${x.dev}`) : [],
          bridgeNfCallIptables: bridge?.trim(),
          snmpIp: snmp ? parseSnmp(snmp).Ip : undefined,
        },
        opts.ipv6,
        memory,
      );
      memory = r.memory;
      return r.findings;
    },
  };
}
