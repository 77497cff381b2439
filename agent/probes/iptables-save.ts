// Pure parser of `iptables-save -c` (nft and legacy backends print the same format).

export interface ChainCounters {
  table: string;
  chain: string;
  /** Built-in chains only; user chains print "-". */
  policy?: string;
  packets: number;
  bytes: number;
}

export interface RuleCounters {
  table: string;
  chain: string;
  /** The rule as saved, without "-A CHAIN" and counters: its identity across polls. */
  spec: string;
  /** The -j target (DROP, REJECT, LOG, a user chain...); undefined for rules without one. */
  target?: string;
  /** Protocol name; iptables prints a number for protocols missing from /etc/protocols. */
  proto?: string;
  packets: number;
  bytes: number;
}

export interface IptablesSnapshot {
  chains: ChainCounters[];
  rules: RuleCounters[];
}

const CHAIN = /^:(\S+) (\S+) \[(\d+):(\d+)\]/;
const LEADING_COUNTERS = /^\[(\d+):(\d+)\] /;

// Numbers iptables may print instead of names (iptables -L always, -save without /etc/protocols).
const PROTO_NAMES: Record<string, string> = {
  '0': 'all',
  '1': 'icmp',
  '6': 'tcp',
  '17': 'udp',
  '47': 'gre',
  '50': 'esp',
  '51': 'ah',
  '58': 'ipv6-icmp',
  '132': 'sctp',
  '136': 'udplite',
};

/** Splits a rule into arguments the way the shell would: "--log-prefix "calico-packet: "" is one. */
export function splitArgs(text: string): string[] {
  const args: string[] = [];
  let cur = '';
  let quoted = false;
  let has = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '\\' && quoted && i + 1 < text.length) {
      cur += text[++i];
    } else if (c === '"') {
      quoted = !quoted;
      has = true;
    } else if (c === ' ' && !quoted) {
      if (has) args.push(cur);
      cur = '';
      has = false;
    } else {
      cur += c;
      has = true;
    }
  }
  if (has) args.push(cur);
  return args;
}

function protoName(p: string): string {
  return PROTO_NAMES[p] ?? p;
}

function parseRule(table: string, line: string): RuleCounters | undefined {
  let packets = 0,
    bytes = 0,
    rest = line;
  const lead = LEADING_COUNTERS.exec(line);
  if (lead) {
    packets = Number(lead[1]);
    bytes = Number(lead[2]);
    rest = line.slice(lead[0].length);
  }
  const args = splitArgs(rest);
  if (args[0] !== '-A' || args.length < 2) return undefined;
  const chain = args[1];
  const spec: string[] = [];
  let target: string | undefined, proto: string | undefined;
  for (let i = 2; i < args.length; i++) {
    const a = args[i];
    // "-c PKTS BYTES" inline is how `iptables -S -v` and some versions print counters
    if (a === '-c' && !lead && i + 2 < args.length) {
      packets = Number(args[i + 1]);
      bytes = Number(args[i + 2]);
      i += 2;
      continue;
    }
    if ((a === '-j' || a === '--jump') && target === undefined) target = args[i + 1];
    if ((a === '-p' || a === '--protocol') && proto === undefined && args[i + 1] !== undefined)
      proto = protoName(args[i + 1].toLowerCase());
    spec.push(/[\s"]/.test(a) || a === '' ? `"${a.replace(/(["\\])/g, '\\$1')}"` : a);
  }
  if (!Number.isFinite(packets) || !Number.isFinite(bytes)) return undefined;
  return { table, chain, spec: spec.join(' '), target, proto, packets, bytes };
}

export function parseIptablesSave(text: string): IptablesSnapshot {
  const chains: ChainCounters[] = [];
  const rules: RuleCounters[] = [];
  let table = '';
  for (const raw of text.split('\n')) {
    const line = raw.trimEnd();
    if (line === '' || line[0] === '#') continue;
    if (line[0] === '*') {
      table = line.slice(1);
    } else if (line[0] === ':') {
      const m = CHAIN.exec(line);
      if (m && table)
        chains.push({
          table,
          chain: m[1],
          policy: m[2] === '-' ? undefined : m[2],
          packets: Number(m[3]),
          bytes: Number(m[4]),
        });
    } else if (table && line !== 'COMMIT') {
      const r = parseRule(table, line);
      if (r) rules.push(r);
    }
  }
  return { chains, rules };
}
