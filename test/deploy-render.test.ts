// deploy/ rendered by kustomize (`kubectl kustomize`, the same engine as `kubectl apply -k`) and
// checked object by object: least privilege, host mounts that match the agent's flags, env vars the
// CLI really reads, ports and probes that line up, and NATS identities: no shared token, an agent's
// only credential its projected ServiceAccount token, each pod given only its own keys of the Secrets.
// No API server here (deploy-rbac.test.ts applies the same output to a real one).
// Run: node --import tsx test/deploy-render.test.ts
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { ensureKubeBins } from './support/kube.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
/** NODEWARDEN_DEPLOY_DIR: check another copy of deploy/ (e.g. a mutated one). */
const DEPLOY = process.env.NODEWARDEN_DEPLOY_DIR ?? join(ROOT, 'deploy');
const NS = 'nodewarden';
const IMAGE = 'ghcr.io/nodewarden/nodewarden:0.1.0';
/** The image runs the nats-server version the tests build (tools/nats-server/go.mod). */
const NATS_VERSION = /github\.com\/nats-io\/nats-server\/v2 v(\d+\.\d+\.\d+)/.exec(
  readFileSync(join(ROOT, 'tools', 'nats-server', 'go.mod'), 'utf8'),
)![1];
const NATS_IMAGE = `nats:${NATS_VERSION}-alpine`;

let kubectl = '';
let docs: any[] = [];
const tmp = mkdtempSync(join(tmpdir(), 'nw-deploy-render-'));

function kustomize(dir: string): any[] {
  const r = spawnSync(kubectl, ['kustomize', dir], { encoding: 'utf8', timeout: 60_000 });
  assert.is(r.status, 0, `kubectl kustomize ${dir}: ${r.stderr}`);
  return parseAllDocuments(r.stdout).map((d) => {
    assert.is(d.errors.length, 0, String(d.errors[0]));
    return d.toJS();
  });
}

const find = (kind: string, name: string, from = docs): any => {
  const o = from.find((d) => d.kind === kind && d.metadata.name === name);
  assert.ok(o, `rendered output has no ${kind} ${name}`);
  return o;
};
const podSpec = (kind: string, name: string, from = docs): any => find(kind, name, from).spec.template.spec;
const container = (spec: any, name: string): any => {
  const c = spec.containers.find((x: any) => x.name === name);
  assert.ok(c, `no container ${name}`);
  return c;
};
const envOf = (c: any): Map<string, any> => new Map((c.env ?? []).map((e: any) => [e.name, e]));
const envValue = (c: any, name: string): string => {
  const e = envOf(c).get(name);
  assert.ok(e && typeof e.value === 'string', `${c.name}: env ${name} has no literal value`);
  return e.value;
};

/** Kubernetes quantity -> number (bytes for memory, cores for cpu). */
function quantity(q: string | number): number {
  const m = /^(\d+(?:\.\d+)?)(m|Ki|Mi|Gi|Ti|k|M|G|T)?$/.exec(String(q));
  assert.ok(m, `not a quantity: ${q}`);
  const mult: Record<string, number> = {
    '': 1,
    m: 1e-3,
    k: 1e3,
    M: 1e6,
    G: 1e9,
    T: 1e12,
    Ki: 2 ** 10,
    Mi: 2 ** 20,
    Gi: 2 ** 30,
    Ti: 2 ** 40,
  };
  return Number(m![1]) * mult[m![2] ?? ''];
}

