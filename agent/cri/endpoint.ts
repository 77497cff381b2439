// Which runtime socket to talk to, decided the way crictl decides it.
import { readFileSync, statSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { ConfigError } from '../../common/flags.js';

/** crictl's defaults, tried in this order (cri-tools main_unix.go): containerd, CRI-O, cri-dockerd. */
export const WELL_KNOWN_ENDPOINTS = [
  'unix:///run/containerd/containerd.sock',
  'unix:///run/crio/crio.sock',
  'unix:///var/run/cri-dockerd.sock',
];

export interface EndpointChoice {
  /**
   * A fixed endpoint (flag, $CONTAINER_RUNTIME_ENDPOINT or crictl.yaml), else undefined: probe the well-known sockets.
   */
  endpoint?: string;
  /** Where it came from, for the status line. */
  from: string;
}

export interface EndpointEnv {
  env: NodeJS.ProcessEnv;
  readFile(path: string): string | undefined;
}

const defaultEnv: EndpointEnv = {
  env: process.env,
  readFile: (p) => {
    try {
      return readFileSync(p, 'utf8');
    } catch {
      return undefined;
    }
  },
};

/**
 * crictl's precedence: --runtime-endpoint (ours), then $CONTAINER_RUNTIME_ENDPOINT (crictl's flag
 * env), then `runtime-endpoint` in $CRI_CONFIG_FILE or /etc/crictl.yaml, then the well-known sockets.
 */
export function chooseEndpoint(flag: string | undefined, e: EndpointEnv = defaultEnv): EndpointChoice {
  if (flag) return { endpoint: normalizeEndpoint(flag, '--runtime-endpoint'), from: '--runtime-endpoint' };
  const env = e.env.CONTAINER_RUNTIME_ENDPOINT;
  if (env)
    return { endpoint: normalizeEndpoint(env, 'CONTAINER_RUNTIME_ENDPOINT'), from: '$CONTAINER_RUNTIME_ENDPOINT' };
  const file = e.env.CRI_CONFIG_FILE || '/etc/crictl.yaml';
  const text = e.readFile(file);
  if (text !== undefined) {
    const ep = crictlYamlEndpoint(text);
    if (ep) return { endpoint: normalizeEndpoint(ep, `${file} runtime-endpoint`), from: file };
  }
  return { from: 'well-known sockets' };
}

/** `runtime-endpoint` of a crictl.yaml; undefined when absent, empty or the file is not YAML. */
export function crictlYamlEndpoint(text: string): string | undefined {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch {
    return undefined;
  }
  if (!doc || typeof doc !== 'object') return undefined;
  const v = (doc as Record<string, unknown>)['runtime-endpoint'];
  return typeof v === 'string' && v.trim() ? v.trim() : undefined;
}

/** "unix:///p", "/p" (crictl still accepts a bare path), "tcp://h:p" -> a canonical endpoint URL. */
export function normalizeEndpoint(text: string, what: string): string {
  const t = text.trim();
  if (t.startsWith('/')) return `unix://${t}`;
  if (/^unix:\/\/\/./.test(t)) return t;
  if (/^tcp:\/\/[^/]+:\d+\/?$/.test(t)) return t.replace(/\/$/, '');
  throw new ConfigError(
    `${what}: "${text}" is not a runtime endpoint (expected unix:///path/to/socket or tcp://host:port)`,
  );
}

/** The gRPC target for an endpoint URL. */
export function grpcTarget(endpoint: string): string {
  return endpoint.startsWith('tcp://') ? endpoint.slice('tcp://'.length) : endpoint;
}

/** The socket path of a unix endpoint, undefined for tcp. */
export function socketPath(endpoint: string): string | undefined {
  return endpoint.startsWith('unix://') ? endpoint.slice('unix://'.length) : undefined;
}

/** True when a unix endpoint's socket exists (tcp endpoints are assumed present). */
export function socketExists(
  endpoint: string,
  stat: (p: string) => { isSocket(): boolean } | undefined = safeStat,
): boolean {
  const p = socketPath(endpoint);
  if (p === undefined) return true;
  return stat(p)?.isSocket() ?? false;
}

function safeStat(p: string): { isSocket(): boolean } | undefined {
  try {
    return statSync(p);
  } catch {
    return undefined;
  }
}

/** The first well-known socket that exists now, or undefined. */
export function findWellKnown(exists: (endpoint: string) => boolean = (ep) => socketExists(ep)): string | undefined {
  return WELL_KNOWN_ENDPOINTS.find(exists);
}
