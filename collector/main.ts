// The collector role: its flags (in --help groups), their validation, and the wiring from flags to a
// stopped process (pod source, policy explanation, runtime view, DNS/API-server checks, Events, API).
// cli/commands/collector.ts only dispatches here.
import { Registry } from 'prom-client';
import {
  ConfigError,
  parseListen,
  readFlags,
  type CommandSpec,
  type FlagSpecs,
  type FlagValues,
  flagGroup,
} from '../common/flags.js';
import { configureLogging, createLogger, loggingFlags, type LogFormat } from '../common/log.js';
import { JobGuard, installLastResort } from '../common/guard.js';
import { natsAuth, natsFlags } from '../common/nats-flags.js';
import { untilSignal } from '../common/process.js';
import { runCollector, type CollectorConfig } from './collector.js';
import { loadPodsFile } from './resolve/pods-file.js';
import { IpIndex, type Resolver } from './resolve/resolver.js';
import { loadKubeconfig, loadInCluster, inClusterAvailable, type KubeConfig } from './kube/config.js';
import { KubeClient } from './kube/client.js';
import { PodWatch } from './kube/pod-watch.js';
import { startEvents, type EventsConfig, type RunningEvents } from './events/index.js';
import { findingToObservation } from './events/pipeline.js';
import { runtimeExtension, runtimeExtensionOptions, runtimeCollectorFlags } from './runtime/index.js';
import { explainExtension, PolicyWatch, type ExplainExtension, type ExplainOptions } from './explain/index.js';
import { dropExplainer, deniedSummary, noClusterExplainRoutes } from './explain/flows.js';
import { parseCidr } from './explain/cidr.js';
import { dnsBlockedCheck } from './explain/dns-blocked.js';
import { apiServerEgressCheck, type ApiServerEgressCheck } from './explain/apiserver-egress.js';
import type { Finding } from '../proto/codec.js';

const apiFlags = {
  listen: {
    type: 'string',
    arg: 'ADDR',
    default: '127.0.0.1:8080',
    help: 'HTTP API address HOST:PORT; also serves the web view at http://HOST:PORT/.',
  },
  'api-token': {
    type: 'string',
    arg: 'TOKEN',
    help: 'Require "Authorization: Bearer TOKEN" on /api/* (the web view then asks for it).',
  },
} satisfies FlagSpecs;

const kubeFlags = {
  'pods-file': { type: 'string', arg: 'FILE', help: 'PodList JSON used to name pods (no cluster needed; no Events).' },
  kubeconfig: {
    type: 'string',
    arg: 'PATH',
    help: 'kubeconfig for the Kubernetes API (default: in-cluster config when running in a pod).',
  },
  'kube-context': { type: 'string', arg: 'NAME', help: 'kubeconfig context (default: its current-context).' },
  'pod-grace': {
    type: 'duration',
    arg: 'DURATION',
    default: '5m',
    help: 'A deleted pod keeps naming its IPs this long, so late drops are still attributed.',
  },
} satisfies FlagSpecs;

const eventFlags = {
  events: {
    type: 'choice',
    choices: ['on', 'off'],
    arg: 'on|off',
    help: 'Write Kubernetes Events (default: on when a cluster is configured via --kubeconfig or in-cluster config, off otherwise). off keeps the drop pipeline and API without any Event writes.',
  },
  'event-qps': {
    type: 'number',
    arg: 'N',
    default: '5',
    help: 'Sustained Event writes per second to the API server, all objects together (creates, patches and retries), for all collector replicas together: each writes N / replicas (they find each other on NATS subject nodewarden.collector.presence).',
  },
  'event-burst': {
    type: 'int',
    arg: 'N',
    default: '50',
    help: 'Event writes allowed in a burst above --event-qps (shared by the replicas like it).',
  },
  'event-object-burst': {
    type: 'int',
    arg: 'N',
    default: '25',
    help: 'Event writes per involved pod/node in a burst (all replicas together); further repeats are counted and written later.',
  },
  'event-object-refill': {
    type: 'duration',
    min: 1,
    arg: 'DURATION',
    default: '10s',
    help: 'One more Event write per involved object every DURATION once its burst is spent (all replicas together).',
  },
  'event-update-interval': {
    type: 'duration',
    arg: 'DURATION',
    default: '5s',
    help: 'Minimum time between two count updates (PATCH) of the same Event.',
  },
} satisfies FlagSpecs;