/** The NODEWARDEN_* variables a subcommand reads, from its --help ("[env NODEWARDEN_X]", docs/architecture.md#cli). */
function envVarsOf(command: string): Set<string> {
  const r = spawnSync(process.execPath, [join(ROOT, 'bin', 'nodewarden.mjs'), command, '--help'], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  assert.is(r.status, 0, r.stderr);
  const names = new Set([...r.stdout.matchAll(/\[env (NODEWARDEN_[A-Z0-9_]+)\]/g)].map((m) => m[1]));
  assert.ok(names.size > 5, `no env vars found in "nodewarden ${command} --help"`);
  return names;
}

test.before(async () => {
  kubectl = `${await ensureKubeBins()}/kubectl`;
  docs = kustomize(DEPLOY);
});

test.after(() => rmSync(tmp, { recursive: true, force: true }));

test('renders the expected objects, all namespaced ones in "nodewarden"', () => {
  const got = docs.map((d) => `${d.kind}/${d.metadata.name.replace(/-[a-z0-9]{10}$/, '-<hash>')}`).sort();
  assert.equal(got, [
    'ClusterRole/nodewarden-auth',
    'ClusterRole/nodewarden-collector',
    'ClusterRoleBinding/nodewarden-auth',
    'ClusterRoleBinding/nodewarden-collector',
    'ConfigMap/nats-config',
    'DaemonSet/nodewarden-agent',
    'Deployment/nodewarden-auth',
    'Deployment/nodewarden-collector',
    'Namespace/nodewarden',
    'PodDisruptionBudget/nodewarden-auth',
    'PodDisruptionBudget/nodewarden-collector',
    'ResourceQuota/nodewarden-critical-pods',
    'Service/nats',
    'Service/nats-headless',
    'Service/nodewarden-collector',
    'ServiceAccount/nats',
    'ServiceAccount/nodewarden-agent',
    'ServiceAccount/nodewarden-auth',
    'ServiceAccount/nodewarden-collector',
    'StatefulSet/nats',
  ]);
  for (const d of docs) {
    if (['Namespace', 'ClusterRole', 'ClusterRoleBinding'].includes(d.kind))
      assert.is(d.metadata.namespace, undefined, d.kind);
    else assert.is(d.metadata.namespace, NS, `${d.kind}/${d.metadata.name}`);
  }
  // the agent DaemonSet needs hostNetwork/hostPath/NET_ADMIN: only the privileged level admits it
  assert.is(find('Namespace', NS).metadata.labels['pod-security.kubernetes.io/enforce'], 'privileged');
});

test('RBAC: the collector gets exactly pods get/list/watch, events create/patch/get, nodes get (core group ""), namespaces and networkpolicies (networking.k8s.io) get/list/watch; the auth service tokenreviews create; the agent nothing', () => {
  const role = find('ClusterRole', 'nodewarden-collector');
  const rules = role.rules.map((r: any) => ({
    apiGroups: r.apiGroups,
    resources: r.resources,
    verbs: [...r.verbs].sort(),
    names: r.resourceNames,
  }));
  assert.equal(rules, [
    { apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch'], names: undefined },
    { apiGroups: [''], resources: ['events'], verbs: ['create', 'get', 'patch'], names: undefined },
    { apiGroups: [''], resources: ['nodes'], verbs: ['get'], names: undefined },
    { apiGroups: [''], resources: ['namespaces'], verbs: ['get', 'list', 'watch'], names: undefined },
    {
      apiGroups: ['networking.k8s.io'],
      resources: ['networkpolicies'],
      verbs: ['get', 'list', 'watch'],
      names: undefined,
    },
  ]);
  // the anchor's bug (kube-iptables-tailer #22/#24): apiGroups ["v1"] matches nothing
  for (const r of role.rules)
    assert.not.ok(r.apiGroups.includes('v1'), 'apiGroups must be "" for core resources, not "v1"');
  const binding = find('ClusterRoleBinding', 'nodewarden-collector');
  assert.equal(binding.roleRef, {
    apiGroup: 'rbac.authorization.k8s.io',
    kind: 'ClusterRole',
    name: 'nodewarden-collector',
  });
  assert.equal(binding.subjects, [{ kind: 'ServiceAccount', name: 'nodewarden-collector', namespace: NS }]);
  const authRole = find('ClusterRole', 'nodewarden-auth');
  assert.equal(authRole.rules, [
    { apiGroups: ['authentication.k8s.io'], resources: ['tokenreviews'], verbs: ['create'] },
  ]);
  assert.equal(find('ClusterRoleBinding', 'nodewarden-auth').roleRef, {
    apiGroup: 'rbac.authorization.k8s.io',
    kind: 'ClusterRole',
    name: 'nodewarden-auth',
  });
  assert.equal(find('ClusterRoleBinding', 'nodewarden-auth').subjects, [
    { kind: 'ServiceAccount', name: 'nodewarden-auth', namespace: NS },
  ]);
  assert.is(podSpec('Deployment', 'nodewarden-auth').serviceAccountName, 'nodewarden-auth');
  // each binding binds its own ServiceAccount; nothing binds the agent's (or NATS's), and neither gets an API token
  // mounted
  for (const d of docs.filter((x) => /Binding$/.test(x.kind))) {
    for (const s of d.subjects ?? [])
      assert.is(s.name, d.metadata.name, `${d.kind}/${d.metadata.name} binds ${s.name}`);
  }
  assert.is(find('ServiceAccount', 'nodewarden-agent').automountServiceAccountToken, false);
  assert.is(find('ServiceAccount', 'nats').automountServiceAccountToken, false);
  assert.is(podSpec('DaemonSet', 'nodewarden-agent').automountServiceAccountToken, false);
  assert.is(podSpec('StatefulSet', 'nats').automountServiceAccountToken, false);
  assert.is(podSpec('DaemonSet', 'nodewarden-agent').serviceAccountName, 'nodewarden-agent');
  assert.is(podSpec('Deployment', 'nodewarden-collector').serviceAccountName, 'nodewarden-collector');
});

test('agent DaemonSet: host network, NODE_NAME from the downward API, every node, system-node-critical, no hostPID', () => {
  const spec = podSpec('DaemonSet', 'nodewarden-agent');
  const c = container(spec, 'agent');
  assert.is(spec.hostNetwork, true);
  assert.is(
    spec.dnsPolicy,
    'ClusterFirstWithHostNet',
    'a hostNetwork pod needs ClusterFirstWithHostNet to resolve the NATS Service',
  );
  assert.not.ok(spec.hostPID, 'the host /proc is mounted read-only instead of sharing the host PID namespace');
  assert.not.ok(spec.hostIPC);
  assert.is(spec.priorityClassName, 'system-node-critical');
  assert.equal(envOf(c).get('NODE_NAME'), {
    name: 'NODE_NAME',
    valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } },
  });
  // one toleration that matches every taint: operator Exists with no key and no effect
  assert.ok(
    spec.tolerations.some((t: any) => t.operator === 'Exists' && t.key === undefined && t.effect === undefined),
    JSON.stringify(spec.tolerations),
  );
  assert.equal(c.args, ['agent']);
  assert.is(c.image, IMAGE);
});

