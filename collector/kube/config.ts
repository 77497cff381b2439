// Where the Kubernetes API is and how to authenticate: a kubeconfig file or the in-cluster service
// account. Only what the collector needs: bearer token (inline or file), client certificate, basic
// auth, CA (file or data), insecure-skip-tls-verify, tls-server-name. Exec/auth-provider plugins and
// proxies are rejected with one clear line instead of being half-supported.
import { readFileSync, existsSync } from 'node:fs';
import { dirname, isAbsolute, resolve as resolvePath } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { ConfigError } from '../../common/flags.js';

export const IN_CLUSTER_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/** A bearer token that may change on disk (bound service-account tokens rotate about hourly). */
export interface TokenSource {
  token(): string | undefined;
  /** Forget the cached value (e.g. after a 401) so the next call re-reads the file. */
  invalidate(): void;
}

export interface KubeConfig {
  /** https://host:port, no trailing slash (may carry a path prefix). */
  server: string;
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  insecureSkipTlsVerify: boolean;
  tlsServerName?: string;
  auth: TokenSource;
  basic?: { username: string; password: string };
  /** For logs: "kubeconfig /path (context x)" or "in-cluster". */
  describe: string;
  /**
   * True for the in-cluster config: `server` is then the default/kubernetes Service IP (pre-DNAT), not an apiserver.
   */
  inCluster?: boolean;
}

/** A token read from a file, re-read at most every refreshMs (client-go re-reads every minute). */
export function fileToken(path: string, refreshMs = 60_000, now: () => number = Date.now): TokenSource {
  let cached: string | undefined;
  let readAt = -Infinity;
  return {
    token() {
      if (cached === undefined || now() - readAt >= refreshMs) {
        try {
          cached = readFileSync(path, 'utf8').trim();
          readAt = now();
        } catch {
          // keep the last good token; a rotation in progress is not an outage
        }
      }
      return cached;
    },
    invalidate() {
      readAt = -Infinity;
    },
  };
}

export function staticToken(token: string | undefined): TokenSource {
  return { token: () => token, invalidate: () => undefined };
}

