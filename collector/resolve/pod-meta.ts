// What NetworkPolicy evaluation needs of a pod beyond its name: labels, hostNetwork and its named
// container ports. Pods of one ReplicaSet/DaemonSet share all three, so one frozen object is shared by
// all of them (interned by content): 10,000 pods of 500 workloads hold 500 of these, not 10,000, and
// an unchanged pod keeps the same object, so "did anything relevant change?" is an identity check.
export interface NamedPort {
  name: string;
  port: number;
  protocol: string;
}
export interface PodMeta {
  readonly labels: Readonly<Record<string, string>>;
  readonly hostNetwork: boolean;
  /** Only ports with a name: unnamed ones never matter to a policy. */
  readonly ports: readonly NamedPort[];
}

interface ContainerJson {
  ports?: { name?: string; containerPort?: number; protocol?: string }[] | null;
}
export interface PodMetaJson {
  metadata?: { labels?: Record<string, string> | null };
  spec?: { hostNetwork?: boolean; containers?: ContainerJson[] | null; initContainers?: ContainerJson[] | null };
}

const interned = new Map<string, WeakRef<PodMeta>>();
const finalizer = new FinalizationRegistry<string>((k) => {
  if (!interned.get(k)?.deref()) interned.delete(k);
});

/** The shared PodMeta for a pod's JSON (sidecar init containers may serve named ports too). */
export function podMetaFromJson(p: PodMetaJson): PodMeta {
  const labels = p.metadata?.labels ?? {};
  const ports: NamedPort[] = [];
  for (const c of [...(p.spec?.containers ?? []), ...(p.spec?.initContainers ?? [])])
    for (const x of c.ports ?? [])
      if (x.name && typeof x.containerPort === 'number')
        ports.push({ name: x.name, port: x.containerPort, protocol: x.protocol ?? 'TCP' });
  return internPodMeta(labels, p.spec?.hostNetwork === true, ports);
}

export function internPodMeta(labels: Record<string, string>, hostNetwork: boolean, ports: NamedPort[]): PodMeta {
  const sortedLabels = Object.keys(labels)
    .sort()
    .map((k) => [k, labels[k]] as const);
  ports.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.port - b.port));
  const key = JSON.stringify([sortedLabels, hostNetwork, ports.map((x) => [x.name, x.port, x.protocol])]);
  const hit = interned.get(key)?.deref();
  if (hit) return hit;
  const m: PodMeta = Object.freeze({
    labels: Object.freeze(Object.fromEntries(sortedLabels)),
    hostNetwork,
    ports: Object.freeze(ports.map((x) => Object.freeze(x))),
  });
  interned.set(key, new WeakRef(m));
  finalizer.register(m, key);
  return m;
}
