// The fallback when a `crictl` binary is configured instead of a socket: `crictl … -o json`, each run
// time-boxed and killed with its process group. The JSON is protojson (cri-tools protobufObjectToJSON):
// lowerCamelCase names, enum names, 64-bit numbers as strings, createdAt in nanoseconds — except
// `inspectp`, which rewrites createdAt as RFC3339Nano and wraps each status as {"status": …}.
import { runCommand } from '../probes/exec.js';
import { ProbeUnavailable } from '../probes/host.js';
import type { RuntimeConditionView } from '../../proto/codec.js';
import {
  RuntimeUnavailable,
  type Container,
  type ContainerState,
  type RuntimeReader,
  type RuntimeVersion,
  type Sandbox,
  type SandboxNetwork,
  type SandboxState,
} from './types.js';

export interface CrictlOptions {
  crictl: string;
  /** Passed as --runtime-endpoint when set; otherwise crictl finds the runtime itself (crictl.yaml, defaults). */
  endpoint?: string;
  timeoutMs: number;
  /** Output bound per run (a node's full `ps -a` is far below this). */
  maxBytes?: number;
}

type Json = Record<string, unknown>;

const SANDBOX_STATES: SandboxState[] = ['SANDBOX_READY', 'SANDBOX_NOTREADY'];
const CONTAINER_STATES: ContainerState[] = [
  'CONTAINER_CREATED',
  'CONTAINER_RUNNING',
  'CONTAINER_EXITED',
  'CONTAINER_UNKNOWN',
];
/** inspectp ids per crictl run. */
const INSPECT_BATCH = 50;

export class CrictlRuntimeReader implements RuntimeReader {
  readonly endpoint: string;
  private readonly closing = new AbortController();

  constructor(private readonly o: CrictlOptions) {
    this.endpoint = `crictl:${o.crictl}${o.endpoint ? ` ${o.endpoint}` : ''}`;
  }

  private async run(args: string[]): Promise<string> {
    // crictl's own --timeout bounds its gRPC calls; our box (one extra second for process start) bounds the process.
    const secs = Math.max(1, Math.ceil(this.o.timeoutMs / 1000));
    const argv = [
      this.o.crictl,
      `--timeout=${secs}s`,
      ...(this.o.endpoint ? [`--runtime-endpoint=${this.o.endpoint}`] : []),
      ...args,
    ];
    const box = AbortSignal.timeout(this.o.timeoutMs + 1000);
    try {
      return await runCommand(argv, {
        signal: AbortSignal.any([box, this.closing.signal]),
        maxBytes: this.o.maxBytes ?? 64 * 1024 * 1024,
      });
    } catch (err) {
      if (this.closing.signal.aborted) throw new RuntimeUnavailable('crictl reader closed', 'error');
      if (box.aborted)
        throw new RuntimeUnavailable(
          `${this.o.crictl} ${args[0]}: no answer within ${this.o.timeoutMs + 1000} ms (killed)`,
          'timeout',
        );
      if (err instanceof ProbeUnavailable && /command not found|permission denied/.test(err.message))
        throw new RuntimeUnavailable(`${this.o.crictl}: ${err.message.split(': ').pop()}`, 'absent');
      const why = crictlReason((err as Error).message);
      throw new RuntimeUnavailable(
        `${this.o.crictl} ${args[0]} failed: ${why}`,
        /deadline|timeout/i.test(why) ? 'timeout' : 'error',
      );
    }
  }

  async version(): Promise<RuntimeVersion> {
    return parseCrictlVersion(await this.run(['version']));
  }

  async conditions(): Promise<RuntimeConditionView[]> {
    // -q: Status without verbose info (the runtime's config), like the gRPC reader asks.
    return parseCrictlInfo(await this.run(['info', '-q', '-o', 'json']));
  }

  async listSandboxes(): Promise<Sandbox[]> {
    return parseCrictlPods(await this.run(['pods', '-o', 'json']));
  }