const storeFlags = {
  retention: {
    type: 'duration',
    arg: 'DURATION',
    default: '24h',
    help: 'How long the stream and the query store keep data.',
  },
  'stream-max-bytes': { type: 'bytes', arg: 'SIZE', default: '1Gi', help: 'Size bound of the JetStream stream.' },
  'stream-replicas': {
    type: 'int',
    max: 5,
    arg: 'N',
    default: '1',
    help: 'JetStream replicas (3 on a clustered NATS).',
  },
  'store-max-bytes': {
    type: 'bytes',
    arg: 'SIZE',
    default: '128Mi',
    help: 'Estimated heap the flow query store may hold; past it (or --store-max-flows) the oldest-written flows are evicted and counted (nodewarden_collector_store_evictions_total). The default fits the deployed --max-old-space-size=320.',
  },
  'store-max-flows': { type: 'int', arg: 'N', default: '200000', help: 'Flows the query store may hold.' },
  'metrics-max-drop-series': {
    type: 'int',
    arg: 'N',
    default: '2000',
    help: 'Distinct label sets of nodewarden_packet_drops_total; new ones beyond it count under one "_other_" set.',
  },
  'stream-check-interval': {
    type: 'duration',
    arg: 'DURATION',
    default: '5s',
    help: 'How often the collector checks that the stream exists (recreating it when NATS lost it) and whether it has caught up.',
  },
  'node-stale': {
    type: 'duration',
    arg: 'DURATION',
    default: '60s',
    help: 'A node whose agent is silent this long is unhealthy.',
  },
} satisfies FlagSpecs;

const explainFlags = {
  'pod-cidr': {
    type: 'list',
    arg: 'CIDR',
    help: 'Pod network CIDR (e.g. 10.244.0.0/16; comma-separated lists too). An IP that is not a known pod is then external when outside every pod CIDR (NetworkPolicy ipBlocks decide it) and an unknown pod inside one (undecidable). Unset: every unknown IP is undecidable.',
  },
  'dns-blocked-clear': {
    type: 'duration',
    arg: 'DURATION',
    default: '5m',
    help: 'DNSBlocked (drops from a pod towards the k8s-app=kube-dns pods on 53/UDP or TCP) clears after this long without such a drop.',
  },
  'dns-blocked-cluster-pods': {
    type: 'int',
    arg: 'N',
    default: '10',
    help: 'When this many source pods in 2 or more namespaces are DNSBlocked at once, one cluster-level DNSBlocked (key "cluster", on the DNS pod) names the namespaces, and further per-pod DNSBlocked findings stay in the API without an Event each.',
  },
  'service-cidr': {
    type: 'list',
    arg: 'CIDR',
    help: 'Service CIDR (e.g. 10.96.0.0/12). A drop towards it was logged before DNAT, so the backend pod and its policies cannot be named: undecidable, saying so.',
  },
} satisfies FlagSpecs;

export const collectorFlags: FlagSpecs = {
  ...natsFlags,
  ...apiFlags,
  ...kubeFlags,
  ...eventFlags,
  ...storeFlags,
  ...runtimeCollectorFlags,
  ...explainFlags,
  ...loggingFlags,
};

export const collectorGroups: CommandSpec['groups'] = [
  flagGroup('NATS', natsFlags),
  flagGroup('HTTP API', apiFlags),
  flagGroup('Pod names (Kubernetes API or a file)', kubeFlags),
  flagGroup('Kubernetes Events', eventFlags),
  flagGroup('Stream and query store', storeFlags),
  flagGroup('Runtime findings (StaticPodNotMirrored, ContainerRestarting)', runtimeCollectorFlags),
  flagGroup('NetworkPolicy explanations, DNSBlocked', explainFlags),
  flagGroup('Logging', loggingFlags),
];

