// One poll of the runtime: which reader, which calls, what is cached between polls. The decisions
// (what a snapshot holds, when to send it) are in snapshot.ts.
import { CrictlRuntimeReader } from './crictl-reader.js';
import {
  chooseEndpoint,
  findWellKnown,
  socketExists,
  socketPath,
  WELL_KNOWN_ENDPOINTS,
  type EndpointEnv,
} from './endpoint.js';
import { GrpcRuntimeReader } from './grpc-reader.js';
import { buildSnapshot, sandboxesToInspect } from './snapshot.js';
import { RuntimeUnavailable, type RuntimeReader, type SandboxNetwork } from './types.js';
import type { nodewarden } from '../../proto/gen/nodewarden.js';

export interface ReaderConfig {
  /** --runtime-endpoint (normalized), if given. */
  endpoint?: string;
  /** --crictl PATH: read through crictl instead of a socket. */
  crictl?: string;
  timeoutMs: number;
  /** Test seam for crictl.yaml and $CONTAINER_RUNTIME_ENDPOINT. */
  endpointEnv?: EndpointEnv;
  /** Test seam: does this unix endpoint's socket exist? */
  exists?: (endpoint: string) => boolean;
}

/** Picks and opens a reader: crictl when configured, else gRPC to the chosen or first well-known socket. */
export function openReader(c: ReaderConfig): RuntimeReader {
  if (c.crictl) return new CrictlRuntimeReader({ crictl: c.crictl, endpoint: c.endpoint, timeoutMs: c.timeoutMs });
  const exists = c.exists ?? ((ep: string) => socketExists(ep));
  const choice = chooseEndpoint(c.endpoint, c.endpointEnv);
  const endpoint = choice.endpoint ?? findWellKnown(exists);
  if (!endpoint)
    throw new RuntimeUnavailable(
      `no container runtime socket found (tried ${WELL_KNOWN_ENDPOINTS.map((e) => socketPath(e)).join(', ')}; set --runtime-endpoint)`,
      'absent',
    );
  // A missing socket is known without a gRPC round trip (and says so in the same words every poll).
  if (!exists(endpoint))
    throw new RuntimeUnavailable(`no runtime socket at ${socketPath(endpoint)} (from ${choice.from})`, 'absent');
  return new GrpcRuntimeReader({ endpoint, timeoutMs: c.timeoutMs });
}

export interface PollResult {
  snapshot: nodewarden.v1.IRuntimeSnapshot;
  pods: number;
  containers: number;
  /** PodSandboxStatus calls this poll made (only new sandboxes are asked). */
  inspected: number;
}

export class RuntimePoller {
  private reader: RuntimeReader | undefined;
  /** Sandbox id -> addresses; a sandbox keeps its addresses for its whole life. */
  private readonly networks = new Map<string, SandboxNetwork>();

  constructor(private readonly cfg: ReaderConfig) {}

  /** Reads the runtime once; throws RuntimeUnavailable (and drops the connection) when it cannot. */
  async poll(): Promise<PollResult> {
    try {
      this.reader ??= openReader(this.cfg);
      const r = this.reader;
      const version = await r.version();
      const conditions = await r.conditions();
      // Containers first: a container's sandbox exists before it, so the sandbox list that follows has it.
      const containers = await r.listContainers();
      const sandboxes = await r.listSandboxes();
      const ids = new Set(sandboxes.map((s) => s.id));
      for (const id of this.networks.keys()) if (!ids.has(id)) this.networks.delete(id);
      const ask = sandboxesToInspect(sandboxes, this.networks);
      if (ask.length) for (const [id, net] of await r.sandboxNetworks(ask)) this.networks.set(id, net);
      const snapshot = buildSnapshot({
        endpoint: r.endpoint,
        version,
        sandboxes,
        containers,
        networks: this.networks,
        conditions,
      });
      return { snapshot, pods: sandboxes.length, containers: containers.length, inspected: ask.length };
    } catch (err) {
      // Reconnect from scratch next time: the socket may move (well-known fallback) or come back.
      this.close();
      if (err instanceof RuntimeUnavailable) throw err;
      throw new RuntimeUnavailable(`reading the runtime failed: ${(err as Error).message}`, 'error');
    }
  }

  close(): void {
    this.reader?.close();
    this.reader = undefined;
  }
}
