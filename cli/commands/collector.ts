import { Registry } from 'prom-client';
import { ConfigError, parseDuration, parseListen, type CommandSpec, type FlagValues } from '../../common/flags.js';
import { createLogger } from '../../common/log.js';
import { JobGuard, installLastResort } from '../../common/guard.js';
import { runCollector, type CollectorConfig } from '../../collector/collector.js';
import { loadPodsFile } from '../../collector/resolve/pods-file.js';
import { IpIndex, type Resolver } from '../../collector/resolve/resolver.js';
import { loadKubeconfig, loadInCluster, inClusterAvailable, type KubeConfig } from '../../collector/kube/config.js';
import { KubeClient } from '../../collector/kube/client.js';
import { PodWatch } from '../../collector/kube/pod-watch.js';
import { startEvents, type EventsConfig, type RunningEvents } from '../../collector/events/index.js';
import { findingToObservation } from '../../collector/events/pipeline.js';
import { runtimeExtension, runtimeExtensionOptions, runtimeCollectorFlags } from '../../collector/runtime/index.js';
import { explainExtension, PolicyWatch, type ExplainExtension, type ExplainOptions } from '../../collector/explain/index.js';
import { dropExplainer, deniedSummary, noClusterExplainRoutes } from '../../collector/explain/flows.js';
import { parseCidr } from '../../collector/explain/cidr.js';
import { dnsBlockedCheck } from '../../collector/explain/dns-blocked.js';
import { apiServerEgressCheck, type ApiServerEgressCheck } from '../../collector/explain/apiserver-egress.js';
import type { Finding } from '../../proto/codec.js';
import { natsFlags, natsAuth } from '../shared-flags.js';
import { parseBytes, untilSignal } from '../process.js';

export const spec: CommandSpec = {
  name: 'collector',
  summary: 'Run the collector: consume agents\' messages from NATS JetStream, name pods, serve the HTTP API, write Kubernetes Events.',
  details: `Pod names come from the Kubernetes API (--kubeconfig, or the in-cluster service account when
running in a pod: one cluster-wide pod list+watch), or from --pods-file (a PodList as printed by
kubectl get pods -A -o json) without a cluster. /readyz waits for the first pod sync.
With a cluster the collector also keeps one NetworkPolicy and one Namespace list+watch and explains
each TCP/UDP/SCTP drop by the policies behind it (the flow's "explanation" in /api/v1/drops, GET
/api/v1/explain, the PacketDrop Event message); /readyz and Events also wait for those caches.
Without a cluster no policies are known: flows carry no explanation and /api/v1/explain answers 404.
Drops from a pod towards the k8s-app=kube-dns pods on 53/UDP or TCP raise DNSBlocked on that pod.
kube-system pods whose egress to the API server no NetworkPolicy rule allows raise
APIServerEgressBlocked before any drop (API server: the address the collector uses, plus the host
IPs of component=kube-apiserver pods; no endpoints permission needed).
Events (core/v1, reason PacketDrop on both pods, finding kinds on pods and Nodes) are written by
replicas sharing one JetStream durable consumer; repeats only raise count/lastTimestamp, and writes
stay within --event-qps/--event-burst overall and --event-object-burst/--event-object-refill per
object. The collector's ServiceAccount needs: pods get/list/watch, events create/patch/get, nodes get,
namespaces get/list/watch, networkpolicies (networking.k8s.io) get/list/watch.
The query store is rebuilt from the stream's retention on every start.`,
  flags: {
    ...natsFlags,
    listen: { type: 'string', arg: 'ADDR', default: '127.0.0.1:8080', help: 'HTTP API address HOST:PORT; also serves the web view at http://HOST:PORT/.' },
    'api-token': { type: 'string', arg: 'TOKEN', help: 'Require "Authorization: Bearer TOKEN" on /api/* (the web view then asks for it).' },
    'pods-file': { type: 'string', arg: 'FILE', help: 'PodList JSON used to name pods (no cluster needed; no Events).' },
    kubeconfig: { type: 'string', arg: 'PATH', help: 'kubeconfig for the Kubernetes API (default: in-cluster config when running in a pod).' },
    'kube-context': { type: 'string', arg: 'NAME', help: 'kubeconfig context (default: its current-context).' },
    events: { type: 'string', arg: 'on|off', help: 'Write Kubernetes Events (default: on when a cluster is configured via --kubeconfig or in-cluster config, off otherwise). off keeps the drop pipeline and API without any Event writes.' },
    'event-qps': { type: 'string', arg: 'N', default: '5', help: 'Sustained Event writes per second to the API server, all objects together (creates, patches and retries), per collector replica: the API server sees replicas x N.' },
    'event-burst': { type: 'string', arg: 'N', default: '50', help: 'Event writes allowed in a burst above --event-qps (per replica, like it).' },
    'event-object-burst': { type: 'string', arg: 'N', default: '25', help: 'Event writes per involved pod/node in a burst; further repeats are counted and written later.' },
    'event-object-refill': { type: 'string', arg: 'DURATION', default: '10s', help: 'One more Event write per involved object every DURATION once its burst is spent.' },
    'event-update-interval': { type: 'string', arg: 'DURATION', default: '5s', help: 'Minimum time between two count updates (PATCH) of the same Event.' },
    'pod-grace': { type: 'string', arg: 'DURATION', default: '5m', help: 'A deleted pod keeps naming its IPs this long, so late drops are still attributed.' },
    retention: { type: 'string', arg: 'DURATION', default: '24h', help: 'How long the stream and the query store keep data.' },
    'stream-max-bytes': { type: 'string', arg: 'SIZE', default: '1Gi', help: 'Size bound of the JetStream stream.' },
    'stream-replicas': { type: 'string', arg: 'N', default: '1', help: 'JetStream replicas (3 on a clustered NATS).' },
    'store-max-bytes': { type: 'string', arg: 'SIZE', default: '128Mi', help: 'Estimated heap the flow query store may hold; past it (or --store-max-flows) the oldest-written flows are evicted and counted (nodewarden_collector_store_evictions_total). The default fits the deployed --max-old-space-size=320.' },
    'store-max-flows': { type: 'string', arg: 'N', default: '200000', help: 'Flows the query store may hold.' },
    'metrics-max-drop-series': { type: 'string', arg: 'N', default: '2000', help: 'Distinct label sets of nodewarden_packet_drops_total; new ones beyond it count under one "_other_" set.' },
    'stream-check-interval': { type: 'string', arg: 'DURATION', default: '5s', help: 'How often the collector checks that the stream exists (recreating it when NATS lost it) and whether it has caught up.' },
    ...runtimeCollectorFlags,
    'pod-cidr': { type: 'list', arg: 'CIDR', help: 'Pod network CIDR (e.g. 10.244.0.0/16; comma-separated lists too). An IP that is not a known pod is then external when outside every pod CIDR (NetworkPolicy ipBlocks decide it) and an unknown pod inside one (undecidable). Unset: every unknown IP is undecidable.' },
    'dns-blocked-clear': { type: 'string', arg: 'DURATION', default: '5m', help: 'DNSBlocked (drops from a pod towards the k8s-app=kube-dns pods on 53/UDP or TCP) clears after this long without such a drop.' },
    'dns-blocked-cluster-pods': { type: 'string', arg: 'N', default: '10', help: 'When this many source pods in 2 or more namespaces are DNSBlocked at once, one cluster-level DNSBlocked (key "cluster", on the DNS pod) names the namespaces, and further per-pod DNSBlocked findings stay in the API without an Event each.' },
    'service-cidr': { type: 'list', arg: 'CIDR', help: 'Service CIDR (e.g. 10.96.0.0/12). A drop towards it was logged before DNAT, so the backend pod and its policies cannot be named: undecidable, saying so.' },
    'node-stale': { type: 'string', arg: 'DURATION', default: '60s', help: 'A node whose agent is silent this long is unhealthy.' },
  },
};