  async sandboxNetworks(ids: string[]): Promise<Map<string, SandboxNetwork>> {
    const out = new Map<string, SandboxNetwork>();
    const inspect = async (batch: string[]): Promise<void> => {
      let text: string;
      try {
        // -q: no verbose runtime "info" (the OCI spec etc.), which we do not need.
        text = await this.run(['inspectp', '-q', '-o', 'json', ...batch]);
      } catch (err) {
        if ((err as RuntimeUnavailable).reason !== 'error') throw err;
        // One sandbox removed since the list fails the whole run: ask the others one by one; a lone
        // failing id is simply left out (the next poll asks again).
        if (batch.length > 1) for (const id of batch) await inspect([id]);
        return;
      }
      for (const [id, net] of parseCrictlInspectp(text)) out.set(id, net);
    };
    for (let i = 0; i < ids.length; i += INSPECT_BATCH) await inspect(ids.slice(i, i + INSPECT_BATCH));
    return out;
  }

  async listContainers(): Promise<Container[]> {
    return parseCrictlPs(await this.run(['ps', '-a', '-o', 'json']));
  }

  /** Kills a crictl still running (and its process group). */
  close(): void {
    this.closing.abort(new Error('closed'));
  }
}

// --- pure parsers (exported for tests) ---------------------------------------------------------

/**
 * crictl's fatal line -> its root cause, stable from run to run: `time="…" level=fatal msg="a: b: …:
 * connect: connection refused"` -> the message without the timestamp, its tail when long (the
 * innermost error comes last in Go's wrapped errors).
 */
