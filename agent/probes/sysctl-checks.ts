// Pure: forwarding and bridge-netfilter sysctls -> IPForwardingDisabled, IPv6ForwardingDisabled,
// BridgeNfCallIptablesDisabled, with /proc/net/snmp as supporting evidence.
import type { FindingReport } from '../findings.js';

/** auto: check IPv6 forwarding only when the node has IPv6 pod routes; on: always; off: never. */
export type Ipv6Mode = 'auto' | 'on' | 'off';

export interface SysctlSample {
  ipForward: string;
  /** net.ipv6.conf.all.forwarding; undefined when the kernel has no IPv6. */
  ipv6Forward?: string;
  /** IPv6 pod routes ("fd00:10:244:1::6/128 dev cali...") that make IPv6 forwarding necessary. */
  ipv6PodRoutes: readonly string[];
  /** net.bridge.bridge-nf-call-iptables; undefined when br_netfilter is not there. */
  bridgeNfCallIptables?: string;
  /** The "Ip:" group of /proc/net/snmp. */
  snmpIp?: Readonly<Record<string, number>>;
}

export interface SysctlMemory {
  /** Ip InAddrErrors at the last poll that saw forwarding on: the baseline for the growth evidence. */
  inAddrErrorsWhileForwarding?: number;
}

function snmpEvidence(s: SysctlSample, mem: SysctlMemory, forwarding: boolean): Record<string, string> {
  const ev: Record<string, string> = {};
  const ip = s.snmpIp;
  if (!ip) return ev;
  // SNMP ipForwarding: 1 = forwarding, 2 = not forwarding
  if (ip.Forwarding !== undefined)
    ev['snmp Ip.Forwarding'] = `${ip.Forwarding} (${ip.Forwarding === 1 ? 'forwarding' : 'not forwarding'})`;
  const errs = ip.InAddrErrors;
  if (errs === undefined) return ev;
  const base = mem.inAddrErrorsWhileForwarding;
  // Packets for other hosts arriving while forwarding is off are counted here, one per packet.
  ev['snmp Ip.InAddrErrors'] =
    forwarding || base === undefined ? `${errs}` : `+${errs - base} since forwarding was last on (now ${errs})`;
  return ev;
}

export function sysctlFindings(
  s: SysctlSample,
  ipv6: Ipv6Mode,
  mem: SysctlMemory,
): { findings: FindingReport[]; memory: SysctlMemory } {
  const findings: FindingReport[] = [];
  const v4off = s.ipForward !== '1';
  findings.push({
    kind: 'IPForwardingDisabled',
    severity: 'critical',
    active: v4off,
    message: v4off
      ? `net.ipv4.ip_forward is ${s.ipForward}: this node does not forward pod or Service traffic, connections time out silently`
      : 'net.ipv4.ip_forward is 1: forwarding works again',
    evidence: { 'net.ipv4.ip_forward': s.ipForward, ...snmpEvidence(s, mem, !v4off) },
  });

  if (s.ipv6Forward !== undefined && ipv6 !== 'off') {
    const needed = ipv6 === 'on' || s.ipv6PodRoutes.length > 0;
    const v6off = needed && s.ipv6Forward !== '1';
    const evidence: Record<string, string> = { 'net.ipv6.conf.all.forwarding': s.ipv6Forward };
    if (s.ipv6PodRoutes.length)
      evidence.ipv6PodRoutes =
        s.ipv6PodRoutes.slice(0, 3).join(', ') +
        (s.ipv6PodRoutes.length > 3 ? ` (+${s.ipv6PodRoutes.length - 3} more)` : '');
    else if (ipv6 === 'on') evidence.reason = 'IPv6 forwarding required by configuration';
    findings.push({
      kind: 'IPv6ForwardingDisabled',
      severity: 'critical',
      active: v6off,
      message: v6off
        ? `net.ipv6.conf.all.forwarding is ${s.ipv6Forward} while the node routes IPv6 pod traffic: IPv6 pod and Service traffic is not forwarded`
        : needed
          ? 'net.ipv6.conf.all.forwarding is 1: IPv6 forwarding works again'
          : 'no IPv6 pod routes: IPv6 forwarding not needed',
      evidence,
    });
  }

  if (s.bridgeNfCallIptables !== undefined) {
    const off = s.bridgeNfCallIptables !== '1';
    findings.push({
      kind: 'BridgeNfCallIptablesDisabled',
      severity: 'warning',
      active: off,
      message: off
        ? `net.bridge.bridge-nf-call-iptables is ${s.bridgeNfCallIptables}: bridged pod traffic bypasses iptables (Services and NetworkPolicies on bridge CNIs)`
        : 'net.bridge.bridge-nf-call-iptables is 1 again',
      evidence: { 'net.bridge.bridge-nf-call-iptables': s.bridgeNfCallIptables },
    });
  }

  const errs = s.snmpIp?.InAddrErrors;
  const memory = !v4off && errs !== undefined ? { inAddrErrorsWhileForwarding: errs } : mem;
  return { findings, memory };
}