test('agent: root with only NET_ADMIN + NET_RAW (ALL else dropped), read-only root filesystem, no privilege escalation', () => {
  const spec = podSpec('DaemonSet', 'nodewarden-agent');
  const sc = container(spec, 'agent').securityContext;
  assert.equal(sc.capabilities.drop, ['ALL']);
  assert.equal([...sc.capabilities.add].sort(), ['NET_ADMIN', 'NET_RAW']);
  assert.not.ok(sc.privileged);
  assert.is(sc.allowPrivilegeEscalation, false);
  assert.is(sc.readOnlyRootFilesystem, true);
  assert.is(sc.runAsUser, 0, 'the image defaults to uid 65532; the agent must say root explicitly');
  assert.is(spec.securityContext.seccompProfile.type, 'RuntimeDefault');
});

test('agent: resources from the benchmark (idle ~55 MiB, burst peak ~135 MiB, 0.04 core at 1000 drops/s), heap capped below the limit', () => {
  const c = container(podSpec('DaemonSet', 'nodewarden-agent'), 'agent');
  const { requests, limits } = c.resources;
  for (const k of ['cpu', 'memory']) {
    assert.ok(requests[k] && limits[k], `agent ${k} request and limit`);
    assert.ok(quantity(requests[k]) <= quantity(limits[k]), `${k}: request <= limit`);
  }
  assert.ok(quantity(requests.memory) >= 55 * 2 ** 20, 'memory request covers idle RSS');
  assert.ok(
    quantity(limits.memory) >= 1.5 * 135 * 2 ** 20,
    'memory limit leaves headroom over the burst peak (and journalctl shares the cgroup)',
  );
  assert.ok(quantity(requests.cpu) >= 0.04, 'cpu request covers 1000 drops/s');
  const heap = Number(/--max-old-space-size=(\d+)/.exec(envValue(c, 'NODE_OPTIONS'))?.[1]);
  assert.ok(
    heap > 64 && heap * 2 ** 20 < 0.75 * quantity(limits.memory),
    `V8 heap cap ${heap} MiB well below the limit`,
  );
});

