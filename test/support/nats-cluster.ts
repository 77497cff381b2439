// A real 3-node (or n-node) nats-server cluster with JetStream on 127.0.0.1: free client, route and
// monitoring ports per node, a temp store per node, one cluster name, a server_name each. Nodes can be
// SIGKILLed and started again on the same ports and store (an outage of one node).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, waitFor } from './wait.js';

export interface ClusterNode {
  name: string;
  url: string;
  /** The running server's PID (undefined while killed). */
  pid(): number | undefined;
  /** SIGKILL; the store survives. */
  kill(): Promise<void>;
  /** Starts it again on the same ports and store; resolves when it is ready. */
  start(): Promise<void>;
  /** `/jsz` of this node's monitoring port (JetStream meta cluster, streams). */
  jsz(): Promise<{ meta_cluster?: { leader?: string; cluster_size?: number } } | undefined>;
}

export interface NatsCluster {
  nodes: ClusterNode[];
  /** All client URLs, comma-separated (as --nats takes them). */
  urls: string;
  /** Resolves once the JetStream meta group has a leader every live node agrees on (bounded). */
  waitForMetaLeader(timeoutMs?: number): Promise<string>;
  stop(): Promise<void>;
}

/** Every server any cluster started, killed if this process exits first (one listener for all). */
const children = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});

export async function startNatsCluster(opts: { binary: string; size?: number; name?: string }): Promise<NatsCluster> {
  const size = opts.size ?? 3;
  const cluster = opts.name ?? 'nw-test';
  const ports = await Promise.all(
    Array.from({ length: size }, async () => ({
      client: await freePort(),
      route: await freePort(),
      monitor: await freePort(),
    })),
  );
  const root = mkdtempSync(join(tmpdir(), 'nw-nats-cluster-'));

  const nodes: ClusterNode[] = ports.map((p, i) => {
    const name = `n${i + 1}`;
    const conf = join(root, `${name}.conf`);
    const routes = ports
      .filter((_, k) => k !== i)
      .map((q) => `"nats-route://127.0.0.1:${q.route}"`)
      .join(', ');
    writeFileSync(
      conf,
      `server_name: ${name}
listen: "127.0.0.1:${p.client}"
http: "127.0.0.1:${p.monitor}"
jetstream { store_dir: "${join(root, name)}" }
cluster { name: ${cluster}, listen: "127.0.0.1:${p.route}", routes: [${routes}] }
`,
    );
    let child: ChildProcess | undefined;
    let log = '';
    const jsz = async () => {
      try {
        const r = await fetch(`http://127.0.0.1:${p.monitor}/jsz`, { signal: AbortSignal.timeout(2000) });
        return r.ok ? ((await r.json()) as { meta_cluster?: { leader?: string; cluster_size?: number } }) : undefined;
      } catch {
        return undefined;
      }
    };
    return {
      name,
      url: `nats://127.0.0.1:${p.client}`,
      pid: () => (child && child.exitCode === null && child.signalCode === null ? child.pid : undefined),
      jsz,
      async start() {
        log = '';
        const c = spawn(opts.binary, ['-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
        child = c;
        children.add(c);
        c.on('exit', () => children.delete(c));
        const keep = (b: Buffer) => {
          log = (log + b.toString()).slice(-4000);
        };
        c.stdout!.on('data', keep);
        c.stderr!.on('data', keep);
        await waitFor(
          `nats-server ${name} ready (log: ${log})`,
          () => /Server is ready/.test(log) || c.exitCode !== null,
          30_000,
          50,
        );
        if (c.exitCode !== null) throw new Error(`nats-server ${name} exited ${c.exitCode}: ${log}`);
      },
      async kill() {
        const c = child;
        if (!c || c.exitCode !== null || c.signalCode !== null) return;
        await new Promise<void>((r) => {
          c.once('exit', () => r());
          c.kill('SIGKILL');
        });
      },
    };
  });

  await Promise.all(nodes.map((n) => n.start()));
  return {
    nodes,
    urls: nodes.map((n) => n.url).join(','),
    async waitForMetaLeader(timeoutMs = 60_000) {
      return waitFor(
        'a JetStream meta leader all live nodes agree on',
        async () => {
          const live = nodes.filter((n) => n.pid() !== undefined);
          const leaders = await Promise.all(live.map(async (n) => (await n.jsz())?.meta_cluster?.leader));
          return leaders.every((l) => l && l === leaders[0]) ? leaders[0] : undefined;
        },
        timeoutMs,
        200,
      );
    },
    async stop() {
      for (const n of nodes) await n.kill();
      rmSync(root, { recursive: true, force: true });
    },
  };
}
