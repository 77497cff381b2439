// CRI runtime.v1 over gRPC with grpc-js and the static protobufjs code in proto/gen/cri.js (no
// proto-loader): every call carries a deadline, so a runtime that accepts and never answers costs one
// time box, never a stuck agent.
import { Client, credentials, Metadata, status, type ClientUnaryCall, type ServiceError } from '@grpc/grpc-js';
import { runtime } from '../../proto/gen/cri.js';
import { grpcTarget, socketPath } from './endpoint.js';
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

const v1 = runtime.v1;
const SERVICE = '/runtime.v1.RuntimeService/';

/** kubelet allows 16 MiB CRI responses; ListContainers on a busy node can exceed grpc-js' 4 MiB default. */
const MAX_MESSAGE = 16 * 1024 * 1024;
/** Parallel PodSandboxStatus calls (only new sandboxes are asked, so this is rarely reached). */
const STATUS_CONCURRENCY = 4;

interface Codec<Req, Res> {
  encode(m: Req): { finish(): Uint8Array };
  decode(b: Uint8Array): Res;
}

const toBuffer = (u: Uint8Array): Buffer => Buffer.from(u.buffer, u.byteOffset, u.byteLength);

export interface GrpcReaderOptions {
  endpoint: string;
  /** Deadline of each call. */
  timeoutMs: number;
}

export class GrpcRuntimeReader implements RuntimeReader {
  readonly endpoint: string;
  private readonly client: Client;
  private readonly timeoutMs: number;
  private closed = false;
  private readonly active = new Set<ClientUnaryCall>();

  constructor(o: GrpcReaderOptions) {
    this.endpoint = o.endpoint;
    this.timeoutMs = o.timeoutMs;
    this.client = new Client(grpcTarget(o.endpoint), credentials.createInsecure(), {
      'grpc.max_receive_message_length': MAX_MESSAGE,
      // A runtime that restarts is back within a poll or two, not after grpc-js' 2-minute backoff cap.
      'grpc.initial_reconnect_backoff_ms': 500,
      'grpc.max_reconnect_backoff_ms': 5000,
      'grpc.enable_retries': 0,
    });
  }

  private call<Req, Res>(
    method: string,
    codec: { req: Codec<Req, unknown>; res: Codec<unknown, Res> },
    arg: Req,
  ): Promise<Res> {
    return new Promise((resolve, reject) => {
      if (this.closed) return reject(new RuntimeUnavailable('CRI client closed', 'error'));
      const call = this.client.makeUnaryRequest<Req, Res>(
        SERVICE + method,
        (m) => toBuffer(codec.req.encode(m).finish()),
        (b) => codec.res.decode(b),
        arg,
        new Metadata(),
        { deadline: Date.now() + this.timeoutMs },
        (err, res) => {
          this.active.delete(call);
          if (err)
            reject(this.closed ? new RuntimeUnavailable('CRI client closed', 'error') : this.classify(method, err));
          else resolve(res as Res);
        },
      );
      this.active.add(call);
    });
  }

  /** grpc-js errors -> a stable sentence (status details carry addresses and timestamps). */
  private classify(method: string, err: ServiceError): RuntimeUnavailable {
    const where = this.endpoint;
    const d = `${err.details ?? ''} ${err.message ?? ''}`;
    if (err.code === status.DEADLINE_EXCEEDED)
      return new RuntimeUnavailable(
        `${where}: ${method} got no answer within ${this.timeoutMs} ms (runtime hung or not a CRI socket)`,
        'timeout',
      );
    if (err.code === status.UNAVAILABLE && /ENOENT/.test(d))
      return new RuntimeUnavailable(`no runtime socket at ${socketPath(where) ?? where}`, 'absent');
    if (err.code === status.UNAVAILABLE && /ECONNREFUSED/.test(d))
      return new RuntimeUnavailable(`${where}: connection refused (runtime not running?)`, 'refused');
    if (err.code === status.UNAVAILABLE && /EACCES|EPERM/.test(d))
      return new RuntimeUnavailable(
        `${where}: permission denied (the agent needs the runtime socket mounted and root)`,
        'refused',
      );
    if (err.code === status.UNIMPLEMENTED)
      return new RuntimeUnavailable(
        `${where}: ${method} is not implemented: the runtime does not serve CRI runtime.v1 (containerd >= 1.6, CRI-O >= 1.20 do)`,
        'error',
      );
    const name = (status as unknown as Record<number, string>)[err.code] ?? String(err.code);
    return new RuntimeUnavailable(
      `${where}: ${method} failed with ${name}`,
      err.code === status.UNAVAILABLE ? 'refused' : 'error',
    );
  }

