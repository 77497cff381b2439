// Test harness: a real Kubernetes control plane (etcd + kube-apiserver) on
// 127.0.0.1, for integration tests. No kubelet, scheduler or controller-manager:
// pods are created with spec.nodeName and their status is written directly.
//
//   const cp = await startControlPlane({ users: [{ name: 'agent' }] });
//   await cp.createNamespace('t1');
//   const { uid } = await cp.createPod('t1', 'victim', { nodeName: 'node-a', podIP: '10.244.1.7' });
//   const r = await cp.kubectl(['-n', 't1', 'describe', 'pod', 'victim']);
//   await cp.stop();
//
// Binaries: kube-apiserver and kubectl come from scripts/ensure-kube-bins.sh
// (built from tools/k8s-testbins and cached), etcd from PATH (Debian etcd-server).
// Env overrides: NODEWARDEN_KUBE_BIN_DIR (skip the script), NODEWARDEN_ETCD (etcd
// binary), NODEWARDEN_KUBE_READY_TIMEOUT_MS, NODEWARDEN_KUBE_KEEP_DIR=1 (keep the
// temp dir with logs after stop()).

import { spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

export interface ControlPlaneUser {
  name: string;
  groups?: string[];
}

export interface StartControlPlaneOptions {
  /** Extra token users (besides 'admin', who is in system:masters). They have no RBAC bindings. */
  users?: ControlPlaneUser[];
  /** Bound for etcd health + apiserver /readyz (default 60 000, or NODEWARDEN_KUBE_READY_TIMEOUT_MS). */
  readyTimeoutMs?: number;
  /** Bound for scripts/ensure-kube-bins.sh (default 45 min: a cold build compiles all of k8s). */
  buildTimeoutMs?: number;
  /** Extra kube-apiserver flags, appended last (e.g. ['--event-ttl=5m']). */
  apiserverArgs?: string[];
}

export interface KubectlResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RequestOptions {
  /** Token user (default 'admin'). */
  user?: string;
  /** Send no Authorization header (system:anonymous). */
  anonymous?: boolean;
  /** Default: application/json; for PATCH application/merge-patch+json. */
  contentType?: string;
  timeoutMs?: number;
}

export interface CreatePodOptions {
  nodeName: string;
  podIP?: string;
  podIPs?: string[];
  hostIP?: string;
  /** Default 'Running'. */
  phase?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  hostNetwork?: boolean;
  /** spec.serviceAccountName (the harness runs without the ServiceAccount admission plugin, so no default). */
  serviceAccountName?: string;
}

export interface AuditEvent {
  verb: string;
  user: { username: string; groups?: string[] };
  objectRef?: {
    resource?: string;
    subresource?: string;
    namespace?: string;
    name?: string;
    apiGroup?: string;
    apiVersion?: string;
  };
  responseStatus?: { code?: number };
  requestURI: string;
  stage: string;
  [k: string]: unknown;
}

export interface ControlPlane {
  /** https://127.0.0.1:<port> */
  readonly url: string;
  /** The apiserver's self-signed serving cert (+ its CA); use as certificate-authority. */
  readonly caFile: string;
  readonly adminToken: string;
  /** Directory holding kube-apiserver and kubectl. */
  readonly binDir: string;
  /** Per-run temp dir (logs, kubeconfigs, etcd data). */
  readonly dir: string;
  readonly etcdUrl: string;
  /**
   * JSON-lines audit log (stage ResponseComplete only): Metadata level for pods (incl.
   * subresources) and events, nothing else. It includes the apiserver's own list/watch
   * of pods (user system:apiserver), so filter by verb/user when counting writes.
   */
  readonly auditLog: string;
  readonly apiserverLog: string;
  readonly etcdLog: string;
  /** Bearer token of a user declared at start ('admin' always exists). Throws for unknown users. */
  token(user: string): string;
  /** Path of a kubeconfig file for that token user (default 'admin'). */
  kubeconfig(user?: string): string;
  /** Runs the built kubectl with --kubeconfig for the user. Never rejects on a non-zero exit. */
  kubectl(args: string[], opts?: { user?: string; input?: string; timeoutMs?: number }): Promise<KubectlResult>;
  /** Raw HTTPS request; body is JSON-encoded unless a string/Buffer; response body parsed as JSON when possible. */
  request(method: string, path: string, body?: unknown, opts?: RequestOptions): Promise<{ status: number; body: any }>;
  createNamespace(name: string): Promise<void>;
  /** Creates the pod with spec.nodeName, then merge-patches pods/status (phase, podIP(s), hostIP(s)). */
  createPod(ns: string, name: string, opts: CreatePodOptions): Promise<{ uid: string; pod: any }>;
  /** Deletes with gracePeriodSeconds=0 (no kubelet would confirm) and waits until it is gone. */
  deletePod(ns: string, name: string): Promise<void>;
  /** Creates a Node and sets status.addresses (InternalIP, Hostname) and a Ready=True condition. */
  createNode(name: string, internalIP: string): Promise<{ uid: string }>;
  /** Parsed audit log entries, optionally filtered. */
  auditEvents(filter?: (e: AuditEvent) => boolean): AuditEvent[];
  /** Kills kube-apiserver only and starts it again on the same port; resolves when /readyz is ok. */
  restartApiserver(): Promise<void>;
  /** Kills apiserver + etcd by PID, waits for exit, removes the temp dir. Idempotent. */
  stop(): Promise<void>;
}

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const ENSURE_SCRIPT = path.join(REPO_ROOT, 'scripts', 'ensure-kube-bins.sh');

// ---------------------------------------------------------------------------
// process bookkeeping: every child we start is killed by PID on process exit

const liveChildren = new Set<ChildProcess>();
const liveDirs = new Set<string>();
let exitHooksInstalled = false;

function killAllSync(): void {
  for (const c of liveChildren) {
    if (c.pid !== undefined && c.exitCode === null && c.signalCode === null) {
      try {
        process.kill(c.pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
  }
  liveChildren.clear();
  if (!process.env.NODEWARDEN_KUBE_KEEP_DIR) {
    for (const d of liveDirs) {
      try {
        fs.rmSync(d, { recursive: true, force: true });
      } catch {
        /* best effort */
      }
    }
  }
  liveDirs.clear();
}

function installExitHooks(): void {
  if (exitHooksInstalled) return;
  exitHooksInstalled = true;
  process.on('exit', killAllSync);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const handler = (): void => {
      killAllSync();
      // Only re-raise if nobody else handles this signal, to keep default semantics.
      process.removeListener(sig, handler);
      if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
    };
    process.on(sig, handler);
  }
}

// ---------------------------------------------------------------------------
// helpers

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function tail(file: string, lines = 40): string {
  try {
    const all = fs.readFileSync(file, 'utf8').split('\n');
    return all.slice(-lines - 1).join('\n');
  } catch (e) {
    return `(cannot read ${file}: ${(e as Error).message})`;
  }
}

async function freePorts(n: number): Promise<number[]> {
  const servers: net.Server[] = [];
  try {
    const ports: number[] = [];
    for (let i = 0; i < n; i++) {
      const s = net.createServer();
      servers.push(s);
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.listen(0, '127.0.0.1', () => resolve());
      });
      ports.push((s.address() as net.AddressInfo).port);
    }
    return ports;
  } finally {
    await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
  }
}

function runCapture(
  cmd: string,
  args: string[],
  opts: { timeoutMs: number; input?: string; env?: NodeJS.ProcessEnv; stderr?: 'pipe' | 'inherit' },
): Promise<KubectlResult> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, {
      stdio: ['pipe', 'pipe', opts.stderr ?? 'pipe'],
      env: opts.env ?? process.env,
    });
    liveChildren.add(child);
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, opts.timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      liveChildren.delete(child);
      resolve({ code: 127, stdout, stderr: stderr + `\n${cmd}: ${err.message}` });
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      liveChildren.delete(child);
      if (timedOut) stderr += `\n${path.basename(cmd)} timed out after ${opts.timeoutMs} ms`;
      resolve({
        code: code ?? (timedOut ? 124 : 128 + (signal ? (os.constants.signals[signal] ?? 0) : 0)),
        stdout,
        stderr,
      });
    });
    child.stdin!.on('error', () => {
      /* child may exit before reading stdin */
    });
    child.stdin!.end(opts.input ?? '');
  });
}

