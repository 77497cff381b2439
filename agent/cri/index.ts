// The container runtime's view of the node (issue 6): polls CRI (or crictl) and sends a compact
// RuntimeSnapshot through the agent's outbox when the view changes, plus a periodic full one.
import { Counter, Gauge, Histogram } from 'prom-client';
import { ConfigError, readFlags, type FlagSpecs } from '../../common/flags.js';
import { onceLogger } from '../../common/log.js';
import { pollLoop } from '../../common/poll.js';
import {
  bindDetector,
  type Detector,
  type DetectorContract,
  type DetectorDeps,
  type RunningDetector,
} from '../detector.js';
import type { FindingSink } from '../findings.js';
import { normalizeEndpoint } from './endpoint.js';
import { MirrorErrorBook } from './mirror-errors.js';
import { RuntimePoller, type ReaderConfig } from './poller.js';
import { SnapshotGate, snapshotDigest } from './snapshot.js';
import { RuntimeUnavailable } from './types.js';

export { RuntimePoller } from './poller.js';
export type { RuntimeReader } from './types.js';

/** The status name under which a missing or hung runtime is reported (once). */
export const RUNTIME_STATUS = 'runtime';

export const runtimeFlags = {
  'runtime-endpoint': {
    type: 'string',
    arg: 'URL',
    help: 'CRI socket, e.g. unix:///run/containerd/containerd.sock (default: $CONTAINER_RUNTIME_ENDPOINT, then runtime-endpoint in /etc/crictl.yaml or $CRI_CONFIG_FILE, then the first existing of /run/containerd/containerd.sock, /run/crio/crio.sock, /var/run/cri-dockerd.sock).',
  },
  crictl: {
    type: 'string',
    arg: 'PATH',
    help: 'Read the runtime by running this crictl binary (crictl pods/ps/inspectp -o json) instead of talking to the socket; --runtime-endpoint, if set, is passed on to it.',
  },
  'runtime-poll': {
    type: 'duration',
    min: 100,
    arg: 'DURATION',
    default: '10s',
    help: 'How often the runtime is polled (a snapshot is sent only when its view changed).',
  },
  'runtime-full-every': {
    type: 'duration',
    min: 100,
    arg: 'DURATION',
    default: '5m',
    help: 'Send the runtime view at least this often even when nothing changed.',
  },
  'runtime-timeout': {
    type: 'duration',
    min: 10,
    arg: 'DURATION',
    default: '2s',
    help: 'Time box of each CRI call (crictl run: this plus 1s).',
  },
  runtime: {
    type: 'choice',
    choices: ['on', 'off'],
    arg: 'on|off',
    default: 'on',
    help: 'Poll the container runtime at all.',
  },
  'kubelet-journal-match': {
    type: 'string',
    arg: 'MATCH',
    default: 'SYSLOG_IDENTIFIER=kubelet',
    help: "journalctl match for the kubelet's own records, read (besides --journal-match) for why it could not create a static pod's mirror pod: the API server's answer is then named in StaticPodNotMirrored. off (or empty): do not read them (e.g. a kubelet that logs to a file).",
  },
} satisfies FlagSpecs;

export interface RuntimeConfig extends ReaderConfig {
  enabled: boolean;
  /** journalctl match (FIELD=value) for the kubelet's records; undefined: not read. */
  kubeletMatch?: string;
  pollMs: number;
  fullEveryMs: number;
}

/** Validates the flags (ConfigError -> exit 2 before anything starts). */
export function runtimeConfig(v: Record<string, unknown>): RuntimeConfig {
  const f = readFlags(runtimeFlags, v);
  const endpoint = f['runtime-endpoint'] ? normalizeEndpoint(f['runtime-endpoint'], '--runtime-endpoint') : undefined;
  const crictl = f.crictl || undefined;
  const pollMs = f['runtime-poll'];
  const fullEveryMs = f['runtime-full-every'];
  if (fullEveryMs < pollMs) throw new ConfigError('--runtime-full-every must not be shorter than --runtime-poll');
  const raw = f['kubelet-journal-match'];
  const kubeletMatch = raw === 'off' ? '' : raw;
  if (kubeletMatch && !/^[A-Z0-9_]+=.+$/.test(kubeletMatch))
    throw new ConfigError(
      `--kubelet-journal-match must be FIELD=value with an upper-case journal field (e.g. _SYSTEMD_UNIT=kubelet.service) or off, not "${kubeletMatch}"`,
    );
  return {
    enabled: f.runtime === 'on',
    endpoint,
    crictl,
    pollMs,
    fullEveryMs,
    timeoutMs: f['runtime-timeout'],
    kubeletMatch: kubeletMatch || undefined,
  };
}

export interface RunningRuntime {
  stop(): Promise<void>;
}

