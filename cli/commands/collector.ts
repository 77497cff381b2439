import type { CommandSpec } from '../../common/flags.js';
import { collectorFlags, collectorGroups, runCollectorMain } from '../../collector/main.js';

export const spec: CommandSpec = {
  name: 'collector',
  summary:
    "Run the collector: consume agents' messages from NATS JetStream, name pods, serve the HTTP API, write Kubernetes Events.",
  details: `Pod names come from the Kubernetes API (--kubeconfig, or the in-cluster service account when
running in a pod: one cluster-wide pod list+watch), or from --pods-file (a PodList as printed by
kubectl get pods -A -o json) without a cluster. /readyz waits for the first pod sync.
With a cluster the collector also keeps one NetworkPolicy and one Namespace list+watch and explains
each TCP/UDP/SCTP drop by the policies behind it (the flow's "explanation" in /api/v1/drops, GET
/api/v1/explain, the PacketDrop Event message); /readyz and Events also wait for those caches.
Without a cluster no policies are known: flows carry no explanation and /api/v1/explain answers 404.
Drops from a pod towards the k8s-app=kube-dns pods on 53/UDP or TCP raise DNSBlocked on that pod.
kube-system pods whose egress to the API server no NetworkPolicy rule allows raise
APIServerEgressBlocked before any drop (API server: the address the collector uses, plus the host
IPs of component=kube-apiserver pods; no endpoints permission needed).
Events (core/v1, reason PacketDrop on both pods, finding kinds on pods and Nodes) are written by
replicas sharing one JetStream durable consumer; repeats only raise count/lastTimestamp, and writes
stay within --event-qps/--event-burst overall and --event-object-burst/--event-object-refill per
object. The collector's ServiceAccount needs: pods get/list/watch, events create/patch/get, nodes get,
namespaces get/list/watch, networkpolicies (networking.k8s.io) get/list/watch.
The query store is rebuilt from the stream's retention on every start.`,
  flags: collectorFlags,
  groups: collectorGroups,
  examples: [
    '# in the cluster (in-cluster config): pod names, NetworkPolicy explanations and Events',
    'NODEWARDEN_API_TOKEN="$(cat /etc/nodewarden/api-token)" nodewarden collector --nats nats://nodewarden-nats:4222',
    '# from a workstation against a cluster, readable logs, no Events',
    'nodewarden collector --kubeconfig ~/.kube/config --events off --log-format text',
    '# without a cluster: pod names from a saved PodList (kubectl get pods -A -o json)',
    'nodewarden collector --pods-file pods.json --listen 127.0.0.1:8080',
  ],
};

export const run = runCollectorMain;