export function collectorConfig(v: FlagValues): CollectorConfig {
  const replicas = Number(v['stream-replicas']);
  if (!Number.isInteger(replicas) || replicas < 1 || replicas > 5) throw new ConfigError('--stream-replicas must be 1 to 5');
  if (v.events !== undefined && v.events !== 'on' && v.events !== 'off') throw new ConfigError(`--events must be on or off, not "${String(v.events)}"`);
  return {
    nats: v.nats as string, natsAuth: natsAuth(v), listen: parseListen(v.listen as string, '--listen'), apiToken: v['api-token'] as string | undefined,
    retentionMs: parseDuration(v.retention as string, '--retention'), streamMaxBytes: parseBytes(v['stream-max-bytes'] as string, '--stream-max-bytes'),
    streamReplicas: replicas, nodeStaleMs: parseDuration(v['node-stale'] as string, '--node-stale'),
    storeMaxBytes: parseBytes(v['store-max-bytes'] as string, '--store-max-bytes'), storeMaxFlows: positive(v, 'store-max-flows', true), maxDropSeries: positive(v, 'metrics-max-drop-series', true),
    streamCheckMs: parseDuration(v['stream-check-interval'] as string, '--stream-check-interval'),
  };
}

function positive(v: FlagValues, flag: string, integer: boolean): number {
  const text = String(v[flag]);
  const n = Number(text);
  if (!/^\d+(\.\d+)?$/.test(text.trim()) || !(n > 0) || (integer && !Number.isInteger(n))) throw new ConfigError(`--${flag} must be a positive ${integer ? 'integer' : 'number'}, not "${text}"`);
  return n;
}

/** --pod-cidr / --service-cidr -> explanation options (ConfigError on a bad CIDR). */
export function explainOptionsFrom(v: FlagValues): ExplainOptions {
  const cidrs = (flag: string): string[] | undefined => {
    const list = ((v[flag] as string[] | undefined) ?? []).flatMap((s) => s.split(',')).map((s) => s.trim()).filter(Boolean);
    for (const c of list) if (!parseCidr(c)) throw new ConfigError(`--${flag}: "${c}" is not a CIDR (e.g. 10.244.0.0/16 or fd00::/48)`);
    return list.length ? list : undefined;
  };
  return { podCidrs: cidrs('pod-cidr'), serviceCidrs: cidrs('service-cidr') };
}

