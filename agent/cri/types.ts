// The runtime's view in one neutral shape, whichever way it was read (CRI gRPC or `crictl -o json`).
import type { RuntimeConditionView } from '../../proto/codec.js';

export type SandboxState = 'SANDBOX_READY' | 'SANDBOX_NOTREADY';
export type ContainerState = 'CONTAINER_CREATED' | 'CONTAINER_RUNNING' | 'CONTAINER_EXITED' | 'CONTAINER_UNKNOWN';

export interface RuntimeVersion {
  runtimeName: string;
  runtimeVersion: string;
  runtimeApiVersion: string;
}

/** One entry of ListPodSandbox (`crictl pods`). */
export interface Sandbox {
  id: string;
  name: string;
  namespace: string;
  uid: string;
  attempt: number;
  state: SandboxState;
  /** Nanoseconds since the epoch, as a double (sub-microsecond precision is not needed). */
  createdNs: number;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  runtimeHandler: string;
}

/** What PodSandboxStatus (`crictl inspectp`) adds: the sandbox's addresses. */
export interface SandboxNetwork {
  ips: string[];
  /** Network namespace mode NODE: the pod shares the node's addresses (the runtime reports none). */
  hostNetwork: boolean;
}

/** One entry of ListContainers (`crictl ps -a`). */
export interface Container {
  id: string;
  podSandboxId: string;
  name: string;
  attempt: number;
  /** What the pod asked for when the runtime says so, else ImageSpec.image (an image ID on current kubelets). */
  image: string;
  state: ContainerState;
  createdNs: number;
  labels: Record<string, string>;
}

/** A way to read the runtime. Every call is time-boxed by the implementation and rejects on failure. */
export interface RuntimeReader {
  /** Where the view comes from, for status lines and RuntimeSnapshot.endpoint. */
  readonly endpoint: string;
  version(): Promise<RuntimeVersion>;
  /** Status (`crictl info`): RuntimeReady, NetworkReady, and any the runtime adds. */
  conditions(): Promise<RuntimeConditionView[]>;
  listSandboxes(): Promise<Sandbox[]>;
  /** PodSandboxStatus for these ids; an id that vanished in between is simply missing from the result. */
  sandboxNetworks(ids: string[]): Promise<Map<string, SandboxNetwork>>;
  listContainers(): Promise<Container[]>;
  close(): void;
}

/** Why a read failed, in words that stay the same from one poll to the next (status is sent on change). */
export class RuntimeUnavailable extends Error {
  constructor(
    message: string,
    readonly reason: 'absent' | 'timeout' | 'refused' | 'error',
  ) {
    super(message);
  }
}