test('agent: host mounts serve exactly the paths its flags point at; only the state dir is writable', () => {
  const spec = podSpec('DaemonSet', 'nodewarden-agent');
  const c = container(spec, 'agent');
  const volumes = new Map(spec.volumes.map((v: any) => [v.name, v]));
  const mounts = c.volumeMounts.map((m: any) => ({ ...m, volume: volumes.get(m.name) as any }));
  const hostMounts = mounts.filter((m: any) => m.volume?.hostPath);
  const byHost = new Map(hostMounts.map((m: any) => [m.volume.hostPath.path, m]));
  for (const m of mounts) assert.ok(m.volume, `volumeMount ${m.name} has a volume`);

  // journal: persistent (/var/log/journal inside /var/log), volatile, and the machine id journalctl filters on
  for (const p of ['/var/log', '/run/log/journal', '/etc/machine-id', '/proc', '/sys/fs/cgroup', '/var/lib/nodewarden'])
    assert.ok(byHost.has(p), `host path ${p} mounted`);
  // the journal, container logs (symlinks /var/log/containers -> /var/log/pods/...) and machine id must
  // appear at the node's own paths, or journalctl and the symlinks would not resolve
  for (const p of ['/var/log', '/run/log/journal', '/etc/machine-id']) assert.is((byHost.get(p) as any).mountPath, p);
  assert.is(
    (byHost.get('/etc/machine-id') as any).volume.hostPath.type,
    'File',
    'never create /etc/machine-id on a node',
  );
  assert.is(
    (byHost.get('/var/log') as any).volume.hostPath.type,
    'Directory',
    'never create /var/log/journal (it would make journald persistent)',
  );
  assert.not.ok(
    byHost.has('/var/log/journal'),
    '/var/log/journal comes with /var/log; mounted alone it would be created on volatile-journal hosts',
  );

  for (const m of hostMounts as any[]) {
    if (m.volume.hostPath.path === '/var/lib/nodewarden') assert.not.ok(m.readOnly, 'state dir is writable');
    else assert.is(m.readOnly, true, `${m.volume.hostPath.path} is mounted read-only`);
  }
  assert.is((byHost.get('/var/lib/nodewarden') as any).mountPath, envValue(c, 'NODEWARDEN_STATE_DIR'));
  assert.is((byHost.get('/proc') as any).mountPath, envValue(c, 'NODEWARDEN_PROC_ROOT'));
  assert.is((byHost.get('/sys/fs/cgroup') as any).mountPath, envValue(c, 'NODEWARDEN_CGROUP_ROOT'));
  const logDir = envValue(c, 'NODEWARDEN_CONTAINER_LOG_DIR');
  assert.ok(logDir.startsWith('/var/log/'), `${logDir} is inside the /var/log mount`);
  // with a read-only root filesystem, every writable path must be a volume
  assert.ok(
    mounts.some((m: any) => m.mountPath === '/tmp' && m.volume.emptyDir),
    '/tmp is an emptyDir',
  );
});

test('agent: metrics port, probes and NATS settings line up', () => {
  const spec = podSpec('DaemonSet', 'nodewarden-agent');
  const c = container(spec, 'agent');
  const port = Number(/:(\d+)$/.exec(envValue(c, 'NODEWARDEN_METRICS_LISTEN'))?.[1]);
  const named = c.ports.find((p: any) => p.name === 'metrics');
  assert.is(named.containerPort, port);
  assert.is(c.livenessProbe.httpGet.path, '/healthz');
  assert.is(c.readinessProbe.httpGet.path, '/readyz');
  for (const p of [c.livenessProbe, c.readinessProbe])
    assert.ok(p.httpGet.port === 'metrics' || p.httpGet.port === port);
});