/**
 * Retries fn until it resolves (e.g. assertions that throw), bounded by timeoutMs
 * (default 10 s); rethrows the last error. Useful after RBAC changes, which the
 * apiserver's authorizer picks up through an informer a moment later.
 */
export async function eventually<T>(
  fn: () => Promise<T> | T,
  opts: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<T> {
  const deadline = Date.now() + (opts.timeoutMs ?? 10_000);
  for (;;) {
    try {
      return await fn();
    } catch (e) {
      if (Date.now() > deadline) throw e;
      await sleep(opts.intervalMs ?? 100);
    }
  }
}

/** Runs scripts/ensure-kube-bins.sh (builds on a cold cache) and returns the bin dir. */
export async function ensureKubeBins(timeoutMs = 45 * 60_000): Promise<string> {
  const override = process.env.NODEWARDEN_KUBE_BIN_DIR;
  if (override) return override;
  const r = await runCapture('bash', [ENSURE_SCRIPT], { timeoutMs, stderr: 'inherit' });
  const last = r.stdout.trim().split('\n').pop() ?? '';
  if (r.code !== 0 || !last || !fs.existsSync(path.join(last, 'kube-apiserver'))) {
    throw new Error(`scripts/ensure-kube-bins.sh failed (exit ${r.code}); stdout:\n${r.stdout}\n${r.stderr}`);
  }
  return last;
}

let etcdNoFsync: Map<string, boolean> | undefined;
async function etcdSupportsNoFsync(etcd: string): Promise<boolean> {
  etcdNoFsync ??= new Map();
  let v = etcdNoFsync.get(etcd);
  if (v === undefined) {
    // etcd parses all flags before handling --version: an unknown flag exits 2.
    const r = await runCapture(etcd, ['--unsafe-no-fsync', '--version'], { timeoutMs: 10_000 });
    v = r.code === 0;
    etcdNoFsync.set(etcd, v);
  }
  return v;
}

function httpGet(
  url: string,
  opts: https.RequestOptions = {},
  timeoutMs = 2000,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const mod = url.startsWith('https:') ? https : http;
    const req = mod.get(url, { ...opts, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

function waitExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const t = setTimeout(() => {
      child.removeListener('exit', onExit);
      resolve(false);
    }, ms);
    const onExit = (): void => {
      clearTimeout(t);
      resolve(true);
    };
    child.once('exit', onExit);
  });
}

async function killChild(child: ChildProcess | undefined, graceMs = 10_000): Promise<void> {
  if (!child || child.pid === undefined) return;
  if (child.exitCode === null && child.signalCode === null) {
    try {
      process.kill(child.pid, 'SIGTERM');
    } catch {
      /* gone */
    }
    if (!(await waitExit(child, graceMs))) {
      try {
        process.kill(child.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
      if (!(await waitExit(child, 5_000))) throw new Error(`pid ${child.pid} did not exit after SIGKILL`);
    }
  }
  liveChildren.delete(child);
}

function csvField(s: string): string {
  if (/[",\n]/.test(s)) return `"${s.replace(/"/g, '""')}"`;
  return s;
}

const AUDIT_POLICY = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
  - level: Metadata
    resources:
      - group: ""
        resources: ["pods", "pods/*", "events"]
      - group: "events.k8s.io"
        resources: ["events"]
  - level: None
`;

// ---------------------------------------------------------------------------

export async function startControlPlane(opts: StartControlPlaneOptions = {}): Promise<ControlPlane> {
  installExitHooks();
  const readyTimeoutMs = opts.readyTimeoutMs ?? (Number(process.env.NODEWARDEN_KUBE_READY_TIMEOUT_MS) || 60_000);
  const binDir = await ensureKubeBins(opts.buildTimeoutMs);
  const etcdBin = process.env.NODEWARDEN_ETCD || 'etcd';
  const apiserverBin = path.join(binDir, 'kube-apiserver');
  const kubectlBin = path.join(binDir, 'kubectl');

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nodewarden-kube-'));
  liveDirs.add(dir);
  const pkiDir = path.join(dir, 'pki');
  fs.mkdirSync(pkiDir, { mode: 0o700 });
  const etcdLog = path.join(dir, 'etcd.log');
  const apiserverLog = path.join(dir, 'kube-apiserver.log');
  const auditLog = path.join(dir, 'audit.log');
  const auditPolicy = path.join(dir, 'audit-policy.yaml');
  const tokenFile = path.join(dir, 'tokens.csv');
  const saKey = path.join(pkiDir, 'sa.key');
  const caFile = path.join(pkiDir, 'apiserver.crt'); // written by kube-apiserver (self-signed) on first start

  // tokens: admin + declared users
  const tokens = new Map<string, string>();
  const lines: string[] = [];
  const addUser = (name: string, groups: string[]): void => {
    if (tokens.has(name)) throw new Error(`duplicate control-plane user ${name}`);
    // the static token file splits the groups column on ','
    for (const g of groups)
      if (!g || g.includes(',')) throw new Error(`invalid group name ${JSON.stringify(g)} for user ${name}`);
    const tok = randomBytes(24).toString('hex');
    tokens.set(name, tok);
    const g = groups.length ? ',' + csvField(groups.join(',')) : '';
    lines.push(`${tok},${csvField(name)},uid-${name.replace(/[^A-Za-z0-9_.-]/g, '_')}${g}`);
  };
  addUser('admin', ['system:masters']);
  for (const u of opts.users ?? []) addUser(u.name, u.groups ?? []);
  fs.writeFileSync(tokenFile, lines.join('\n') + '\n', { mode: 0o600 });
  fs.writeFileSync(
    saKey,
    generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs1', format: 'pem' }),
    {
      mode: 0o600,
    },
  );
  fs.writeFileSync(auditPolicy, AUDIT_POLICY);

  const [etcdPort, peerPort, apiPort] = await freePorts(3);
  const etcdUrl = `http://127.0.0.1:${etcdPort}`;
  const peerUrl = `http://127.0.0.1:${peerPort}`;
  const url = `https://127.0.0.1:${apiPort}`;
  const adminToken = tokens.get('admin')!;

  const etcdArgs = [
    '--name=nodewarden-test',
    `--data-dir=${path.join(dir, 'etcd')}`,
    `--listen-client-urls=${etcdUrl}`,
    `--advertise-client-urls=${etcdUrl}`,
    `--listen-peer-urls=${peerUrl}`,
    `--initial-advertise-peer-urls=${peerUrl}`,
    `--initial-cluster=nodewarden-test=${peerUrl}`,
    '--logger=zap',
    '--log-outputs=stderr',
  ];
  if (await etcdSupportsNoFsync(etcdBin)) etcdArgs.push('--unsafe-no-fsync');

  const apiserverArgs = [
    `--etcd-servers=${etcdUrl}`,
    '--bind-address=127.0.0.1',
    '--advertise-address=127.0.0.1',
    `--secure-port=${apiPort}`,
    `--cert-dir=${pkiDir}`,
    '--service-cluster-ip-range=10.0.0.0/24',
    `--service-account-issuer=${url}`,
    `--service-account-key-file=${saKey}`,
    `--service-account-signing-key-file=${saKey}`,
    `--token-auth-file=${tokenFile}`,
    '--authorization-mode=RBAC',
    '--disable-admission-plugins=ServiceAccount',
    '--allow-privileged=true',
    `--audit-policy-file=${auditPolicy}`,
    `--audit-log-path=${auditLog}`,
    '--audit-log-format=json',
    '--audit-log-mode=blocking',
    '--profiling=false',
    ...(opts.apiserverArgs ?? []),
  ];

  let etcd: ChildProcess | undefined;
  let apiserver: ChildProcess | undefined;
  let stopped = false;
  let agent = new https.Agent({ keepAlive: false });

  const spawnLogged = (bin: string, args: string[], logFile: string): ChildProcess => {
    const fd = fs.openSync(logFile, 'a');
    try {
      fs.writeSync(fd, `==== ${new Date().toISOString()} ${bin} ${args.join(' ')}\n`);
      const child = spawn(bin, args, { stdio: ['ignore', fd, fd], cwd: dir });
      liveChildren.add(child);
      child.on('error', (err) => fs.appendFileSync(logFile, `spawn error: ${err.message}\n`));
      return child;
    } finally {
      fs.closeSync(fd);
    }
  };

  const failure = (what: string): Error =>
    new Error(
      `${what}${process.env.NODEWARDEN_KUBE_KEEP_DIR ? '' : ` (${dir} is removed; set NODEWARDEN_KUBE_KEEP_DIR=1 to keep it)`}\n--- last 40 lines of ${etcdLog} ---\n${tail(etcdLog)}\n--- last 40 lines of ${apiserverLog} ---\n${tail(apiserverLog)}`,
    );

  const exited = (c: ChildProcess | undefined): boolean => !c || c.exitCode !== null || c.signalCode !== null;

  const waitFor = async (what: string, child: ChildProcess, probe: () => Promise<boolean>): Promise<void> => {
    const deadline = Date.now() + readyTimeoutMs;
    for (;;) {
      if (exited(child))
        throw failure(`${what}: process exited early (code ${child.exitCode}, signal ${child.signalCode})`);
      if (await probe().catch(() => false)) return;
      if (Date.now() > deadline) throw failure(`${what}: not ready within ${readyTimeoutMs} ms`);
      await sleep(250);
    }
  };

  const startApiserver = async (): Promise<void> => {
    apiserver = spawnLogged(apiserverBin, apiserverArgs, apiserverLog);
    const child = apiserver;
    await waitFor('kube-apiserver /readyz', child, async () => {
      if (!fs.existsSync(caFile)) return false;
      const r = await httpGet(`${url}/readyz`, {
        ca: fs.readFileSync(caFile),
        headers: { Authorization: `Bearer ${adminToken}` },
        agent: false,
      });
      return r.status === 200 && r.body.trim() === 'ok';
    });
  };

  const cleanup = async (): Promise<void> => {
    const errs: string[] = [];
    for (const c of [apiserver, etcd]) {
      try {
        await killChild(c);
      } catch (e) {
        errs.push((e as Error).message);
      }
    }
    agent.destroy();
    if (!process.env.NODEWARDEN_KUBE_KEEP_DIR) fs.rmSync(dir, { recursive: true, force: true });
    liveDirs.delete(dir);
    if (errs.length) throw new Error(errs.join('; '));
  };

  try {
    etcd = spawnLogged(etcdBin, etcdArgs, etcdLog);
    const etcdChild = etcd;
    await waitFor('etcd /health', etcdChild, async () => {
      const r = await httpGet(`${etcdUrl}/health`, { agent: false });
      return r.status === 200 && /"health"\s*:\s*"true"/.test(r.body);
    });
    await startApiserver();
  } catch (e) {
    const err = e as Error;
    // keep the logs in the message; then tear down
    await cleanup().catch(() => undefined);
    throw err;
  }

  // -------------------------------------------------------------------------
  const kubeconfigs = new Map<string, string>();
  const token = (user: string): string => {
    const t = tokens.get(user);
    if (!t)
      throw new Error(`unknown control-plane user ${JSON.stringify(user)}; declare it in startControlPlane({ users })`);
    return t;
  };
  const kubeconfig = (user = 'admin'): string => {
    let f = kubeconfigs.get(user);
    if (f) return f;
    f = path.join(dir, `kubeconfig-${user.replace(/[^A-Za-z0-9_.-]/g, '_')}.yaml`);
    const cfg = {
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'nodewarden-test', cluster: { server: url, 'certificate-authority': caFile } }],
      users: [{ name: user, user: { token: token(user) } }],
      contexts: [{ name: 'nodewarden-test', context: { cluster: 'nodewarden-test', user } }],
      'current-context': 'nodewarden-test',
    };
    fs.writeFileSync(f, JSON.stringify(cfg, null, 2) + '\n', { mode: 0o600 }); // JSON is valid YAML
    kubeconfigs.set(user, f);
    return f;
  };

  const kubectl: ControlPlane['kubectl'] = async (args, o = {}) => {
    return runCapture(
      kubectlBin,
      ['--kubeconfig', kubeconfig(o.user ?? 'admin'), '--cache-dir', path.join(dir, 'kubectl-cache'), ...args],
      {
        timeoutMs: o.timeoutMs ?? 30_000,
        input: o.input,
      },
    );
  };

  const request: ControlPlane['request'] = async (method, p, body, o = {}) => {
    const m = method.toUpperCase();
    let payload: Buffer | undefined;
    if (body !== undefined)
      payload = Buffer.isBuffer(body) ? body : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
    const headers: http.OutgoingHttpHeaders = { Accept: 'application/json' };
    if (!o.anonymous) headers.Authorization = `Bearer ${token(o.user ?? 'admin')}`;
    if (payload) {
      headers['Content-Type'] = o.contentType ?? (m === 'PATCH' ? 'application/merge-patch+json' : 'application/json');
      headers['Content-Length'] = payload.length;
    }
    const timeoutMs = o.timeoutMs ?? 30_000;
    return new Promise((resolve, reject) => {
      const req = https.request(
        new URL(p, url),
        { method: m, headers, ca: fs.readFileSync(caFile), agent, timeout: timeoutMs },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (d: Buffer) => chunks.push(d));
          res.on('error', reject);
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let parsed: any = text;
            if (/json/.test(String(res.headers['content-type'] ?? '')) || /^\s*[{[]/.test(text)) {
              try {
                parsed = JSON.parse(text);
              } catch {
                /* leave as text */
              }
            }
            resolve({ status: res.statusCode ?? 0, body: parsed });
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error(`${m} ${p}: timed out after ${timeoutMs} ms`)));
      req.on('error', reject);
      req.end(payload);
    });
  };

  const must = async (what: string, p: Promise<{ status: number; body: any }>): Promise<any> => {
    const r = await p;
    if (r.status < 200 || r.status > 299) {
      const msg = typeof r.body === 'object' && r.body ? (r.body.message ?? JSON.stringify(r.body)) : String(r.body);
      throw new Error(`${what}: HTTP ${r.status}: ${msg}`);
    }
    return r.body;
  };

  const cp: ControlPlane = {
    url,
    caFile,
    adminToken,
    binDir,
    dir,
    etcdUrl,
    auditLog,
    apiserverLog,
    etcdLog,
    token,
    kubeconfig,
    kubectl,
    request,

    async createNamespace(name) {
      await must(
        `create namespace ${name}`,
        request('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name } }),
      );
    },

    async createPod(ns, name, o) {
      const base = `/api/v1/namespaces/${encodeURIComponent(ns)}/pods`;
      const created = await must(
        `create pod ${ns}/${name}`,
        request('POST', base, {
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: { name, namespace: ns, labels: o.labels, annotations: o.annotations },
          spec: {
            nodeName: o.nodeName,
            serviceAccountName: o.serviceAccountName,
            hostNetwork: o.hostNetwork || undefined,
            containers: [{ name: 'c', image: 'registry.invalid/none:0' }],
          },
        }),
      );
      const podIPs = o.podIPs ?? (o.podIP ? [o.podIP] : o.hostNetwork && o.hostIP ? [o.hostIP] : []);
      const podIP = o.podIP ?? podIPs[0];
      if (podIP && podIPs.length && podIPs[0] !== podIP)
        throw new Error(`createPod ${ns}/${name}: podIPs[0] must equal podIP`);
      const status: Record<string, unknown> = { phase: o.phase ?? 'Running' };
      if (podIP) {
        status.podIP = podIP;
        status.podIPs = podIPs.map((ip) => ({ ip }));
      }
      if (o.hostIP) {
        status.hostIP = o.hostIP;
        status.hostIPs = [{ ip: o.hostIP }];
      }
      const pod = await must(
        `patch pod ${ns}/${name} status`,
        request('PATCH', `${base}/${encodeURIComponent(name)}/status`, { status }),
      );
      return { uid: created.metadata.uid as string, pod };
    },

    async deletePod(ns, name) {
      const p = `/api/v1/namespaces/${encodeURIComponent(ns)}/pods/${encodeURIComponent(name)}`;
      const r = await request('DELETE', `${p}?gracePeriodSeconds=0`, {
        apiVersion: 'v1',
        kind: 'DeleteOptions',
        gracePeriodSeconds: 0,
      });
      if (r.status === 404) return;
      if (r.status < 200 || r.status > 299)
        throw new Error(`delete pod ${ns}/${name}: HTTP ${r.status}: ${r.body?.message ?? ''}`);
      const deadline = Date.now() + 15_000;
      while ((await request('GET', p)).status !== 404) {
        if (Date.now() > deadline) throw new Error(`delete pod ${ns}/${name}: still present after 15 s`);
        await sleep(100);
      }
    },

    async createNode(name, internalIP) {
      const created = await must(
        `create node ${name}`,
        request('POST', '/api/v1/nodes', {
          apiVersion: 'v1',
          kind: 'Node',
          metadata: { name, labels: { 'kubernetes.io/hostname': name, 'kubernetes.io/os': 'linux' } },
        }),
      );
      const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
      await must(
        `patch node ${name} status`,
        request('PATCH', `/api/v1/nodes/${encodeURIComponent(name)}/status`, {
          status: {
            addresses: [
              { type: 'InternalIP', address: internalIP },
              { type: 'Hostname', address: name },
            ],
            conditions: [
              {
                type: 'Ready',
                status: 'True',
                reason: 'KubeletReady',
                message: 'fake node (nodewarden test)',
                lastHeartbeatTime: now,
                lastTransitionTime: now,
              },
            ],
          },
        }),
      );
      return { uid: created.metadata.uid as string };
    },

    auditEvents(filter) {
      let text = '';
      try {
        text = fs.readFileSync(auditLog, 'utf8');
      } catch {
        return [];
      }
      const out: AuditEvent[] = [];
      for (const line of text.split('\n')) {
        if (!line.trim()) continue;
        try {
          const e = JSON.parse(line) as AuditEvent;
          if (!filter || filter(e)) out.push(e);
        } catch {
          /* partial last line */
        }
      }
      return out;
    },

    async restartApiserver() {
      if (stopped) throw new Error('control plane is stopped');
      await killChild(apiserver);
      agent.destroy();
      agent = new https.Agent({ keepAlive: false });
      try {
        await startApiserver();
      } catch (e) {
        await killChild(apiserver).catch(() => undefined);
        throw e;
      }
    },

    async stop() {
      if (stopped) return;
      stopped = true;
      await cleanup();
    },
  };
  return cp;
}
