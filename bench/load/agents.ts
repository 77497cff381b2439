// The load generator: N simulated agents, each a real NATS client publishing real envelopes through
// the agent's own outbox (agent/outbox/outbox.ts: coalescing, spool, message IDs, acks, retries) and
// publisher (agent/outbox/publisher.ts), wired as agent/agent.ts wires them. Only the sources are
// simulated: drops arrive as parsed Drop records instead of kernel lines read from journald.
// Used by `npm run bench -- scale` (through bench/load/fleet-proc.ts, so its CPU is its own) and by
// test/scale-fault.test.ts (in process).
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { Outbox, type OutboxCounter } from '../../agent/outbox/outbox.js';
import { Publisher } from '../../agent/outbox/publisher.js';
import type { Drop } from '../../agent/parse/packet-drop.js';
import type { RuntimeSnapshot } from '../../proto/codec.js';

/** Where a simulated pod lives: its IP and node index (0-based, the agent that sees its drops). */
export interface SimPod {
  ip: string;
  node: number;
  namespace: string;
  name: string;
}

export interface FleetOptions {
  /** Agents to run here: node indexes first .. first+n-1 (several processes split one fleet). */
  first?: number;
  n: number;
  /** NATS URLs, comma-separated (every agent gets them all, as the DaemonSet's --nats would). */
  nats: string;
  /** Parent of the agents' state dirs (put it on tmpfs: 1,000 agents fsync their spools). */
  stateRoot: string;
  pods: SimPod[];
  /** IPs of the DNS pods the storm's flows go to (the seed incident: DNS blocked everywhere). */
  dnsIps: string[];
  windowMs?: number;
}

export const nodeName = (i: number) => `scale-node-${String(i).padStart(4, '0')}`;

/** Totals per node: what the agents handed to their outboxes (the truth the collector must show). */
export interface FleetCounts {
  drops: number;
  /** node -> flow key (src|dst|proto|port) -> drops */
  flows: Record<string, Record<string, number>>;
}

export interface FleetStats {
  agents: number;
  connected: number;
  messages: Record<string, number>;
  bytes: Record<string, number>;
  outbox: Partial<
    Record<OutboxCounter | 'nats_connect_connected' | 'nats_connect_unreachable' | 'nats_connect_auth_failed', number>
  >;
  /** Sealed envelopes not acked yet, and open coalescing windows: 0 and 0 means everything is in NATS. */
  spooled: number;
  openFlows: number;
}

const silent = pino({ level: 'silent' });
const KINDS = ['drops', 'finding', 'heartbeat', 'runtime'] as const;

class CountingPublisher extends Publisher {
  constructor(
    url: string,
    name: string,
    private readonly fleet: Fleet,
  ) {
    super({ url, auth: {}, name, log: silent, count: (c) => fleet.bump(c) });
  }
  override publish(subject: string, data: Uint8Array, msgID: string) {
    const kind = subject.slice(subject.lastIndexOf('.') + 1);
    this.fleet.sent(kind, data.length);
    return super.publish(subject, data, msgID);
  }
}

interface SimAgent {
  index: number;
  node: string;
  publisher: Publisher;
  outbox: Outbox;
  flows: Drop[];
  started: number;
}

export class Fleet {
  private readonly agents: SimAgent[] = [];
  private readonly messages: Record<string, number> = Object.fromEntries(KINDS.map((k) => [k, 0]));
  private readonly bytes: Record<string, number> = Object.fromEntries(KINDS.map((k) => [k, 0]));
  private readonly outboxCounts: FleetStats['outbox'] = {};
  private readonly counts: FleetCounts = { drops: 0, flows: {} };
  private timers: NodeJS.Timeout[] = [];
  private markerPort = 0;

  constructor(private readonly o: FleetOptions) {}

  bump(name: string, n = 1): void {
    const k = name as keyof FleetStats['outbox'];
    this.outboxCounts[k] = (this.outboxCounts[k] ?? 0) + n;
  }
  sent(kind: string, bytes: number): void {
    this.messages[kind] = (this.messages[kind] ?? 0) + 1;
    this.bytes[kind] = (this.bytes[kind] ?? 0) + bytes;
  }