/** Which cluster, if any: --kubeconfig, else in-cluster when running in a pod (not with --pods-file). */
export function kubeConfigFrom(v: FlagValues, env: NodeJS.ProcessEnv = process.env): KubeConfig | undefined {
  const kc = v.kubeconfig as string | undefined;
  if (kc && v['pods-file']) throw new ConfigError('--kubeconfig and --pods-file exclude each other (pods come from the cluster or from the file)');
  if (kc) return loadKubeconfig(kc, v['kube-context'] as string | undefined);
  if (v['kube-context']) throw new ConfigError('--kube-context needs --kubeconfig');
  if (v['pods-file']) return undefined;
  return inClusterAvailable(env) ? loadInCluster(env) : undefined;
}

export function eventsConfig(v: FlagValues): Omit<EventsConfig, 'nats' | 'natsAuth'> & { graceMs: number } {
  const e = {
    qps: positive(v, 'event-qps', false),
    burst: positive(v, 'event-burst', true),
    objectBurst: positive(v, 'event-object-burst', true),
    objectRefillMs: parseDuration(v['event-object-refill'] as string, '--event-object-refill'),
    updateIntervalMs: parseDuration(v['event-update-interval'] as string, '--event-update-interval'),
    graceMs: parseDuration(v['pod-grace'] as string, '--pod-grace'),
  };
  if (e.objectRefillMs <= 0) throw new ConfigError('--event-object-refill must be more than 0');
  return e;
}

export async function run(v: FlagValues): Promise<number> {
  const cfg = collectorConfig(v);
  const ev = eventsConfig(v);
  const rtOpts = runtimeExtensionOptions(v);
  const exOpts = explainOptionsFrom(v);
  const dnsClearMs = parseDuration(v['dns-blocked-clear'] as string, '--dns-blocked-clear');
  const dnsClusterPods = positive(v, 'dns-blocked-cluster-pods', true);
  const kube = kubeConfigFrom(v);
  const eventsOn = v.events === undefined ? !!kube : v.events === 'on';
  if (eventsOn && !kube) throw new ConfigError(`--events=on needs a cluster: --kubeconfig PATH, or in-cluster config (KUBERNETES_SERVICE_HOST and a service account token)${v['pods-file'] ? '; --pods-file names pods but cannot write Events' : ''}`);
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
    log.info({ api: kube.server, via: kube.describe, events: eventsOn }, 'collector: watching pods through the Kubernetes API');
  } else if (v['pods-file']) resolver = loadPodsFile(v['pods-file'] as string);
  else {
    resolver = new IpIndex();
    log.warn('collector: no --kubeconfig, in-cluster config or --pods-file: drops are stored with IPs only, no pod names, no Events');
  }
  let events: RunningEvents | undefined;
  // Findings made here, not by agents (runtime view, DNSBlocked, APIServerEgressBlocked), reach Events directly (on a raise, a clear, or news).
  const onFinding = (node: string, finding: Finding, notify: boolean): void => {
    const o = notify && events ? findingToObservation(node, finding, rt.resolver, Date.now()) : undefined;
    if (o) events!.writer.observe(o);
  };
  const guard = new JobGuard(log, registry, 'nodewarden_collector');
  const rt = runtimeExtension(resolver, log, { ...rtOpts, guard, onFinding });
  const explainDrop = ex ? dropExplainer(ex) : undefined;
  // The labelled pod source (not runtime hints): DNS endpoints are found by their k8s-app=kube-dns label.
  // Clears are checked a few times per window, so one lands within ~25% of --dns-blocked-clear.
  const dns = dnsBlockedCheck(resolver, explainDrop, { clearAfterMs: dnsClearMs, tickMs: Math.min(30_000, Math.max(1000, dnsClearMs / 4)), guard, onFinding, clusterPods: dnsClusterPods });
  // kube-system pods cut off from the API server (the CoreDNS incident), from the policies alone.
  const apiEgress: ApiServerEgressCheck | undefined = kube && watch && policies && ex ? apiServerEgressCheck(watch, policies, ex, kube, log, { guard, onFinding }) : undefined;
  const stopKube = async () => {
    await policies?.stop();
    await watch?.stop();
    client?.close();
  };
  let c;
  try {
    c = await runCollector(cfg, rt.resolver, log, {
      listeners: [rt.listener, dns.listener], registry, guard,
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
    events = startEvents({
      ...ev, nats: cfg.nats, natsAuth: cfg.natsAuth, connection: c.connection,
      why: explainDrop && ((src, dst, proto, port, atMs) => deniedSummary(explainDrop(src, dst, proto, port, atMs))),
      whyReady: ex && (() => ex!.ready()),
    }, client, rt.resolver, log, registry);
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