export function collectorConfig(v: FlagValues): CollectorConfig {
  const s = readFlags(storeFlags, v);
  const a = readFlags(apiFlags, v);
  readFlags(eventFlags, v); // --events on|off is checked with the rest of the config
  return {
    nats: v.nats as string,
    natsAuth: natsAuth(v),
    listen: parseListen(a.listen, '--listen'),
    apiToken: a['api-token'],
    retentionMs: s.retention,
    streamMaxBytes: s['stream-max-bytes'],
    streamReplicas: s['stream-replicas'],
    nodeStaleMs: s['node-stale'],
    storeMaxBytes: s['store-max-bytes'],
    storeMaxFlows: s['store-max-flows'],
    maxDropSeries: s['metrics-max-drop-series'],
    streamCheckMs: s['stream-check-interval'],
  };
}

/** --pod-cidr / --service-cidr -> explanation options (ConfigError on a bad CIDR). */
export function explainOptionsFrom(v: FlagValues): ExplainOptions {
  const f = readFlags(explainFlags, v);
  const cidrs = (flag: 'pod-cidr' | 'service-cidr'): string[] | undefined => {
    const list = f[flag];
    for (const c of list)
      if (!parseCidr(c)) throw new ConfigError(`--${flag}: "${c}" is not a CIDR (e.g. 10.244.0.0/16 or fd00::/48)`);
    return list.length ? list : undefined;
  };
  return { podCidrs: cidrs('pod-cidr'), serviceCidrs: cidrs('service-cidr') };
}

/** Which cluster, if any: --kubeconfig, else in-cluster when running in a pod (not with --pods-file). */
export function kubeConfigFrom(v: FlagValues, env: NodeJS.ProcessEnv = process.env): KubeConfig | undefined {
  const kc = v.kubeconfig as string | undefined;
  if (kc && v['pods-file'])
    throw new ConfigError(
      '--kubeconfig and --pods-file exclude each other (pods come from the cluster or from the file)',
    );
  if (kc) return loadKubeconfig(kc, v['kube-context'] as string | undefined);
  if (v['kube-context']) throw new ConfigError('--kube-context needs --kubeconfig');
  if (v['pods-file']) return undefined;
  return inClusterAvailable(env) ? loadInCluster(env) : undefined;
}

export function eventsConfig(v: FlagValues): Omit<EventsConfig, 'nats' | 'natsAuth'> & { graceMs: number } {
  const e = readFlags(eventFlags, v);
  return {
    qps: e['event-qps'],
    burst: e['event-burst'],
    objectBurst: e['event-object-burst'],
    objectRefillMs: e['event-object-refill'],
    updateIntervalMs: e['event-update-interval'],
    graceMs: readFlags(kubeFlags, v)['pod-grace'],
  };
}