test('collector Deployment: non-root 65532, read-only root filesystem, ALL capabilities dropped, probes on its API port', () => {
  const spec = podSpec('Deployment', 'nodewarden-collector');
  const c = container(spec, 'collector');
  assert.is(spec.securityContext.runAsNonRoot, true);
  assert.is(spec.securityContext.runAsUser, 65532);
  assert.is(spec.securityContext.seccompProfile.type, 'RuntimeDefault');
  assert.is(c.securityContext.readOnlyRootFilesystem, true);
  assert.is(c.securityContext.allowPrivilegeEscalation, false);
  assert.equal(c.securityContext.capabilities, { drop: ['ALL'] });
  assert.not.ok(c.securityContext.runAsUser === 0);
  assert.not.ok(spec.hostNetwork);
  assert.equal(c.args, ['collector']);
  assert.is(c.image, IMAGE);
  assert.is(envValue(c, 'NODEWARDEN_EVENTS'), 'on');
  assert.ok(find('Deployment', 'nodewarden-collector').spec.replicas >= 1);

  const port = Number(/:(\d+)$/.exec(envValue(c, 'NODEWARDEN_LISTEN'))?.[1]);
  assert.ok(envValue(c, 'NODEWARDEN_LISTEN').startsWith('0.0.0.0:'), 'reachable through its Service');
  assert.is(c.ports.find((p: any) => p.name === 'http').containerPort, port);
  assert.is(c.livenessProbe.httpGet.path, '/healthz');
  assert.is(c.readinessProbe.httpGet.path, '/readyz');
  const svc = find('Service', 'nodewarden-collector');
  assert.is(svc.spec.type, 'ClusterIP');
  assert.equal(
    svc.spec.ports.map((p: any) => [p.port, p.targetPort]),
    [[8080, 'http']],
  );
  const { requests, limits } = c.resources;
  assert.ok(requests.cpu && requests.memory && limits.memory);
  const heap = Number(/--max-old-space-size=(\d+)/.exec(envValue(c, 'NODE_OPTIONS'))?.[1]);
  assert.ok(heap * 2 ** 20 < 0.75 * quantity(limits.memory), 'V8 heap cap below the memory limit');
});

test('NATS StatefulSet: JetStream on a PVC at /data, non-root, the built version, config from the ConfigMap, secrets from files', () => {
  const sts = find('StatefulSet', 'nats');
  const spec = sts.spec.template.spec;
  const c = container(spec, 'nats');
  assert.is(c.image, NATS_IMAGE);
  const script = [...(c.command ?? []), ...(c.args ?? [])].join(' ');
  assert.ok(script.includes('exec nats-server --config /run/nats/nats.conf'), script);
  assert.not.ok(/--(auth|user|pass)\b/.test(script), 'no credential on the command line');
  assert.equal(c.env.map((e: any) => e.name).sort(), ['GOMEMLIMIT', 'POD_NAME'], 'no credential in the environment');
  assert.ok(
    c.volumeMounts.some(
      (m: any) =>
        m.mountPath === '/etc/nats/config' &&
        spec.volumes.find((v: any) => v.name === m.name)?.configMap?.name === 'nats-config',
    ),
  );
  assert.equal(
    sts.spec.volumeClaimTemplates.map((t: any) => t.metadata.name),
    ['data'],
  );
  assert.ok(c.volumeMounts.some((m: any) => m.name === 'data' && m.mountPath === '/data'));
  assert.ok(
    c.volumeMounts.some(
      (m: any) => m.mountPath === '/run/nats' && spec.volumes.find((v: any) => v.name === m.name)?.emptyDir,
    ),
  );
  assert.is(spec.securityContext.runAsNonRoot, true);
  assert.ok(spec.securityContext.runAsUser > 0 && spec.securityContext.fsGroup > 0);
  assert.is(c.securityContext.readOnlyRootFilesystem, true);
  assert.equal(c.securityContext.capabilities, { drop: ['ALL'] });
  assert.is(sts.spec.serviceName, 'nats-headless');
  assert.is(find('Service', 'nats-headless').spec.clusterIP, 'None');
});

