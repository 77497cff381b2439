// NATS + collector + agent as real processes, the way tests, the demo and the bench run them.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CollectorConfig } from '../../collector/collector.js';
import { startNats, type NatsServer } from './nats.js';
import { startCli, type Proc } from './procs.js';
import { freePort } from './wait.js';

/** Agent flags for tests that wait on delivery: short windows and heartbeats, no probes, no container logs. */
export const QUICK_AGENT_ARGS = [
  '--window',
  '100ms',
  '--max-hold',
  '2s',
  '--heartbeat-interval',
  '1s',
  '--probes',
  'none',
  '--container-log-dir',
  '',
];

/** runCollector's config for in-process tests: the API on a free loopback port, 1 h retention, one stream replica. */
export const collectorTestConfig = (nats: string, extra: Partial<CollectorConfig> = {}): CollectorConfig => ({
  nats,
  natsAuth: {},
  listen: { host: '127.0.0.1', port: 0 },
  retentionMs: 3_600_000,
  streamMaxBytes: 64 << 20,
  streamReplicas: 1,
  nodeStaleMs: 60_000,
  ...extra,
});

export interface StackOptions {
  node: string;
  journalDir: string;
  /** PodList items (kubectl get pods -A -o json shape) for --pods-file. */
  pods?: unknown[];
  agentArgs?: string[];
  collectorArgs?: string[];
  /** Run everything inside this network namespace (its own loopback). */
  netns?: string;
  /** NATS token auth: the server requires it and both roles are given it. */
  natsToken?: string;
  /** Extra environment for the agent process (e.g. the DaemonSet's NODE_OPTIONS). */
  agentEnv?: NodeJS.ProcessEnv;
  /** The agent's --state-dir (default: a fresh dir under the stack's temp dir), e.g. a small tmpfs. */
  stateDir?: string;
}

export interface Stack {
  nats: NatsServer;
  collector: Proc;
  agent: Proc;
  api: string;
  dir: string;
  startAgent(): Proc;
  startCollector(): Proc;
  stop(): Promise<void>;
}

export async function startStack(o: StackOptions): Promise<Stack> {
  const dir = mkdtempSync(join(tmpdir(), 'nw-stack-'));
  const nats = await startNats({ netns: o.netns, token: o.natsToken });
  const auth = o.natsToken ? ['--nats-token', o.natsToken] : [];
  // Inside a fresh netns every port is free; on the host ask the kernel for one.
  const port = o.netns ? 18080 : await freePort();
  const podsArgs: string[] = [];
  if (o.pods) {
    writeFileSync(join(dir, 'pods.json'), JSON.stringify({ apiVersion: 'v1', kind: 'List', items: o.pods }));
    podsArgs.push('--pods-file', join(dir, 'pods.json'));
  }
  const s: Stack = {
    nats,
    dir,
    api: `http://127.0.0.1:${port}`,
    collector: undefined as unknown as Proc,
    agent: undefined as unknown as Proc,
    startCollector: () =>
      (s.collector = startCli(
        [
          'collector',
          '--nats',
          nats.url,
          ...auth,
          '--listen',
          `127.0.0.1:${port}`,
          ...podsArgs,
          ...(o.collectorArgs ?? []),
        ],
        {},
        o.netns,
      )),
    startAgent: () =>
      (s.agent = startCli(
        [
          'agent',
          '--node',
          o.node,
          '--nats',
          nats.url,
          ...auth,
          '--state-dir',
          o.stateDir ?? join(dir, 'agent-state'),
          '--journal-dir',
          o.journalDir,
          ...(o.agentArgs ?? []),
        ],
        o.agentEnv ?? {},
        o.netns,
      )),
    async stop() {
      await s.agent?.stop();
      await s.collector?.stop();
      await nats.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    await s.startCollector().waitForLog(/collector: consuming/);
    await s.startAgent().waitForLog(/journal: following/);
  } catch (err) {
    await s.stop();
    throw err;
  }
  return s;
}