export async function runCollectorMain(v: FlagValues): Promise<number> {
  const cfg = collectorConfig(v);
  const ev = eventsConfig(v);
  const rtOpts = runtimeExtensionOptions(v);
  const exOpts = explainOptionsFrom(v);
  const { 'dns-blocked-clear': dnsClearMs, 'dns-blocked-cluster-pods': dnsClusterPods } = readFlags(explainFlags, v);
  const kube = kubeConfigFrom(v);
  const eventsOn = v.events === undefined ? !!kube : v.events === 'on';
  if (eventsOn && !kube)
    throw new ConfigError(
      `--events=on needs a cluster: --kubeconfig PATH, or in-cluster config (KUBERNETES_SERVICE_HOST and a service account token)${v['pods-file'] ? '; --pods-file names pods but cannot write Events' : ''}`,
    );
  const logging = readFlags(loggingFlags, v);
  configureLogging({ level: logging['log-level'], format: logging['log-format'] as LogFormat });
  const log = createLogger('collector');
  installLastResort(log);
  // Handlers first: a SIGTERM while starting must stop gracefully, not kill the process mid-start.
  const signalled = untilSignal(log);
  // One registry for everything the collector serves at /metrics.
  const registry = new Registry();
  let resolver: Resolver;
  let watch: PodWatch | undefined;
  let client: KubeClient | undefined;
  let policies: PolicyWatch | undefined;
  let ex: ExplainExtension | undefined;
  if (kube) {
    client = new KubeClient(kube);
    watch = new PodWatch(client, log, { graceMs: ev.graceMs, registry });
    watch.start();
    resolver = watch;
    policies = new PolicyWatch(client, log, { registry });
    policies.start();
    // The pod watch itself, not the runtime-hinted resolver: hints carry no labels to match policies.
    ex = explainExtension(watch, policies, exOpts);
    log.info(
      { api: kube.server, via: kube.describe, events: eventsOn },
      'collector: watching pods through the Kubernetes API',
    );
  } else if (v['pods-file']) resolver = loadPodsFile(v['pods-file'] as string);
  else {
    resolver = new IpIndex();
    log.warn(
      'collector: no --kubeconfig, in-cluster config or --pods-file: drops are stored with IPs only, no pod names, no Events',
    );
  }
  let events: RunningEvents | undefined;
  // Findings made here, not by agents (runtime view, DNSBlocked, APIServerEgressBlocked), reach Events directly (on a
  // raise, a clear, or news).
  const onFinding = (node: string, finding: Finding, notify: boolean): void => {
    const o = notify && events ? findingToObservation(node, finding, rt.resolver, Date.now()) : undefined;
    if (o) events?.writer.observe(o);
  };
  const guard = new JobGuard(log, registry, 'nodewarden_collector');
  const rt = runtimeExtension(resolver, log, { ...rtOpts, guard, onFinding });
  const explainDrop = ex ? dropExplainer(ex) : undefined;
  // The labelled pod source (not runtime hints): DNS endpoints are found by their k8s-app=kube-dns label.
  // Clears are checked a few times per window, so one lands within ~25% of --dns-blocked-clear.
  const dns = dnsBlockedCheck(resolver, explainDrop, {
    clearAfterMs: dnsClearMs,
    tickMs: Math.min(30_000, Math.max(1000, dnsClearMs / 4)),
    guard,
    onFinding,
    clusterPods: dnsClusterPods,
  });
  // kube-system pods cut off from the API server (the CoreDNS incident), from the policies alone.
  const apiEgress: ApiServerEgressCheck | undefined =
    kube && watch && policies && ex
      ? apiServerEgressCheck(watch, policies, ex, kube, log, { guard, onFinding })
      : undefined;
  const stopKube = async () => {
    await policies?.stop();
    await watch?.stop();
    client?.close();
  };
  let c;
  try {
    c = await runCollector(cfg, rt.resolver, log, {
      listeners: [rt.listener, dns.listener],
      registry,
      guard,
      routes: { ...rt.routes, ...(ex ? ex.routes : noClusterExplainRoutes) },
      explainFlow: explainDrop && ((f) => explainDrop(f.src.ip, f.dst.ip, f.proto, f.dst.port, Date.parse(f.lastSeen))),
      notReady: () => (ex && !ex.ready() ? 'NetworkPolicy/Namespace caches not synced' : undefined),
    });
  } catch (err) {
    // e.g. the listen port is taken: stop what runs already so the process can exit
    rt.stop();
    dns.stop();
    apiEgress?.stop();
    await stopKube();
    throw err;
  }
  apiEgress?.attach(c.stores);
  // Runtime pod IPs help name drops the pod cache cannot (yet); the API stays first. The Event path
  // rides on the collector's NATS connection (one per process).
  if (eventsOn && client) {
    events = startEvents(
      {
        ...ev,
        nats: cfg.nats,
        natsAuth: cfg.natsAuth,
        connection: c.connection,
        why: explainDrop && ((src, dst, proto, port, atMs) => deniedSummary(explainDrop(src, dst, proto, port, atMs))),
        whyReady: ex?.ready.bind(ex),
      },
      client,
      rt.resolver,
      log,
      registry,
    );
  }
  await signalled;
  rt.stop();
  dns.stop();
  apiEgress?.stop();
  await events?.stop();
  await stopKube();
  await c.stop();
  // A NATS connection still being attempted would keep the process alive after a clean stop.
  process.exit(0);
}