  async version(): Promise<RuntimeVersion> {
    const r = await this.call('Version', { req: v1.VersionRequest, res: v1.VersionResponse }, { version: 'v1' });
    return { runtimeName: r.runtimeName, runtimeVersion: r.runtimeVersion, runtimeApiVersion: r.runtimeApiVersion };
  }

  async conditions(): Promise<RuntimeConditionView[]> {
    // verbose false: no "info" map (the runtime's whole config as JSON).
    const r = await this.call('Status', { req: v1.StatusRequest, res: v1.StatusResponse }, { verbose: false });
    return (r.status?.conditions ?? []).map((c) => ({
      type: c.type ?? '',
      status: !!c.status,
      reason: c.reason ?? '',
      message: c.message ?? '',
    }));
  }

  async listSandboxes(): Promise<Sandbox[]> {
    const r = await this.call('ListPodSandbox', { req: v1.ListPodSandboxRequest, res: v1.ListPodSandboxResponse }, {});
    return r.items.map((s) => ({
      id: s.id ?? '',
      name: s.metadata?.name ?? '',
      namespace: s.metadata?.namespace ?? '',
      uid: s.metadata?.uid ?? '',
      attempt: s.metadata?.attempt ?? 0,
      state: (v1.PodSandboxState[s.state ?? 1] ?? 'SANDBOX_NOTREADY') as SandboxState,
      createdNs: Number(s.createdAt ?? 0),
      labels: { ...s.labels },
      annotations: { ...s.annotations },
      runtimeHandler: s.runtimeHandler ?? '',
    }));
  }

  async sandboxNetworks(ids: string[]): Promise<Map<string, SandboxNetwork>> {
    const out = new Map<string, SandboxNetwork>();
    const queue = [...ids];
    const worker = async (): Promise<void> => {
      for (let id = queue.shift(); id !== undefined; id = queue.shift()) {
        try {
          const r = await this.call(
            'PodSandboxStatus',
            { req: v1.PodSandboxStatusRequest, res: v1.PodSandboxStatusResponse },
            { podSandboxId: id, verbose: false },
          );
          const st = r.status;
          if (!st) continue;
          const ips = [st.network?.ip ?? '', ...(st.network?.additionalIps ?? []).map((x) => x.ip ?? '')].filter(
            (x) => x !== '',
          );
          out.set(id, { ips, hostNetwork: st.linux?.namespaces?.options?.network === v1.NamespaceMode.NODE });
        } catch (err) {
          // A sandbox removed between the list and this call: skip it. A runtime that stopped answering: give up.
          if ((err as RuntimeUnavailable).reason !== 'error') throw err;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(STATUS_CONCURRENCY, ids.length) }, worker));
    return out;
  }

  async listContainers(): Promise<Container[]> {
    // No filter: every state, like `crictl ps -a` (exited attempts are what show restarts).
    const r = await this.call('ListContainers', { req: v1.ListContainersRequest, res: v1.ListContainersResponse }, {});
    return r.containers.map((c) => ({
      id: c.id ?? '',
      podSandboxId: c.podSandboxId ?? '',
      name: c.metadata?.name ?? '',
      attempt: c.metadata?.attempt ?? 0,
      image: c.image?.userSpecifiedImage || c.image?.image || c.imageRef || '',
      state: (v1.ContainerState[c.state ?? 3] ?? 'CONTAINER_UNKNOWN') as ContainerState,
      createdNs: Number(c.createdAt ?? 0),
      labels: { ...c.labels },
    }));
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    // Calls in flight end now (CANCELLED) instead of at their deadline.
    for (const c of this.active) c.cancel();
    this.active.clear();
    this.client.close();
  }
}