/** The loop without the Detector wrapping, for tests and the bench. */
export function runRuntimeLoop(
  cfg: RuntimeConfig,
  sink: FindingSink,
  deps: Pick<DetectorDeps, 'log' | 'registry' | 'publishRuntime'>,
  now: () => number = Date.now,
  mirrorErrors = new MirrorErrorBook(),
): RunningRuntime {
  const log = deps.log.child({ detector: 'runtime' });
  const poller = new RuntimePoller(cfg);
  const gate = new SnapshotGate(cfg.fullEveryMs);
  const up = new Gauge({
    name: 'nodewarden_agent_runtime_up',
    help: '1 when the last runtime poll succeeded',
    registers: [deps.registry],
  });
  const pods = new Gauge({
    name: 'nodewarden_agent_runtime_pods',
    help: 'pod sandboxes the runtime reported at the last poll',
    registers: [deps.registry],
  });
  const ctrs = new Gauge({
    name: 'nodewarden_agent_runtime_containers',
    help: 'containers (all states) the runtime reported at the last poll',
    registers: [deps.registry],
  });
  const sent = new Counter({
    name: 'nodewarden_agent_runtime_snapshots_total',
    help: 'runtime snapshots handed to the outbox, by why',
    labelNames: ['reason'],
    registers: [deps.registry],
  });
  const seconds = new Histogram({
    name: 'nodewarden_agent_runtime_poll_seconds',
    help: 'wall time of one runtime poll',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [deps.registry],
  });

  // Reported on transitions only: "cannot reach the runtime" once (per kind of failure), and once when it is back.
  let health: { ok: boolean; kind: string } | undefined;
  const setHealth = (ok: boolean, kind: string, detail: string): void => {
    if (health && health.ok === ok && health.kind === kind) return;
    health = { ok, kind };
    sink.status(RUNTIME_STATUS, ok, detail);
    if (ok) log.info({ detail }, 'runtime: reading');
    else log.warn({ detail }, 'runtime: cannot read the container runtime; will keep trying');
  };

  let stopped = false;

  const pollOnce = async (): Promise<void> => {
    const end = seconds.startTimer();
    try {
      const r = await poller.poll();
      if (stopped) return;
      up.set(1);
      pods.set(r.pods);
      ctrs.set(r.containers);
      setHealth(true, 'ok', `${r.snapshot.runtimeName} ${r.snapshot.runtimeVersion} via ${r.snapshot.endpoint}`);
      const t = now();
      r.snapshot.mirrorPodErrors = mirrorErrors.current(t);
      const digest = snapshotDigest(r.snapshot);
      const why = gate.decide(digest, t);
      if (why) {
        deps.publishRuntime({ ...r.snapshot, full: why === 'full' });
        gate.sent(digest, t);
        sent.inc({ reason: why });
        log.debug({ why, pods: r.pods, containers: r.containers }, 'runtime: snapshot sent');
      }
    } catch (err) {
      if (stopped) return;
      up.set(0);
      const e = err instanceof RuntimeUnavailable ? err : new RuntimeUnavailable((err as Error).message, 'error');
      setHealth(false, e.reason, e.message);
    } finally {
      end();
    }
  };

  const loop = pollLoop(pollOnce, { intervalMs: cfg.pollMs });
  log.info(
    {
      endpoint: cfg.endpoint ?? (cfg.crictl ? undefined : 'auto'),
      crictl: cfg.crictl,
      pollMs: cfg.pollMs,
      fullEveryMs: cfg.fullEveryMs,
    },
    'runtime: polling',
  );

  return {
    async stop() {
      stopped = true;
      const done = loop.stop();
      poller.close(); // cancels calls in flight / kills a running crictl
      await done;
    },
  };
}

/**
 * The runtime detector: flags validated at once (ConfigError), polling in the background once the
 * agent starts it. A missing, refusing or hung runtime is one status line, never a crash.
 */
export const runtimeDetector: DetectorContract<RuntimeConfig> = {
  title: 'Container runtime (CRI)',
  flags: runtimeFlags,
  configure: runtimeConfig,
  async start(cfg, sink, deps): Promise<RunningDetector> {
    if (!cfg.enabled) return { async stop() {}, journalConsumers: [] };
    const book = new MirrorErrorBook();
    const loop = runRuntimeLoop(cfg, sink, deps, Date.now, book);
    if (!cfg.kubeletMatch) return { stop: () => loop.stop(), journalConsumers: [] };
    const lines = new Counter({
      name: 'nodewarden_agent_kubelet_mirror_lines_total',
      help: 'kubelet journal lines about mirror pods, by whether their format was understood',
      labelNames: ['result'],
      registers: [deps.registry],
    });
    const warnOnce = onceLogger(deps.log);
    const seen = (line: string, understood: boolean): void => {
      lines.inc({ result: understood ? 'understood' : 'unrecognised' });
      if (!understood)
        warnOnce(
          'kubelet-mirror-unrecognised',
          'runtime: a kubelet line about a mirror pod in a format not understood; further ones are only counted',
          { line: line.slice(0, 300) },
        );
    };
    return { stop: () => loop.stop(), journalConsumers: [book.consumer(cfg.kubeletMatch, seen)] };
  },
};

/** `(values) => Detector` (tests start the runtime detector alone). */
export const startRuntime = (values: Record<string, unknown>): Detector => bindDetector(runtimeDetector, values);