  /** Starts every agent's publisher and outbox; resolves when all are connected (bounded). */
  async start(timeoutMs = 120_000): Promise<void> {
    const first = this.o.first ?? 0;
    const byNode = new Map<number, SimPod[]>();
    for (const p of this.o.pods) {
      const l = byNode.get(p.node);
      if (l) l.push(p);
      else byNode.set(p.node, [p]);
    }
    for (let i = first; i < first + this.o.n; i++) {
      const node = nodeName(i);
      const stateDir = join(this.o.stateRoot, node);
      mkdirSync(stateDir, { recursive: true });
      const publisher = new CountingPublisher(this.o.nats, `nodewarden-agent/${node}`, this);
      const outbox = new Outbox({
        node,
        agentId: `sim${String(i).padStart(28, '0')}`,
        agentVersion: 'sim',
        stateDir,
        spoolMaxBytes: 64 * 2 ** 20,
        windowMs: this.o.windowMs ?? 100,
        maxHoldMs: 30_000,
        maxFlows: 5000,
        maxInFlight: 256,
        publisher,
        journalCursor: () => undefined,
        log: silent,
        count: (c, n) => this.bump(c, n),
      });
      this.agents.push({
        index: i,
        node,
        publisher,
        outbox,
        flows: stormFlows(i, byNode.get(i) ?? [], this.o.dnsIps, this.o.pods),
        started: Date.now(),
      });
    }
    // Connect in small batches, as a fleet rolling out does, not 1,000 TCP handshakes in one tick.
    for (let k = 0; k < this.agents.length; k += 50) {
      for (const a of this.agents.slice(k, k + 50)) {
        a.publisher.start();
        a.outbox.start();
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    const until = Date.now() + timeoutMs;
    while (this.agents.some((a) => !a.publisher.connected)) {
      if (Date.now() > until)
        throw new Error(
          `${this.agents.filter((a) => !a.publisher.connected).length} of ${this.agents.length} simulated agents not connected in ${timeoutMs} ms`,
        );
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  private add(a: SimAgent, d: Drop, n: number, now: number): void {
    for (let k = 0; k < n; k++) a.outbox.addDrop(d, now);
    this.counts.drops += n;
    const per = (this.counts.flows[a.node] ??= {});
    const key = flowKey(d);
    per[key] = (per[key] ?? 0) + n;
  }

  /**
   * Steady state, until stop(): a heartbeat every heartbeatMs, flowsPerMinute drops of a few flows,
   * a runtime snapshot every runtimeMs (a full one first). Timers are spread over the interval.
   */
  steady(o: { heartbeatMs?: number; flowsPerMinute?: number; runtimeMs?: number } = {}): void {
    const hb = o.heartbeatMs ?? 10_000,
      fpm = o.flowsPerMinute ?? 3,
      rt = o.runtimeMs ?? 60_000;
    for (const a of this.agents) {
      const jitter = Math.random();
      const every = (ms: number, fn: () => void) => {
        const t0 = setTimeout(() => {
          fn();
          this.timers.push(setInterval(fn, ms));
        }, jitter * ms);
        this.timers.push(t0);
      };
      every(hb, () =>
        a.outbox.sendHeartbeat({
          startedMs: a.started,
          counters: { drop_lines: 0, spool_bytes: a.outbox.spoolBytes },
          probes: [{ name: 'nats', ok: a.publisher.connected, detail: 'connected' }],
        }),
      );
      if (fpm > 0)
        every(60_000 / fpm, () => this.add(a, a.flows[Math.floor(Math.random() * a.flows.length)], 1, Date.now()));
      let full = true;
      every(rt, () => {
        a.outbox.addRuntime(runtimeSnapshot(a.node, full));
        full = false;
      });
    }
  }

  /**
   * Every agent: each of its flows gets dropsPerSecond drops for seconds, added every tickMs by wall
   * time (a late tick adds what is due, so the rate stays the kernel's), yielding to I/O every tick
   * (NATS sockets and the outboxes' window timers must run however late the generator is).
   */
  async storm(o: { seconds: number; dropsPerSecond?: number; tickMs?: number; onTick?: () => void }): Promise<void> {
    const tick = o.tickMs ?? 100;
    const rate = o.dropsPerSecond ?? 20;
    const t0 = performance.now();
    let added = 0;
    const addDue = (elapsedMs: number) => {
      const n = Math.floor((Math.min(elapsedMs, o.seconds * 1000) * rate) / 1000) - added;
      if (n <= 0) return;
      added += n;
      const now = Date.now();
      for (const a of this.agents) for (const d of a.flows) this.add(a, d, n, now);
    };
    for (let k = 1; ; k++) {
      const elapsed = performance.now() - t0;
      if (elapsed >= o.seconds * 1000) break;
      addDue(elapsed);
      o.onTick?.();
      await new Promise((r) => setTimeout(r, Math.max(0, t0 + k * tick - performance.now())));
    }
    addDue(o.seconds * 1000);
  }

  /** A drop on a flow of its own (a new port) from agent i, for publish -> API latency. */
  marker(i = Math.floor(Math.random() * this.agents.length)): { node: string; port: number; atMs: number } {
    const a = this.agents[i];
    const port = 20_000 + (this.markerPort++ % 40_000);
    const d: Drop = { ...a.flows[0], proto: 'TCP', dstPort: port, message: `${a.flows[0].message} marker ${port}` };
    const atMs = Date.now();
    this.add(a, d, 1, atMs);
    return { node: a.node, port, atMs };
  }

  snapshot(): FleetCounts {
    return structuredClone(this.counts);
  }

  stats(): FleetStats {
    return {
      agents: this.agents.length,
      connected: this.agents.filter((a) => a.publisher.connected).length,
      messages: { ...this.messages },
      bytes: { ...this.bytes },
      outbox: { ...this.outboxCounts },
      spooled: this.agents.reduce((s, a) => s + a.outbox.spoolMessages, 0),
      openFlows: this.agents.reduce((s, a) => s + a.outbox.openFlows, 0),
    };
  }

  /** Resolves when every drop added so far is acked by JetStream (bounded). */
  async drained(timeoutMs = 120_000): Promise<void> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const s = this.stats();
      if (s.spooled === 0 && s.openFlows === 0) return;
      if (Date.now() > until) throw new Error(`fleet not drained in ${timeoutMs} ms: ${JSON.stringify(s)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  stopSteady(): void {
    for (const t of this.timers) {
      clearTimeout(t);
      clearInterval(t);
    }
    this.timers = [];
  }

  async stop(): Promise<void> {
    this.stopSteady();
    await Promise.all(
      this.agents.map(async (a) => {
        await a.outbox.stop(1000);
        await a.publisher.close();
      }),
    );
    rmSync(this.o.stateRoot, { recursive: true, force: true });
  }
}

/** The collector's flow identity, as the API shows it: src|dst|proto|dstPort. */
export const flowKey = (d: { src: string; dst: string; proto: string; dstPort?: number }) =>
  `${d.src}|${d.dst}|${d.proto}|${d.dstPort ?? ''}`;

/**
 * 50 distinct flows per node, as the seed incident makes them: the node's pods towards both DNS pods
 * (UDP 53, dropped by a deny-all in kube-system), then towards other pods of the cluster.
 */
export function stormFlows(node: number, local: SimPod[], dnsIps: string[], all: SimPod[], count = 50): Drop[] {
  const srcs = local.length
    ? local
    : [{ ip: `10.255.${(node >> 8) & 255}.${node & 255}`, node, namespace: '', name: '' }];
  const out: Drop[] = [];
  for (let f = 0; f < count; f++) {
    const src = srcs[f % srcs.length];
    const dns = f < 20 && dnsIps.length ? dnsIps[Math.floor(f / srcs.length) % dnsIps.length] : undefined;
    const dst = dns ?? all[(node * 31 + f * 97) % Math.max(1, all.length)]?.ip ?? '10.254.0.1';
    const proto = dns ? 'UDP' : 'TCP';
    const dstPort = dns ? 53 : 8000 + f;
    const iface = `cali${(node * 64 + (f % srcs.length)).toString(16).padStart(11, '0')}`;
    out.push({
      prefix: 'calico-packet:',
      family: 4,
      proto,
      src: src.ip,
      dst,
      srcPort: 30000 + f,
      dstPort,
      in: iface,
      out: 'eth0',
      ttl: 63,
      message: `calico-packet: IN=${iface} OUT=eth0 SRC=${src.ip} DST=${dst} LEN=60 TOS=0x00 PREC=0x00 TTL=63 ID=4242 DF PROTO=${proto} SPT=${30000 + f} DPT=${dstPort} LEN=40`,
    });
  }
  // A node with fewer local pods than DNS pods x 10 may repeat a (src, dst) pair: keep the flows distinct.
  const seen = new Set<string>();
  return out.filter((d) => {
    const k = flowKey(d);
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

function runtimeSnapshot(node: string, full: boolean): RuntimeSnapshot {
  return {
    full,
    runtimeName: 'containerd',
    runtimeVersion: '1.7.22',
    endpoint: 'unix:///run/containerd/containerd.sock',
    conditions: [
      { type: 'NetworkReady', status: true },
      { type: 'RuntimeReady', status: true },
    ],
    pods: [
      {
        id: `${node}-proxy`,
        namespace: 'kube-system',
        name: `kube-proxy-${node}`,
        uid: `uid-${node}`,
        state: 'SANDBOX_READY',
        createdMs: Date.now() - 3_600_000,
        containers: [
          {
            id: `${node}-c`,
            name: 'kube-proxy',
            image: 'registry.k8s.io/kube-proxy:v1.31.0',
            state: 'CONTAINER_RUNNING',
            attempt: 0,
            createdMs: Date.now() - 3_600_000,
          },
        ],
      },
    ],
  };
}

/**
 * A PodList (`kubectl get pods -A -o json` shape, for --pods-file) of `count` pods over `nodes` nodes, plus 2 kube-dns
 * pods.
 */
export function generatePods(count: number, nodes: number): { pods: SimPod[]; dnsIps: string[]; podList: unknown } {
  const pods: SimPod[] = [];
  for (let i = 0; i < count; i++) {
    const n = i + 256; // skip 10.64.0.x
    pods.push({
      ip: `10.${64 + (n >> 16)}.${(n >> 8) & 255}.${n & 255}`,
      node: i % nodes,
      namespace: `team-${i % 100}`,
      name: `app-${i}`,
    });
  }
  const dns = [0, 1].map((k) => ({
    ip: `10.96.250.${10 + k}`,
    node: k % nodes,
    namespace: 'kube-system',
    name: `coredns-${k}`,
  }));
  const item = (p: SimPod, labels: Record<string, string>, k: number) => ({
    metadata: {
      namespace: p.namespace,
      name: p.name,
      uid: `00000000-0000-4000-8000-${String(k).padStart(12, '0')}`,
      labels,
    },
    spec: {
      nodeName: nodeName(p.node),
      containers: [{ name: 'app', ports: [{ name: 'dns', containerPort: 53, protocol: 'UDP' }] }],
    },
    status: {
      phase: 'Running',
      podIP: p.ip,
      podIPs: [{ ip: p.ip }],
      hostIP: `192.168.${(p.node >> 8) & 255}.${p.node & 255}`,
    },
  });
  const podList = {
    apiVersion: 'v1',
    kind: 'List',
    items: [
      ...pods.map((p, k) => item(p, { app: 'app' }, k)),
      ...dns.map((p, k) => item(p, { 'k8s-app': 'kube-dns' }, count + k)),
    ],
  };
  return { pods, dnsIps: dns.map((d) => d.ip), podList };
}