export function crictlReason(runError: string): string {
  let m = runError.replace(/^.*?: (?=time=|level=)/, '');
  const msg = /msg="((?:[^"\\]|\\.)*)"/.exec(m);
  if (msg) m = msg[1].replace(/\\"/g, '"');
  m = m
    .replace(/time="[^"]*"\s*/g, '')
    .replace(/"+$/, '')
    .trim();
  return m.length > 160 ? `…${m.slice(-160)}` : m;
}

/** `crictl version`: "Key:  value" lines, or JSON (`-o json` on newer crictl). */
export function parseCrictlVersion(text: string): RuntimeVersion {
  const t = text.trim();
  let get: (k: string) => string;
  if (t.startsWith('{')) {
    const j = JSON.parse(t) as Json;
    get = (k) => String(j[k[0].toLowerCase() + k.slice(1)] ?? '');
  } else {
    const kv = new Map<string, string>();
    for (const line of t.split('\n')) {
      const m = /^\s*([A-Za-z]+):\s*(.*?)\s*$/.exec(line);
      if (m) kv.set(m[1], m[2]);
    }
    get = (k) => kv.get(k) ?? '';
  }
  const v = {
    runtimeName: get('RuntimeName'),
    runtimeVersion: get('RuntimeVersion'),
    runtimeApiVersion: get('RuntimeApiVersion'),
  };
  if (!v.runtimeName) throw new RuntimeUnavailable(`crictl version: no RuntimeName in its output`, 'error');
  return v;
}

/** Nanoseconds from protojson int64 (a string), a number, or an RFC3339Nano string (inspect/inspectp). */
export function toNanos(v: unknown): number {
  if (typeof v === 'number') return v;
  if (typeof v !== 'string' || v === '') return 0;
  if (/^-?\d+$/.test(v)) return Number(v);
  const m = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$/.exec(v);
  if (!m) return 0;
  const ms = Date.parse(`${m[1]}${m[3]}`);
  if (Number.isNaN(ms)) return 0;
  return ms * 1e6 + Number((m[2] ?? '').padEnd(9, '0'));
}

const str = (v: unknown): string => (typeof v === 'string' ? v : v === undefined || v === null ? '' : String(v));
const num = (v: unknown): number =>
  typeof v === 'number' ? v : typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : 0;
const map = (v: unknown): Record<string, string> => {
  const out: Record<string, string> = {};
  if (v && typeof v === 'object') for (const [k, x] of Object.entries(v as Json)) out[k] = str(x);
  return out;
};
const enumName = <T extends string>(v: unknown, names: T[], fallback: T): T =>
  typeof v === 'number' ? (names[v] ?? fallback) : (names as string[]).includes(str(v)) ? (v as T) : fallback;

/** Entries that are JSON objects; a null or a scalar in a list (a crictl of another version) is skipped. */
const objects = (list: unknown[]): Json[] =>
  list.filter((x): x is Json => x !== null && typeof x === 'object' && !Array.isArray(x));

/** A list from `{"<key>": [...]}` (current crictl) or a bare array (old crictl printed the slice). */
function listOf(text: string, key: string): Json[] {
  const doc = JSON.parse(text) as unknown;
  const list = Array.isArray(doc) ? doc : (doc as Json | null)?.[key];
  if (list === undefined || list === null) return [];
  if (!Array.isArray(list)) throw new Error(`expected "${key}" to be a list`);
  return objects(list);
}

/** `crictl info -o json`: {"status": {"conditions": [...]}, …info keys} -> the conditions. */
export function parseCrictlInfo(text: string): RuntimeConditionView[] {
  const doc = JSON.parse(text) as Json | null;
  const list = ((doc?.status as Json | undefined)?.conditions ?? []) as unknown;
  if (!Array.isArray(list)) throw new Error('expected "status.conditions" to be a list');
  return objects(list).map((c) => ({
    type: str(c.type),
    status: c.status === true || c.status === 'true',
    reason: str(c.reason),
    message: str(c.message),
  }));
}

/** `crictl pods -o json` -> sandboxes. */
export function parseCrictlPods(text: string): Sandbox[] {
  return listOf(text, 'items').map((p) => {
    const md = (p.metadata ?? {}) as Json;
    return {
      id: str(p.id),
      name: str(md.name),
      namespace: str(md.namespace),
      uid: str(md.uid),
      attempt: num(md.attempt),
      state: enumName(p.state, SANDBOX_STATES, 'SANDBOX_NOTREADY'),
      createdNs: toNanos(p.createdAt),
      labels: map(p.labels),
      annotations: map(p.annotations),
      runtimeHandler: str(p.runtimeHandler),
    };
  });
}

/** `crictl ps -a -o json` -> containers. */
export function parseCrictlPs(text: string): Container[] {
  return listOf(text, 'containers').map((c) => {
    const md = (c.metadata ?? {}) as Json;
    const img = (c.image ?? {}) as Json;
    return {
      id: str(c.id),
      podSandboxId: str(c.podSandboxId),
      name: str(md.name),
      attempt: num(md.attempt),
      image: str(img.userSpecifiedImage) || str(img.image) || str(c.imageRef),
      state: enumName(c.state, CONTAINER_STATES, 'CONTAINER_UNKNOWN'),
      createdNs: toNanos(c.createdAt),
      labels: map(c.labels),
    };
  });
}

/** Every top-level JSON value in text: one object, an array, or objects printed one after another (old crictl). */
export function jsonValues(text: string): unknown[] {
  const out: unknown[] = [];
  let depth = 0,
    start = -1,
    inStr = false,
    esc = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (inStr) {
      if (esc) esc = false;
      else if (ch === '\\') esc = true;
      else if (ch === '"') inStr = false;
      continue;
    }
    if (ch === '"') inStr = true;
    else if (ch === '{' || ch === '[') {
      if (depth === 0) start = i;
      depth++;
    } else if (ch === '}' || ch === ']') {
      depth--;
      if (depth === 0 && start >= 0) {
        out.push(JSON.parse(text.slice(start, i + 1)));
        start = -1;
      }
    }
  }
  return out;
}

/** `crictl inspectp -o json ID…` -> sandbox id -> addresses. */
export function parseCrictlInspectp(text: string): Map<string, SandboxNetwork> {
  const out = new Map<string, SandboxNetwork>();
  const docs = objects(jsonValues(text).flatMap((v) => (Array.isArray(v) ? v : [v])));
  for (const d of docs) {
    const st = (d.status ?? d) as Json;
    const id = str(st.id);
    if (!id) continue;
    const net = (st.network ?? {}) as Json;
    const extra = Array.isArray(net.additionalIps) ? objects(net.additionalIps).map((x) => str(x.ip)) : [];
    const opts = (((st.linux as Json | undefined)?.namespaces as Json | undefined)?.options ?? {}) as Json;
    // current: options.network "NODE"; v1alpha1-era crictl printed options.hostNetwork true
    const hostNetwork = opts.network === 'NODE' || opts.network === 2 || opts.hostNetwork === true;
    out.set(id, { ips: [str(net.ip), ...extra].filter((x) => x !== ''), hostNetwork });
  }
  return out;
}
