// A CRI runtime.v1 server in-process (grpc-js Server + the generated static codec) with a mutable
// pod list: deterministic agent-loop tests (change/full decisions, recovery) and the poll-cost bench
// (110 pods). The real-runtime tests use containerd (containerd-lab.ts).
import { Server, ServerCredentials, status, type ServiceDefinition } from '@grpc/grpc-js';
import { runtime } from '../../proto/gen/cri.js';

const v1 = runtime.v1;
type Codec = { encode(m: any): { finish(): Uint8Array }; decode(b: Uint8Array): any };
const def = (method: string, req: Codec, res: Codec) => ({
  path: `/runtime.v1.RuntimeService/${method}`,
  requestStream: false,
  responseStream: false,
  requestSerialize: (m: unknown) => Buffer.from(req.encode(m).finish()),
  requestDeserialize: (b: Buffer) => req.decode(b),
  responseSerialize: (m: unknown) => Buffer.from(res.encode(m).finish()),
  responseDeserialize: (b: Buffer) => res.decode(b),
});
const SERVICE = {
  Version: def('Version', v1.VersionRequest, v1.VersionResponse),
  Status: def('Status', v1.StatusRequest, v1.StatusResponse),
  ListPodSandbox: def('ListPodSandbox', v1.ListPodSandboxRequest, v1.ListPodSandboxResponse),
  PodSandboxStatus: def('PodSandboxStatus', v1.PodSandboxStatusRequest, v1.PodSandboxStatusResponse),
  ListContainers: def('ListContainers', v1.ListContainersRequest, v1.ListContainersResponse),
} as unknown as ServiceDefinition;

export interface FakePod {
  id: string;
  name: string;
  namespace: string;
  uid: string;
  ip: string;
  hostNetwork?: boolean;
  ready?: boolean;
  annotations?: Record<string, string>;
  labels?: Record<string, string>;
  containers: { id: string; name: string; attempt: number; running: boolean }[];
}

export class FakeCri {
  pods: FakePod[] = [];
  /** What Status reports (containerd's two conditions, ready). */
  conditions: { type: string; status: boolean; reason?: string; message?: string }[] = [
    { type: 'RuntimeReady', status: true },
    { type: 'NetworkReady', status: true },
  ];
  readonly calls: Record<string, number> = {};
  private server = new Server();

  private constructor(readonly socket: string) {}

  static async start(socket: string): Promise<FakeCri> {
    const f = new FakeCri(socket);
    const count = (m: string) => {
      f.calls[m] = (f.calls[m] ?? 0) + 1;
    };
    const t0 = 1_795_000_000_000_000_000;
    f.server.addService(SERVICE, <Record<string, any>>{
      Version: (_c: unknown, cb: (e: null, r: unknown) => void) => {
        count('Version');
        cb(null, { version: '0.1.0', runtimeName: 'fakecri', runtimeVersion: '1.0.0', runtimeApiVersion: 'v1' });
      },
      Status: (_c: unknown, cb: (e: null, r: unknown) => void) => {
        count('Status');
        cb(null, { status: { conditions: f.conditions } });
      },
      ListPodSandbox: (_c: unknown, cb: (e: null, r: unknown) => void) => {
        count('ListPodSandbox');
        cb(null, {
          items: f.pods.map((p, i) => ({
            id: p.id,
            metadata: { name: p.name, namespace: p.namespace, uid: p.uid, attempt: 0 },
            state: p.ready === false ? 1 : 0,
            createdAt: t0 + i * 1e9,
            labels: { 'io.kubernetes.pod.name': p.name, ...p.labels },
            annotations: p.annotations ?? {},
          })),
        });
      },
      PodSandboxStatus: (c: { request: { podSandboxId: string } }, cb: (e: unknown, r?: unknown) => void): void => {
        count('PodSandboxStatus');
        const p = f.pods.find((x) => x.id === c.request.podSandboxId);
        if (!p) return cb({ code: status.NOT_FOUND, details: 'not found' });
        cb(null, {
          status: {
            id: p.id,
            metadata: { name: p.name, namespace: p.namespace, uid: p.uid },
            network: { ip: p.hostNetwork ? '' : p.ip },
            linux: { namespaces: { options: { network: p.hostNetwork ? 2 : 0 } } },
          },
        });
      },
      ListContainers: (_c: unknown, cb: (e: null, r: unknown) => void) => {
        count('ListContainers');
        cb(null, {
          containers: f.pods.flatMap((p, i) =>
            p.containers.map((c, j) => ({
              id: c.id,
              podSandboxId: p.id,
              metadata: { name: c.name, attempt: c.attempt },
              image: { image: 'sha256:' + 'ab'.repeat(32) },
              imageRef: 'sha256:' + 'ab'.repeat(32),
              state: c.running ? 1 : 2,
              createdAt: t0 + i * 1e9 + (j + 1) * 1e6,
              labels: { 'io.kubernetes.container.name': c.name },
            })),
          ),
        });
      },
    });
    await new Promise<void>((resolve, reject) =>
      f.server.bindAsync(`unix://${socket}`, ServerCredentials.createInsecure(), (e) => (e ? reject(e) : resolve())),
    );
    return f;
  }

  /** n ordinary pods with one running container each (the bench's "110 pods"). */
  static pods(n: number): FakePod[] {
    return Array.from({ length: n }, (_, i) => ({
      id: `${i.toString(16).padStart(8, '0')}${'c'.repeat(56)}`,
      name: `app-${i}`,
      namespace: `ns-${i % 7}`,
      uid: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
      ip: `10.244.${Math.floor(i / 250)}.${(i % 250) + 2}`,
      labels: { app: `app-${i}`, 'pod-template-hash': '7d9c8b6f5' },
      annotations: {
        'kubernetes.io/config.source': 'api',
        'kubernetes.io/config.seen': '2026-11-23T10:00:00.000000000Z',
      },
      containers: [
        { id: `${i.toString(16).padStart(8, '0')}${'d'.repeat(56)}`, name: 'main', attempt: 0, running: true },
      ],
    }));
  }

  stop(): void {
    this.server.forceShutdown();
  }
}