test('NATS config: TLS on the client port, monitoring on loopback only, JetStream sync_interval, auth callout in non-operator mode', () => {
  const conf: string = find('ConfigMap', 'nats-config').data['nats.conf'];
  assert.match(conf, /^\s*include secrets\.conf$/m);
  assert.match(conf, /tls \{[^}]*cert_file: "\/etc\/nats\/tls\/tls\.crt"[^}]*key_file: "\/etc\/nats\/tls\/tls\.key"/);
  assert.match(conf, /^\s*http: "127\.0\.0\.1:8222"$/m, 'the monitor listens on the pod loopback only');
  assert.match(conf, /jetstream \{[^}]*store_dir: "\/data"[^}]*sync_interval: "\d+s"/);
  assert.match(conf, /auth_callout \{\s*issuer: \$AUTH_ISSUER\s*account: AUTH[\s\S]*auth_users: \[ auth, collector \]/);
  assert.match(conf, /AUTH: \{ users: \[ \{ user: auth, password: \$AUTH_PASSWORD \} \] \}/);
  assert.match(
    conf,
    /APP: \{\s*jetstream: enabled\s*users: \[ \{ user: collector, password: \$COLLECTOR_PASSWORD \} \]/,
  );
  const authEnv = container(podSpec('Deployment', 'nodewarden-auth'), 'auth');
  assert.not.ok(envOf(authEnv).has('NODEWARDEN_AGENT_ACCOUNT'), "the default APP is the config's account");
  // the monitor port is neither exposed by a Service nor declared by the container
  for (const svc of ['nats', 'nats-headless'])
    assert.equal(
      find('Service', svc).spec.ports.map((p: any) => p.port),
      [4222],
      svc,
    );
  const nats = container(podSpec('StatefulSet', 'nats'), 'nats');
  assert.equal(
    nats.ports.map((p: any) => p.containerPort),
    [4222],
  );
  for (const p of [nats.startupProbe, nats.livenessProbe, nats.readinessProbe])
    assert.match(p.exec.command.join(' '), /^wget .* http:\/\/127\.0\.0\.1:8222\/healthz/);
});