function readConfigFile(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new ConfigError(
      `${what}: cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
    );
  }
}

function b64(data: string, what: string): Buffer {
  const b = Buffer.from(data, 'base64');
  if (b.length === 0) throw new ConfigError(`${what}: not base64 data`);
  return b;
}

type Named<T> = { name?: string } & T;
interface RawCluster {
  server?: string;
  'certificate-authority'?: string;
  'certificate-authority-data'?: string;
  'insecure-skip-tls-verify'?: boolean;
  'tls-server-name'?: string;
  'proxy-url'?: string;
}
interface RawUser {
  token?: string;
  tokenFile?: string;
  'client-certificate'?: string;
  'client-certificate-data'?: string;
  'client-key'?: string;
  'client-key-data'?: string;
  username?: string;
  password?: string;
  exec?: unknown;
  'auth-provider'?: unknown;
}
interface RawKubeconfig {
  clusters?: Named<{ cluster?: RawCluster }>[];
  users?: Named<{ user?: RawUser }>[];
  contexts?: Named<{ context?: { cluster?: string; user?: string } }>[];
  'current-context'?: string;
}

/** Loads a kubeconfig file (YAML or JSON); relative file paths are relative to the file, as kubectl does. */
export function loadKubeconfig(path: string, context?: string): KubeConfig {
  const what = `--kubeconfig ${path}`;
  if (!existsSync(path)) throw new ConfigError(`${what}: no such file`);
  let doc: RawKubeconfig;
  try {
    doc = parseYaml(readFileSync(path, 'utf8')) as RawKubeconfig;
  } catch (err) {
    throw new ConfigError(`${what}: not YAML (${(err as Error).message.split('\n')[0]})`);
  }
  if (!doc || typeof doc !== 'object') throw new ConfigError(`${what}: empty or not a kubeconfig`);
  const ctxName = context ?? doc['current-context'];
  if (!ctxName) throw new ConfigError(`${what}: no current-context (set one or pass --kube-context)`);
  const ctx = doc.contexts?.find((c) => c.name === ctxName)?.context;
  if (!ctx) throw new ConfigError(`${what}: context "${ctxName}" not found`);
  const cluster = doc.clusters?.find((c) => c.name === ctx.cluster)?.cluster;
  if (!cluster) throw new ConfigError(`${what}: cluster "${ctx.cluster ?? ''}" of context "${ctxName}" not found`);
  const user: RawUser = (ctx.user ? doc.users?.find((u) => u.name === ctx.user)?.user : undefined) ?? {};
  const rel = (p: string) => (isAbsolute(p) ? p : resolvePath(dirname(path), p));

  if (!cluster.server || !/^https?:\/\//.test(cluster.server))
    throw new ConfigError(`${what}: cluster "${ctx.cluster}" has no http(s) server URL`);
  if (cluster['proxy-url']) throw new ConfigError(`${what}: proxy-url is not supported; reach the API server directly`);
  if (user.exec || user['auth-provider'])
    throw new ConfigError(
      `${what}: user "${ctx.user}" uses an exec/auth-provider plugin, which is not supported; use a token, tokenFile or client certificate (e.g. a ServiceAccount token)`,
    );

  const ca = cluster['certificate-authority-data']
    ? b64(cluster['certificate-authority-data'], `${what}: certificate-authority-data`)
    : cluster['certificate-authority']
      ? readConfigFile(rel(cluster['certificate-authority']), `${what}: certificate-authority`)
      : undefined;
  const cert = user['client-certificate-data']
    ? b64(user['client-certificate-data'], `${what}: client-certificate-data`)
    : user['client-certificate']
      ? readConfigFile(rel(user['client-certificate']), `${what}: client-certificate`)
      : undefined;
  const key = user['client-key-data']
    ? b64(user['client-key-data'], `${what}: client-key-data`)
    : user['client-key']
      ? readConfigFile(rel(user['client-key']), `${what}: client-key`)
      : undefined;
  if (!!cert !== !!key)
    throw new ConfigError(`${what}: user "${ctx.user}" has a client certificate without a key or the other way round`);

  let auth: TokenSource;
  if (user.token) auth = staticToken(user.token);
  else if (user.tokenFile) {
    readConfigFile(rel(user.tokenFile), `${what}: tokenFile`);
    auth = fileToken(rel(user.tokenFile));
  } else auth = staticToken(undefined);

  return {
    server: cluster.server.replace(/\/+$/, ''),
    ca,
    cert,
    key,
    insecureSkipTlsVerify: cluster['insecure-skip-tls-verify'] === true,
    tlsServerName: cluster['tls-server-name'],
    auth,
    basic: user.username !== undefined ? { username: user.username, password: user.password ?? '' } : undefined,
    describe: `kubeconfig ${path} (context ${ctxName})`,
  };
}

/** True when running in a pod with a service account mounted. */
export function inClusterAvailable(env: NodeJS.ProcessEnv = process.env, dir = IN_CLUSTER_DIR): boolean {
  return !!env.KUBERNETES_SERVICE_HOST && existsSync(`${dir}/token`);
}

/** The in-cluster config client-go uses: KUBERNETES_SERVICE_HOST/PORT, the SA token (re-read every minute) and CA. */
export function loadInCluster(env: NodeJS.ProcessEnv = process.env, dir = IN_CLUSTER_DIR): KubeConfig {
  const host = env.KUBERNETES_SERVICE_HOST,
    port = env.KUBERNETES_SERVICE_PORT || '443';
  if (!host)
    throw new ConfigError('in-cluster config: KUBERNETES_SERVICE_HOST is not set (pass --kubeconfig outside a pod)');
  if (!existsSync(`${dir}/token`))
    throw new ConfigError(
      `in-cluster config: no service account token at ${dir}/token (automountServiceAccountToken: false?)`,
    );
  const ca = existsSync(`${dir}/ca.crt`) ? readConfigFile(`${dir}/ca.crt`, 'in-cluster config: ca.crt') : undefined;
  return {
    server: `https://${host.includes(':') ? `[${host}]` : host}:${port}`,
    ca,
    insecureSkipTlsVerify: false,
    auth: fileToken(`${dir}/token`),
    describe: 'in-cluster service account',
    inCluster: true,
  };
}
