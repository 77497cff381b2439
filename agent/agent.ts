// Wires the agent: journal -> detectors -> outbox -> NATS, plus heartbeats and /metrics.
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import type { Server } from 'node:http';
import { Registry } from 'prom-client';
import type { Logger } from '../common/log.js';
import type { NatsAuth } from '../common/nats.js';
import { startMetricsServer } from '../common/metrics-server.js';
import { VERSION } from '../common/version.js';
import { JobGuard } from '../common/guard.js';
import { JournalSource } from './sources/journal.js';
import type { JournalConsumer } from './sources/journal-consumer.js';
import { dropConsumer } from './drop-consumer.js';
import { agentMetrics, dropRejectCounter, type AgentCounter } from './metrics.js';
import { Outbox } from './outbox/outbox.js';
import { Publisher } from './outbox/publisher.js';
import type { FindingSink } from './findings.js';
import type { Detector } from './detector.js';

export interface AgentConfig {
  node: string;
  nats: string;
  natsAuth: NatsAuth;
  stateDir: string;
  dropPrefixes: string[];
  journalctl: string;
  journalDir?: string;
  journalMatch: string[];
  metricsListen?: { host: string; port: number };
  windowMs: number;
  maxHoldMs: number;
  spoolMaxBytes: number;
  heartbeatMs: number;
}

export interface RunningAgent {
  stop(): Promise<void>;
  registry: Registry;
}

export async function runAgent(cfg: AgentConfig, log: Logger, detectors: Detector[] = []): Promise<RunningAgent> {
  mkdirSync(cfg.stateDir, { recursive: true });
  // 128 random bits: message IDs <node>/<agentId>/<seq> nobody can guess (or collide with) by accident.
  const agentId = randomBytes(16).toString('hex');
  const started = Date.now();
  const registry = new Registry();
  const metrics = agentMetrics(registry);
  const counts: Record<string, number> = {};
  const count = (name: AgentCounter, n = 1): void => {
    counts[name] = (counts[name] ?? 0) + n;
    metrics.count(name, n);
  };
  const probes: { name: string; ok: boolean; detail: string }[] = [];

  // Bind first: a taken port must fail the start before anything runs.
  let journalReady = false;
  let server: Server | undefined;
  const publisher = new Publisher({
    url: cfg.nats,
    auth: cfg.natsAuth,
    name: `nodewarden-agent/${cfg.node}`,
    log,
    count,
  });
  const notReady = (): string | undefined => (journalReady ? publisher.notReadyReason() : 'journal not followed yet');
  if (cfg.metricsListen)
    server = await startMetricsServer(cfg.metricsListen.host, cfg.metricsListen.port, registry, notReady);

  let journal: JournalSource | undefined;
  const outbox = new Outbox({
    node: cfg.node,
    agentId,
    agentVersion: VERSION,
    stateDir: cfg.stateDir,
    spoolMaxBytes: cfg.spoolMaxBytes,
    windowMs: cfg.windowMs,
    maxHoldMs: cfg.maxHoldMs,
    maxFlows: 5000,
    maxInFlight: 256,
    publisher,
    journalCursor: () => journal?.currentCursor(),
    log,
    count,
  });
  metrics.gauges({
    spoolBytes: () => outbox.spoolBytes,
    spoolMemoryBytes: () => outbox.spoolMemoryBytes,
    spoolMessages: () => outbox.spoolMessages,
    natsConnected: () => publisher.connected,
  });

  const sink: FindingSink = {
    report: (f) => outbox.addFinding(f),
    status: (name, ok, detail) => {
      const p = probes.find((x) => x.name === name);
      if (p && p.ok === ok && p.detail === detail) return;
      if (p) Object.assign(p, { ok, detail });
      else probes.push({ name, ok, detail });
      (ok ? log.info.bind(log) : log.warn.bind(log))(
        { probe: name, detail },
        ok ? 'probe: running' : 'probe: cannot run on this host',
      );
    },
  };
  const stoppers: (() => Promise<void>)[] = [];
  const consumers: JournalConsumer[] = [
    dropConsumer(
      cfg.dropPrefixes,
      (d, t) => outbox.addDrop(d, t),
      (reason) => count(dropRejectCounter(reason)),
      log,
    ),
  ];
  for (const start of detectors) {
    const d = await start(sink, {
      log,
      registry,
      stateDir: cfg.stateDir,
      publishRuntime: (snap) => outbox.addRuntime(snap),
    });
    consumers.push(...d.journalConsumers);
    stoppers.push(() => d.stop());
  }

  journal = new JournalSource({
    journalctl: cfg.journalctl,
    journalDir: cfg.journalDir,
    match: cfg.journalMatch,
    afterCursor: outbox.resumeCursor,
    consumers,
    log,
    onCounter: (name, n) => count(`journal_${name}`, n),
    onReady: () => {
      if (!journalReady) {
        journalReady = true;
        log.info({ resumeCursor: outbox.resumeCursor ?? null }, 'journal: following');
      }
    },
  });

  publisher.start();
  outbox.start();
  journal.start();
  const guard = new JobGuard(log, registry, 'nodewarden_agent');
  const heartbeat = guard.wrap('heartbeat', () =>
    outbox.sendHeartbeat({
      startedMs: started,
      counters: { ...counts, spool_bytes: outbox.spoolBytes, spool_memory_bytes: outbox.spoolMemoryBytes },
      probes: [...probes, publisher.probe()],
    }),
  );
  const hbTimer = setInterval(heartbeat, cfg.heartbeatMs);
  // First heartbeat soon after connecting, so /api/v1/nodes shows the node at once.
  const firstHb = setInterval(() => {
    if (publisher.connected) {
      heartbeat();
      clearInterval(firstHb);
    }
  }, 100);

  log.info(
    { node: cfg.node, agentId, version: VERSION, stateDir: cfg.stateDir, prefixes: cfg.dropPrefixes },
    'agent: started',
  );

  return {
    registry,
    async stop() {
      clearInterval(hbTimer);
      clearInterval(firstHb);
      await journal?.stop();
      for (const s of stoppers) await s();
      await outbox.stop();
      await publisher.close();
      server?.close();
      log.info({ counts }, 'agent: stopped');
    },
  };
}
