// The config.toml (v2, containerd 1.6) of a private containerd for tests: its own root, state,
// socket and opt dir, the CRI with a local sandbox image, runc with cgroupfs, and Debian's CNI
// plugins with a conf dir of its own. Used by test/runtime/containerd-lab.ts and node-cluster.ts.
export interface ContainerdConfig {
  root: string;
  state: string;
  socket: string;
  opt: string;
  sandboxImage: string;
  cniConfDir: string;
  cniBinDir?: string;
  /** More lines for the [plugins."io.containerd.grpc.v1.cri"] table. */
  criExtra?: string[];
}

export function containerdConfig(c: ContainerdConfig): string {
  return `version = 2
root = "${c.root}"
state = "${c.state}"
[grpc]
  address = "${c.socket}"
[ttrpc]
  address = "${c.socket}.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "${c.opt}"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "${c.sandboxImage}"
  enable_selinux = false
  disable_apparmor = true
  restrict_oom_score_adj = true
${(c.criExtra ?? []).map((l) => `  ${l}\n`).join('')}  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "${c.cniBinDir ?? '/usr/lib/cni'}"
    conf_dir = "${c.cniConfDir}"
`;
}
