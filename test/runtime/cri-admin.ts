// Test-only CRI client for the calls a kubelet makes (run/stop/remove sandboxes, create/start
// containers). Messages come from cri-admin.proto, parsed at run time with protobufjs; calls go through
// grpc-js makeUnaryRequest like the agent's reader.
import { readFileSync } from 'node:fs';
import { Client, credentials, Metadata } from '@grpc/grpc-js';
import protobuf from 'protobufjs';

const root = protobuf.parse(readFileSync(new URL('./cri-admin.proto', import.meta.url), 'utf8'), {
  keepCase: false,
}).root;
const T = (name: string) => root.lookupType(`nwtest.cri.${name}`);

export interface SandboxSpec {
  name: string;
  namespace: string;
  uid: string;
  attempt?: number;
  hostname?: string;
  logDirectory: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  cgroupParent: string;
  /** hostNetwork: true -> NamespaceOption.network NODE. */
  hostNetwork?: boolean;
}

export interface ContainerSpec {
  name: string;
  attempt: number;
  image: string;
  command: string[];
  logPath: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export class CriAdmin {
  private readonly client: Client;

  constructor(
    endpoint: string,
    private readonly timeoutMs = 30_000,
  ) {
    this.client = new Client(endpoint, credentials.createInsecure());
  }

  private call(
    method: string,
    reqType: string,
    resType: string,
    req: Record<string, unknown>,
  ): Promise<Record<string, any>> {
    const Req = T(reqType),
      Res = T(resType);
    return new Promise((resolve, reject) => {
      this.client.makeUnaryRequest(
        `/runtime.v1.RuntimeService/${method}`,
        (m: Record<string, unknown>) => Buffer.from(Req.encode(Req.fromObject(m)).finish()),
        (b: Buffer) => Res.toObject(Res.decode(b), { longs: Number, defaults: true }),
        req,
        new Metadata(),
        { deadline: Date.now() + this.timeoutMs },
        (err, res) =>
          err ? reject(new Error(`${method}: ${err.details || err.message}`)) : resolve(res as Record<string, any>),
      );
    });
  }

  static sandboxConfig(s: SandboxSpec): Record<string, unknown> {
    return {
      metadata: { name: s.name, namespace: s.namespace, uid: s.uid, attempt: s.attempt ?? 0 },
      hostname: s.hostNetwork ? '' : (s.hostname ?? s.name),
      logDirectory: s.logDirectory,
      labels: {
        ...s.labels,
        'io.kubernetes.pod.name': s.name,
        'io.kubernetes.pod.namespace': s.namespace,
        'io.kubernetes.pod.uid': s.uid,
      },
      annotations: { ...s.annotations },
      // as the kubelet sets them: network POD or NODE, pid CONTAINER, ipc POD
      linux: {
        cgroupParent: s.cgroupParent,
        securityContext: { namespaceOptions: { network: s.hostNetwork ? 2 : 0, pid: 1, ipc: 0 } },
      },
    };
  }

  async runPodSandbox(s: SandboxSpec): Promise<string> {
    const r = await this.call('RunPodSandbox', 'RunPodSandboxRequest', 'RunPodSandboxResponse', {
      config: CriAdmin.sandboxConfig(s),
    });
    return r.podSandboxId as string;
  }

  /** Verbose runtime info of a sandbox (containerd: {"info": JSON with runtimeSpec, pid, ...}). */
  async sandboxInfo(id: string): Promise<Record<string, any>> {
    const r = await this.call('PodSandboxStatus', 'PodSandboxStatusRequest', 'PodSandboxStatusResponse', {
      podSandboxId: id,
      verbose: true,
    });
    return r.info?.info ? JSON.parse(r.info.info) : {};
  }

  async createContainer(sandboxId: string, sandbox: SandboxSpec, c: ContainerSpec): Promise<string> {
    const config = {
      metadata: { name: c.name, attempt: c.attempt },
      image: { image: c.image },
      command: c.command,
      envs: [{ key: 'PATH', value: '/bin' }],
      labels: {
        ...c.labels,
        'io.kubernetes.container.name': c.name,
        'io.kubernetes.pod.name': sandbox.name,
        'io.kubernetes.pod.namespace': sandbox.namespace,
        'io.kubernetes.pod.uid': sandbox.uid,
      },
      annotations: { 'io.kubernetes.container.restartCount': String(c.attempt), ...c.annotations },
      logPath: c.logPath,
      linux: { securityContext: { namespaceOptions: { network: sandbox.hostNetwork ? 2 : 0, pid: 1, ipc: 0 } } },
    };
    const r = await this.call('CreateContainer', 'CreateContainerRequest', 'CreateContainerResponse', {
      podSandboxId: sandboxId,
      config,
      sandboxConfig: CriAdmin.sandboxConfig(sandbox),
    });
    return r.containerId as string;
  }

  async startContainer(id: string): Promise<void> {
    await this.call('StartContainer', 'ContainerIdRequest', 'Empty', { containerId: id });
  }

  /** state: 0 CREATED, 1 RUNNING, 2 EXITED, 3 UNKNOWN; pid from the verbose info while it runs. */
  async containerStatus(id: string): Promise<{ state: number; exitCode: number; reason: string; pid?: number }> {
    const r = await this.call('ContainerStatus', 'ContainerStatusRequest', 'ContainerStatusResponse', {
      containerId: id,
      verbose: true,
    });
    const info = r.info?.info ? JSON.parse(r.info.info) : {};
    return {
      state: r.status?.state ?? 3,
      exitCode: r.status?.exitCode ?? 0,
      reason: r.status?.reason ?? '',
      pid: typeof info.pid === 'number' ? info.pid : undefined,
    };
  }

  async stopPodSandbox(id: string): Promise<void> {
    await this.call('StopPodSandbox', 'PodSandboxIdRequest', 'Empty', { podSandboxId: id });
  }

  async removePodSandbox(id: string): Promise<void> {
    await this.call('RemovePodSandbox', 'PodSandboxIdRequest', 'Empty', { podSandboxId: id });
  }

  close(): void {
    this.client.close();
  }
}