test('no credential in the manifests: no Secret, no placeholder; each pod mounts only its own keys of the two operator-made Secrets', () => {
  assert.is(docs.filter((d) => d.kind === 'Secret').length, 0);
  const rendered = JSON.stringify(docs);
  assert.not.match(rendered, /CHANGE-ME|NATS_TOKEN"/i);
  const secretItems = (kind: string, name: string): string[] => {
    const out: string[] = [];
    for (const v of podSpec(kind, name).volumes ?? []) {
      const srcs = v.secret
        ? [{ secret: { name: v.secret.secretName, items: v.secret.items } }]
        : (v.projected?.sources ?? []);
      for (const src of srcs)
        if (src.secret) {
          assert.ok(src.secret.items?.length, `${kind}/${name}: volume ${v.name} mounts all of ${src.secret.name}`);
          for (const i of src.secret.items) out.push(`${src.secret.name}/${i.key}`);
        }
    }
    for (const c of podSpec(kind, name).containers)
      for (const e of c.env ?? []) assert.not.ok(e.valueFrom?.secretKeyRef, `${kind}/${name}: ${e.name} from a Secret`);
    return out.sort();
  };
  assert.equal(secretItems('StatefulSet', 'nats'), [
    'nodewarden-nats-auth/auth-password',
    'nodewarden-nats-auth/collector-password',
    'nodewarden-nats-auth/issuer-public-key',
    'nodewarden-nats-tls/tls.crt',
    'nodewarden-nats-tls/tls.key',
  ]);
  assert.equal(secretItems('Deployment', 'nodewarden-collector'), [
    'nodewarden-nats-auth/collector-password',
    'nodewarden-nats-tls/ca.crt',
  ]);
  assert.equal(secretItems('Deployment', 'nodewarden-auth'), [
    'nodewarden-nats-auth/auth-password',
    'nodewarden-nats-auth/issuer-seed',
    'nodewarden-nats-tls/ca.crt',
  ]);
  assert.equal(secretItems('DaemonSet', 'nodewarden-agent'), ['nodewarden-nats-tls/ca.crt']);
  const readme = readFileSync(join(DEPLOY, 'README.md'), 'utf8');
  for (const key of ['auth-password', 'collector-password', 'issuer-seed', 'issuer-public-key'])
    assert.ok(readme.includes(`--from-file=${key}=`), `README says how to create the key ${key}`);
  assert.ok(
    readme.includes('kubectl -n nodewarden create secret generic nodewarden-nats-tls'),
    'README says how to create the TLS Secret',
  );
});

test("agent: its only NATS credential is its pod's projected token (audience nodewarden, 1 h), read from a file at each connect", () => {
  const spec = podSpec('DaemonSet', 'nodewarden-agent');
  const c = container(spec, 'agent');
  const vol = spec.volumes.find((v: any) => v.projected?.sources?.some((s: any) => s.serviceAccountToken));
  assert.ok(vol, 'a projected token volume');
  const sat = vol.projected.sources.find((s: any) => s.serviceAccountToken).serviceAccountToken;
  assert.equal(sat, { audience: 'nodewarden', expirationSeconds: 3600, path: 'token' });
  const mount = c.volumeMounts.find((m: any) => m.name === vol.name);
  assert.is(mount.readOnly, true);
  assert.is(envValue(c, 'NODEWARDEN_NATS_TOKEN_FILE'), `${mount.mountPath}/token`);
  assert.is(envValue(c, 'NODEWARDEN_NATS_CA'), `${mount.mountPath}/ca.crt`);
  for (const e of [
    'NODEWARDEN_NATS_TOKEN',
    'NODEWARDEN_NATS_USER',
    'NODEWARDEN_NATS_PASSWORD',
    'NODEWARDEN_NATS_PASSWORD_FILE',
  ])
    assert.not.ok(envOf(c).has(e), e);
  assert.is(spec.automountServiceAccountToken, false, 'no API-server token');
  // the auth service admits exactly this ServiceAccount with exactly this audience
  const auth = container(podSpec('Deployment', 'nodewarden-auth'), 'auth');
  assert.is(envValue(auth, 'NODEWARDEN_SERVICE_ACCOUNT'), `${NS}:${spec.serviceAccountName}`);
  assert.is(envValue(auth, 'NODEWARDEN_AUDIENCE'), sat.audience);
});

test('agent, collector and auth service reach NATS over TLS through its Service by DNS name', () => {
  const svc = find('Service', 'nats');
  for (const [kind, name, cname] of [
    ['DaemonSet', 'nodewarden-agent', 'agent'],
    ['Deployment', 'nodewarden-collector', 'collector'],
    ['Deployment', 'nodewarden-auth', 'auth'],
  ]) {
    const url = new URL(envValue(container(podSpec(kind, name), cname), 'NODEWARDEN_NATS'));
    assert.is(url.protocol, 'tls:');
    assert.is(url.hostname, `${svc.metadata.name}.${svc.metadata.namespace}.svc`);
    assert.ok(
      svc.spec.ports.some((p: any) => p.port === Number(url.port)),
      `Service nats has port ${url.port}`,
    );
  }
});

test('every NODEWARDEN_* env var in the manifests is one the CLI reads (a typo would be silently ignored)', () => {
  for (const [kind, name, cname, command] of [
    ['DaemonSet', 'nodewarden-agent', 'agent', 'agent'],
    ['Deployment', 'nodewarden-collector', 'collector', 'collector'],
    ['Deployment', 'nodewarden-auth', 'auth', 'auth'],
  ]) {
    const known = envVarsOf(command);
    const c = container(podSpec(kind, name), cname);
    for (const e of c.env) {
      if (e.name.startsWith('NODEWARDEN_'))
        assert.ok(known.has(e.name), `${kind}/${name}: ${e.name} is not read by "nodewarden ${command}"`);
      else assert.ok(['NODE_NAME', 'NODE_OPTIONS'].includes(e.name), `${kind}/${name}: unexpected env ${e.name}`);
    }
  }
});

test('workloads: selectors match their pod labels, Services select existing pods, every image comes from kustomize images:', () => {
  const workloads = docs.filter((d) => ['Deployment', 'DaemonSet', 'StatefulSet'].includes(d.kind));
  const podLabels = workloads.map((w) => w.spec.template.metadata.labels);
  for (const w of workloads) {
    for (const [k, v] of Object.entries(w.spec.selector.matchLabels))
      assert.is(w.spec.template.metadata.labels[k], v, `${w.kind}/${w.metadata.name} selector ${k}`);
    for (const c of [...w.spec.template.spec.containers, ...(w.spec.template.spec.initContainers ?? [])]) {
      assert.ok([IMAGE, NATS_IMAGE].includes(c.image), `${w.kind}/${w.metadata.name}: image ${c.image}`);
      assert.is(c.imagePullPolicy, 'IfNotPresent');
    }
  }
  for (const s of docs.filter((d) => d.kind === 'Service')) {
    const hits = podLabels.filter((l) => Object.entries(s.spec.selector).every(([k, v]) => l[k] === v));
    assert.is(hits.length, 1, `Service ${s.metadata.name} selects exactly one workload's pods`);
  }
  const pdb = find('PodDisruptionBudget', 'nodewarden-collector');
  assert.equal(pdb.spec.selector.matchLabels, find('Deployment', 'nodewarden-collector').spec.selector.matchLabels);
});

test('every container: requests set, memory limit set, drops ALL capabilities, no privilege escalation, read-only root', () => {
  for (const w of docs.filter((d) => ['Deployment', 'DaemonSet', 'StatefulSet'].includes(d.kind))) {
    for (const c of w.spec.template.spec.containers) {
      const where = `${w.kind}/${w.metadata.name}/${c.name}`;
      assert.ok(
        c.resources?.requests?.cpu && c.resources?.requests?.memory && c.resources?.limits?.memory,
        `${where}: resources`,
      );
      assert.ok(c.securityContext.capabilities.drop.includes('ALL'), `${where}: drop ALL`);
      assert.is(c.securityContext.allowPrivilegeEscalation, false, where);
      assert.is(c.securityContext.readOnlyRootFilesystem, true, where);
      assert.ok(c.livenessProbe && c.readinessProbe, `${where}: probes`);
    }
  }
});

test('optional component components/containerd-socket adds only a read-only CRI socket mount to the agent', () => {
  const overlay = join(tmp, 'overlay');
  mkdirSync(overlay);
  writeFileSync(
    join(overlay, 'kustomization.yaml'),
    `resources: [${relative(overlay, DEPLOY)}]\ncomponents: [${relative(overlay, join(DEPLOY, 'components', 'containerd-socket'))}]\n`,
  );
  const withCri = kustomize(overlay);
  const spec = podSpec('DaemonSet', 'nodewarden-agent', withCri);
  const base = podSpec('DaemonSet', 'nodewarden-agent');
  const added = spec.volumes.filter((v: any) => !base.volumes.some((b: any) => b.name === v.name));
  assert.equal(added, [{ name: 'cri-socket', hostPath: { path: '/run/containerd/containerd.sock', type: 'Socket' } }]);
  const mount = spec.containers[0].volumeMounts.find((m: any) => m.name === 'cri-socket');
  assert.equal(mount, { name: 'cri-socket', mountPath: '/run/containerd/containerd.sock', readOnly: true });
  // nothing else changes
  assert.is(withCri.length, docs.length);
  assert.equal(spec.containers[0].securityContext, base.containers[0].securityContext);
});

test('the overlay example in deploy/README.md renders: the agent env patched and merged, still no credential', () => {
  const readme = readFileSync(join(DEPLOY, 'README.md'), 'utf8');
  const block = [...readme.matchAll(/```yaml\n([\s\S]*?)```/g)]
    .map((m) => m[1])
    .find((b) => b.startsWith('# my-overlay/kustomization.yaml'));
  assert.ok(block, 'README has the "# my-overlay/kustomization.yaml" example');
  const overlay = join(tmp, 'my-overlay');
  mkdirSync(overlay);
  assert.ok(block!.includes('  - ../deploy'), 'the example refers to the base as ../deploy');
  writeFileSync(
    join(overlay, 'kustomization.yaml'),
    block!.replace('  - ../deploy', `  - ${relative(overlay, DEPLOY)}`),
  );
  const out = kustomize(overlay);
  assert.is(out.filter((d) => d.kind === 'Secret').length, 0);
  const agent = container(podSpec('DaemonSet', 'nodewarden-agent', out), 'agent');
  assert.is(envValue(agent, 'NODEWARDEN_IPTABLES_SAVE'), 'iptables-legacy-save');
  assert.ok(envVarsOf('agent').has('NODEWARDEN_IPTABLES_SAVE'));
  // a strategic merge: the base's env is all still there
  const baseAgent = container(podSpec('DaemonSet', 'nodewarden-agent'), 'agent');
  for (const e of baseAgent.env) if (!e.valueFrom?.secretKeyRef) assert.equal(envOf(agent).get(e.name), e, e.name);
  assert.is(out.length, docs.length);
});

test.run();
