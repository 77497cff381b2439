// Node probes (docs/architecture.md#data-flow): what the agent starts, and the flags it gains for them.
import type { Registry } from 'prom-client';
import type { Logger } from '../../common/log.js';
import type { FindingSink } from '../findings.js';
import type { JournalConsumer } from '../sources/journal-consumer.js';
import type { DetectorContract } from '../detector.js';
import { probeConfig, probeFlags, type ProbeConfig } from './config.js';
import { conntrackProbe } from './conntrack.js';
import { startProbe, type Probe } from './framework.js';
import { iptablesProbe } from './iptables.js';
import { journaldProbe } from './journald.js';
import { nodePidsProbe, podPidsProbe } from './pids.js';
import { sysctlProbe } from './sysctl.js';

export { probeFlags };

export interface RunningProbes {
  stop(): Promise<void>;
  /** Kernel journal readers that add evidence (fork rejected by pids, conntrack table full). */
  journalConsumers: JournalConsumer[];
}

/** Starts the enabled probes; throws ConfigError on invalid flag values. */
export function startProbes(
  values: Record<string, unknown>,
  sink: FindingSink,
  deps: { log: Logger; registry: Registry },
): RunningProbes {
  return runProbes(probeConfig(values), sink, deps);
}

export const probesDetector: DetectorContract<ProbeConfig> = {
  title: 'Node probes',
  flags: probeFlags,
  configure: probeConfig,
  start: async (cfg, sink, deps) => runProbes(cfg, sink, deps),
};

function runProbes(cfg: ProbeConfig, sink: FindingSink, deps: { log: Logger; registry: Registry }): RunningProbes {
  const probes: Probe[] = [];
  const journalConsumers: JournalConsumer[] = [];
  const pidOpts = {
    intervalMs: cfg.intervalMs,
    procRoot: cfg.procRoot,
    cgroupRoot: cfg.cgroupRoot,
    nodePercent: cfg.pidPressurePercent,
    podPercent: cfg.podPidsPercent,
  };

  if (cfg.enabled.has('sysctl'))
    probes.push(sysctlProbe({ intervalMs: cfg.intervalMs, procRoot: cfg.procRoot, ipv6: cfg.ipv6 }));
  if (cfg.enabled.has('iptables'))
    probes.push(
      iptablesProbe({
        intervalMs: cfg.iptablesIntervalMs,
        commands: cfg.iptablesSave,
        dropRatePerSec: cfg.iptablesDropRate,
        registry: deps.registry,
      }),
    );
  if (cfg.enabled.has('pids')) probes.push(nodePidsProbe(pidOpts));
  if (cfg.enabled.has('pod-pids')) {
    const p = podPidsProbe(pidOpts);
    probes.push(p.probe);
    journalConsumers.push(p.consumer);
  }
  if (cfg.enabled.has('conntrack')) {
    const c = conntrackProbe({
      intervalMs: cfg.intervalMs,
      procRoot: cfg.procRoot,
      thresholdPercent: cfg.conntrackPercent,
    });
    probes.push(c.probe);
    journalConsumers.push(c.consumer);
  }
  if (cfg.enabled.has('journald')) {
    probes.push(
      journaldProbe({
        intervalMs: cfg.journaldIntervalMs,
        procRoot: cfg.procRoot,
        windowMs: cfg.journaldWindowMs,
        minGrowthBytes: cfg.journaldGrowthBytes,
      }),
    );
  }

  const running = probes.map((p) =>
    startProbe(p, sink, { timeoutMs: cfg.timeoutMs, refreshMs: cfg.refreshMs, log: deps.log }),
  );
  deps.log.info({ probes: probes.map((p) => `${p.name}/${p.intervalMs}ms`) }, 'node probes started');
  return {
    async stop() {
      await Promise.all(running.map((r) => r.stop()));
    },
    journalConsumers,
  };
}
