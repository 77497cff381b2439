// The NetworkPolicy evaluator (collector/explain/evaluator.ts) and its wording (summary.ts), pure:
//   1. one table row per trap of /work/shared/reference/netpol-explain.md;
//   2. upstream conformance truth tables (kubernetes test/e2e/network/netpol, ported from cyclonus),
//      encoded by hand from their documented expectations over the x/y/z × a/b/c pod model;
//   3. a fast-check property against a deliberately dumb brute-force model written here.
// Run: node --import tsx test/netpol-evaluator.test.ts
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import {
  evaluateFlow,
  evaluateSide,
  effectivePolicyTypes,
  type Endpoint,
  type NetworkPolicyJson,
  type PodEndpoint,
  type Protocol,
  type PeerJson,
  type PortJson,
  type LabelSelectorJson,
  type FlowResult,
} from '../collector/explain/evaluator.js';
import { summarize } from '../collector/explain/summary.js';

type Spec = NetworkPolicyJson['spec'];
const np = (ns: string, name: string, spec: Spec): NetworkPolicyJson => ({ metadata: { namespace: ns, name }, spec });
const nsLabels = (ns: string, extra: Record<string, string> = {}) => ({ 'kubernetes.io/metadata.name': ns, ...extra });
const pod = (
  ns: string,
  name: string,
  labels: Record<string, string> = {},
  o: Partial<PodEndpoint> = {},
): PodEndpoint => ({
  kind: 'pod',
  namespace: ns,
  name,
  labels,
  namespaceLabels: nsLabels(ns),
  hostNetwork: false,
  containerPorts: [],
  ips: [`10.244.0.${((name.length * 7 + ns.length) % 250) + 1}`],
  ...o,
});
const flow = (src: Endpoint, dst: Endpoint, protocol: Protocol, port: number, policies: NetworkPolicyJson[]) =>
  evaluateFlow({ src, dst, protocol, port, policies });
const verdicts = (r: FlowResult) => `${r.verdict}:${r.sides[0].verdict}/${r.sides[1].verdict}`;

// ---------------------------------------------------------------------------------------------
// 1. traps

const web = pod('shop', 'web-0', { app: 'web' });
const db = pod('shop', 'db-0', { app: 'db' }, { containerPorts: [{ name: 'pg', port: 5432, protocol: 'TCP' }] });
const dns = pod(
  'kube-system',
  'coredns-x2x4q',
  { 'k8s-app': 'kube-dns' },
  {
    containerPorts: [
      { name: 'dns', port: 53, protocol: 'UDP' },
      { name: 'dns-tcp', port: 53, protocol: 'TCP' },
    ],
  },
);
const api = pod(
  'payments',
  'api-7c4b',
  { app: 'api' },
  {
    namespaceLabels: nsLabels('payments', { team: 'pay' }),
    containerPorts: [
      { name: 'metrics', port: 9090 },
      { name: 'http', port: 8080 },
    ],
  },
);
const ext: Endpoint = { kind: 'ip', ip: '203.0.113.7', scope: 'external' };
const unknownIp: Endpoint = { kind: 'ip', ip: '10.244.9.9', scope: 'unknown' };
const denyWip = np('shop', 'deny-wip', { podSelector: {}, policyTypes: ['Egress'] });

interface Row {
  name: string;
  src: Endpoint;
  dst: Endpoint;
  proto?: Protocol;
  port: number;
  policies: NetworkPolicyJson[];
  want: string;
  check?: (r: FlowResult) => void;
}
const rows: Row[] = [
  {
    name: 'no policies: both sides not isolated',
    src: web,
    dst: db,
    port: 5432,
    policies: [],
    want: 'allowed:not-isolated/not-isolated',
  },
  {
    name: 'deny-wip: podSelector {}, policyTypes [Egress], no rules -> egress isolated, nothing allowed',
    src: web,
    dst: dns,
    proto: 'UDP',
    port: 53,
    policies: [denyWip],
    want: 'denied:denies/not-isolated',
    check: (r) => {
      assert.equal(r.sides[0].isolatedBy, ['shop/deny-wip']);
      assert.is(r.sides[0].nearestMiss, undefined);
    },
  },
  {
    name: 'policyTypes absent + no egress rules = ingress-only (defaulting): egress not isolated',
    src: web,
    dst: db,
    port: 5432,
    policies: [np('shop', 'p', { podSelector: {}, egress: [] })],
    want: 'denied:not-isolated/denies',
  },
  {
    name: 'policyTypes absent + egress rules = Ingress and Egress',
    src: web,
    dst: db,
    port: 5432,
    policies: [np('shop', 'p', { podSelector: { matchLabels: { app: 'web' } }, egress: [{ ports: [{ port: 80 }] }] })],
    want: 'allowed:denies/not-isolated'.replace('allowed', 'denied'),
  },
  {
    name: 'policyTypes [] (empty list) is defaulted like absent',
    src: web,
    dst: db,
    port: 5432,
    policies: [np('shop', 'p', { podSelector: {}, policyTypes: [] })],
    want: 'denied:not-isolated/denies',
  },
  {
    name: 'egress: [{}] allows everything (one empty rule)',
    src: web,
    dst: ext,
    port: 443,
    policies: [np('shop', 'p', { podSelector: {}, policyTypes: ['Egress'], egress: [{}] })],
    want: 'allowed:allows/not-isolated',
  },
  {
    name: 'egress: [] with policyTypes [Egress] denies everything',
    src: web,
    dst: ext,
    port: 443,
    policies: [np('shop', 'p', { podSelector: {}, policyTypes: ['Egress'], egress: [] })],
    want: 'denied:denies/not-isolated',
  },
  {
    name: 'rule with to missing matches external destinations too; ports constrain',
    src: web,
    dst: ext,
    port: 443,
    policies: [np('shop', 'p', { podSelector: {}, policyTypes: ['Egress'], egress: [{ ports: [{ port: 443 }] }] })],
    want: 'allowed:allows/not-isolated',
  },
  {
    name: 'rule with ports missing: all ports and protocols',
    src: web,
    dst: dns,
    proto: 'SCTP',
    port: 9,
    policies: [
      np('shop', 'p', { podSelector: {}, policyTypes: ['Egress'], egress: [{ to: [{ namespaceSelector: {} }] }] }),
    ],
    want: 'allowed:allows/not-isolated',
  },
  {
    name: 'port entry with protocol only: all ports of that protocol',
    src: web,
    dst: dns,
    proto: 'UDP',
    port: 5353,
    policies: [
      np('shop', 'p', { podSelector: {}, policyTypes: ['Egress'], egress: [{ ports: [{ protocol: 'UDP' }] }] }),
    ],
    want: 'allowed:allows/not-isolated',
  },
  {
    name: 'protocol defaults to TCP: {port: 53} does not admit UDP/53 (nearest miss)',
    src: web,
    dst: dns,
    proto: 'UDP',
    port: 53,
    policies: [np('shop', 'p', { podSelector: {}, policyTypes: ['Egress'], egress: [{ ports: [{ port: 53 }] }] })],
    want: 'denied:denies/not-isolated',
    check: (r) => assert.is(r.sides[0].nearestMiss?.why, 'rule 0 of shop/p allows TCP/53, not UDP/53'),
  },
  {
    name: 'peer podSelector {} = same namespace only',
    src: web,
    dst: dns,
    proto: 'UDP',
    port: 53,
    policies: [np('shop', 'p', { podSelector: {}, policyTypes: ['Egress'], egress: [{ to: [{ podSelector: {} }] }] })],
    want: 'denied:denies/not-isolated',
    check: (r) =>
      assert.match(
        r.sides[0].nearestMiss!.why,
        /matches only pods in namespace shop; kube-system\/coredns-x2x4q is in kube-system/,
      ),
  },
  {
    name: 'peer namespaceSelector {} = all pods in all namespaces',
    src: web,
    dst: dns,
    proto: 'UDP',
    port: 53,
    policies: [
      np('shop', 'p', { podSelector: {}, policyTypes: ['Egress'], egress: [{ to: [{ namespaceSelector: {} }] }] }),
    ],
    want: 'allowed:allows/not-isolated',
  },
  {
    name: 'namespaceSelector {} does not match an external IP',
    src: web,
    dst: ext,
    port: 443,
    policies: [
      np('shop', 'p', { podSelector: {}, policyTypes: ['Egress'], egress: [{ to: [{ namespaceSelector: {} }] }] }),
    ],
    want: 'denied:denies/not-isolated',
    check: (r) =>
      assert.match(
        r.sides[0].nearestMiss!.why,
        /selectors match pods only and 203\.0\.113\.7 is not one; add an ipBlock/,
      ),
  },
  {
    name: 'namespaceSelector {} does not match a node',
    src: web,
    dst: { kind: 'node', name: 'n1', ip: '192.0.2.1' },
    port: 6443,
    policies: [
      np('shop', 'p', { podSelector: {}, policyTypes: ['Egress'], egress: [{ to: [{ namespaceSelector: {} }] }] }),
    ],
    want: 'denied:denies/not-isolated',
  },
  {
    name: 'namespaceSelector + podSelector in ONE peer = AND (pod in wrong namespace does not match)',
    src: pod('other', 'web-1', { app: 'web' }),
    dst: db,
    port: 5432,
    policies: [
      np('shop', 'p', {
        podSelector: { matchLabels: { app: 'db' } },
        ingress: [
          {
            from: [
              {
                namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'shop' } },
                podSelector: { matchLabels: { app: 'web' } },
              },
            ],
          },
        ],
      }),
    ],
    want: 'denied:not-isolated/denies',
  },
  {
    name: 'namespaceSelector and podSelector as TWO peers = OR (any pod of the namespace matches)',
    src: pod('other', 'job', { app: 'batch' }, { namespaceLabels: nsLabels('other', { team: 'shop' }) }),
    dst: db,
    port: 5432,
    policies: [
      np('shop', 'p', {
        podSelector: { matchLabels: { app: 'db' } },
        ingress: [
          {
            from: [
              { namespaceSelector: { matchLabels: { team: 'shop' } } },
              { podSelector: { matchLabels: { app: 'web' } } },
            ],
          },
        ],
      }),
    ],
    want: 'allowed:not-isolated/allows',
  },
  {
    name: 'namespaceSelector on a label the namespace lacks: nearest miss names it',
    src: web,
    dst: api,
    port: 8080,
    policies: [
      np('payments', 'allow-shop', {
        podSelector: {},
        ingress: [{ from: [{ namespaceSelector: { matchLabels: { team: 'shop' } } }], ports: [{ port: 8080 }] }],
      }),
    ],
    want: 'denied:not-isolated/denies',
    check: (r) =>
      assert.is(
        r.sides[1].nearestMiss?.why,
        'rule 0 of payments/allow-shop allows TCP/8080 but namespace shop does not match its namespaceSelector team=shop',
      ),
  },
  {
    name: 'namespace by name through kubernetes.io/metadata.name',
    src: web,
    dst: api,
    port: 8080,
    policies: [
      np('payments', 'allow-shop', {
        podSelector: {},
        ingress: [{ from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'shop' } } }] }],
      }),
    ],
    want: 'allowed:not-isolated/allows',
  },
  {
    name: 'matchExpressions In',
    src: web,
    dst: db,
    port: 5432,
    policies: [
      np('shop', 'p', {
        podSelector: { matchExpressions: [{ key: 'app', operator: 'In', values: ['db', 'cache'] }] },
        ingress: [{ from: [{ podSelector: { matchExpressions: [{ key: 'app', operator: 'In', values: ['web'] }] } }] }],
      }),
    ],
    want: 'allowed:not-isolated/allows',
  },
  {
    name: 'matchExpressions NotIn matches a pod without the key',
    src: pod('shop', 'nolabel'),
    dst: db,
    port: 5432,
    policies: [
      np('shop', 'p', {
        podSelector: {},
        ingress: [
          { from: [{ podSelector: { matchExpressions: [{ key: 'app', operator: 'NotIn', values: ['web'] }] } }] },
        ],
      }),
    ],
    want: 'allowed:not-isolated/allows',
  },
  {
    name: 'matchExpressions NotIn excludes the value',
    src: web,
    dst: db,
    port: 5432,
    policies: [
      np('shop', 'p', {
        podSelector: {},
        ingress: [
          { from: [{ podSelector: { matchExpressions: [{ key: 'app', operator: 'NotIn', values: ['web'] }] } }] },
        ],
      }),
    ],
    want: 'denied:not-isolated/denies',
  },
  {
    name: 'matchExpressions Exists / DoesNotExist',
    src: web,
    dst: db,
    port: 5432,
    policies: [
      np('shop', 'p', {
        podSelector: { matchExpressions: [{ key: 'app', operator: 'Exists' }] },
        ingress: [{ from: [{ podSelector: { matchExpressions: [{ key: 'app', operator: 'DoesNotExist' }] } }] }],
      }),
    ],
    want: 'denied:not-isolated/denies',
  },
  {
    name: 'matchLabels AND matchExpressions in one selector',
    src: pod('shop', 'w', { app: 'web', tier: 'x' }),
    dst: db,
    port: 5432,
    policies: [
      np('shop', 'p', {
        podSelector: {},
        ingress: [
          {
            from: [
              {
                podSelector: {
                  matchLabels: { app: 'web' },
                  matchExpressions: [{ key: 'tier', operator: 'In', values: ['fe'] }],
                },
              },
            ],
          },
        ],
      }),
    ],
    want: 'denied:not-isolated/denies',
  },
  {
    name: 'policies are additive: one of two isolating policies allows',
    src: web,
    dst: db,
    port: 5432,
    policies: [
      np('shop', 'deny-all', { podSelector: {} }),
      np('shop', 'allow-db', { podSelector: { matchLabels: { app: 'db' } }, ingress: [{ ports: [{ port: 5432 }] }] }),
    ],
    want: 'allowed:not-isolated/allows',
    check: (r) => {
      assert.equal(r.sides[1].isolatedBy, ['shop/allow-db', 'shop/deny-all']);
      assert.equal(r.sides[1].allowedBy, { policy: 'shop/allow-db', rule: 0 });
    },
  },
  {
    name: 'a policy in another namespace never isolates the pod',
    src: web,
    dst: db,
    port: 5432,
    policies: [np('other', 'deny-all', { podSelector: {}, policyTypes: ['Ingress', 'Egress'] })],
    want: 'allowed:not-isolated/not-isolated',
  },
  {
    name: 'port mistake -> nearest miss on the port (shop/allow-db allows 5433)',
    src: web,
    dst: db,
    port: 5432,
    policies: [
      np('shop', 'allow-db', {
        podSelector: { matchLabels: { app: 'db' } },
        ingress: [
          { from: [{ podSelector: { matchLabels: { app: 'web' } } }], ports: [{ protocol: 'TCP', port: 5433 }] },
        ],
      }),
    ],
    want: 'denied:not-isolated/denies',
    check: (r) => {
      assert.equal(r.sides[1].nearestMiss, {
        policy: 'shop/allow-db',
        rule: 0,
        why: 'rule 0 of shop/allow-db allows TCP/5433, not TCP/5432',
      });
    },
  },
  {
    name: 'endPort: inclusive range',
    src: web,
    dst: db,
    port: 5440,
    policies: [np('shop', 'p', { podSelector: {}, ingress: [{ ports: [{ port: 5432, endPort: 5440 }] }] })],
    want: 'allowed:not-isolated/allows',
  },
  {
    name: 'endPort: one past the end misses',
    src: web,
    dst: db,
    port: 5441,
    policies: [np('shop', 'p', { podSelector: {}, ingress: [{ ports: [{ port: 5432, endPort: 5440 }] }] })],
    want: 'denied:not-isolated/denies',
    check: (r) => assert.match(r.sides[1].nearestMiss!.why, /TCP\/5432-5440, not TCP\/5441/),
  },
  {
    name: 'ingress named port resolved on the destination pod itself',
    src: web,
    dst: api,
    port: 9090,
    policies: [np('payments', 'p', { podSelector: {}, ingress: [{ ports: [{ port: 'metrics' }] }] })],
    want: 'allowed:not-isolated/allows',
  },
  {
    name: 'named port with the wrong number: nearest miss shows the resolution',
    src: web,
    dst: api,
    port: 9091,
    policies: [np('payments', 'p', { podSelector: {}, ingress: [{ ports: [{ port: 'metrics' }] }] })],
    want: 'denied:not-isolated/denies',
    check: (r) =>
      assert.is(
        r.sides[1].nearestMiss?.why,
        'rule 0 of payments/p allows TCP/metrics (= 9090 on payments/api-7c4b), not TCP/9091',
      ),
  },
  {
    name: 'named port needs the protocol to match the container port too',
    src: web,
    dst: dns,
    proto: 'TCP',
    port: 53,
    policies: [np('kube-system', 'p', { podSelector: {}, ingress: [{ ports: [{ port: 'dns', protocol: 'TCP' }] }] })],
    want: 'denied:not-isolated/denies',
  },
  {
    name: 'egress named port resolved on the DESTINATION pod (not the source)',
    src: pod('shop', 'cli', {}, { containerPorts: [{ name: 'metrics', port: 1234 }] }),
    dst: api,
    port: 9090,
    policies: [
      np('shop', 'p', { podSelector: {}, policyTypes: ['Egress'], egress: [{ ports: [{ port: 'metrics' }] }] }),
    ],
    want: 'allowed:allows/not-isolated',
  },
  {
    name: 'egress named port to an external IP never matches',
    src: web,
    dst: ext,
    port: 9090,
    policies: [
      np('shop', 'p', { podSelector: {}, policyTypes: ['Egress'], egress: [{ ports: [{ port: 'metrics' }] }] }),
    ],
    want: 'denied:denies/not-isolated',
  },
  {
    name: 'egress named port to an unknown IP is undecidable',
    src: web,
    dst: unknownIp,
    port: 9090,
    policies: [
      np('shop', 'p', { podSelector: {}, policyTypes: ['Egress'], egress: [{ ports: [{ port: 'metrics' }] }] }),
    ],
    want: 'undecidable:undecidable/undecidable',
  },
  {
    name: 'ipBlock with except, external IP inside except: decided miss',
    src: web,
    dst: ext,
    port: 443,
    policies: [
      np('shop', 'p', {
        podSelector: {},
        policyTypes: ['Egress'],
        egress: [{ to: [{ ipBlock: { cidr: '203.0.113.0/24', except: ['203.0.113.0/29'] } }] }],
      }),
    ],
    want: 'denied:denies/not-isolated',
  },
  {
    name: 'ipBlock, external IP inside: allowed',
    src: web,
    dst: ext,
    port: 443,
    policies: [
      np('shop', 'p', {
        podSelector: {},
        policyTypes: ['Egress'],
        egress: [{ to: [{ ipBlock: { cidr: '203.0.113.0/24', except: ['203.0.113.128/25'] } }] }],
      }),
    ],
    want: 'allowed:allows/not-isolated',
  },
  {
    name: 'ipBlock containing a pod IP is undecidable (CNI-specific)',
    src: web,
    dst: db,
    port: 5432,
    policies: [
      np('shop', 'p', {
        podSelector: { matchLabels: { app: 'web' } },
        policyTypes: ['Egress'],
        egress: [{ to: [{ ipBlock: { cidr: '10.0.0.0/8' } }] }],
      }),
    ],
    want: 'undecidable:undecidable/not-isolated',
    check: (r) => assert.match(r.sides[0].reason!, /depends on the CNI/),
  },
  {
    name: 'ipBlock not containing the pod IP: decided miss',
    src: web,
    dst: db,
    port: 5432,
    policies: [
      np('shop', 'p', {
        podSelector: { matchLabels: { app: 'web' } },
        policyTypes: ['Egress'],
        egress: [{ to: [{ ipBlock: { cidr: '192.168.0.0/16' } }] }],
      }),
    ],
    want: 'denied:denies/not-isolated',
  },
  {
    name: 'IPv6 ipBlock against an external IPv6',
    src: web,
    dst: { kind: 'ip', ip: '2001:db8::5', scope: 'external' },
    port: 443,
    policies: [
      np('shop', 'p', {
        podSelector: {},
        policyTypes: ['Egress'],
        egress: [{ to: [{ ipBlock: { cidr: '2001:db8::/32' } }] }],
      }),
    ],
    want: 'allowed:allows/not-isolated',
  },
  {
    name: 'hostNetwork source pod: its egress side is undecidable',
    src: pod('kube-system', 'node-exporter', {}, { hostNetwork: true }),
    dst: db,
    port: 5432,
    policies: [np('shop', 'p', { podSelector: {} })],
    want: 'denied:undecidable/denies',
  },
  {
    name: 'hostNetwork destination pod: its ingress side is undecidable',
    src: web,
    dst: pod('kube-system', 'etcd', {}, { hostNetwork: true }),
    port: 2379,
    policies: [np('kube-system', 'deny-all', { podSelector: {} })],
    want: 'undecidable:not-isolated/undecidable',
  },
  {
    name: 'hostNetwork peer that a selector would match: undecidable',
    src: pod('shop', 'hn', { app: 'web' }, { hostNetwork: true }),
    dst: db,
    port: 5432,
    policies: [
      np('shop', 'p', { podSelector: {}, ingress: [{ from: [{ podSelector: { matchLabels: { app: 'web' } } }] }] }),
    ],
    want: 'undecidable:undecidable/undecidable',
  },
  {
    name: 'unknown source IP vs pod selectors: undecidable',
    src: unknownIp,
    dst: db,
    port: 5432,
    policies: [np('shop', 'p', { podSelector: {}, ingress: [{ from: [{ podSelector: {} }] }] })],
    want: 'undecidable:undecidable/undecidable',
  },
  {
    name: 'unknown IP, but the destination isolates with no rules: still denied',
    src: unknownIp,
    dst: db,
    port: 5432,
    policies: [np('shop', 'p', { podSelector: {} })],
    want: 'denied:undecidable/denies',
  },
  {
    name: 'missing source namespace vs a namespaceSelector: undecidable',
    src: pod('gone', 'x', {}, { namespaceLabels: undefined }),
    dst: db,
    port: 5432,
    policies: [
      np('shop', 'p', {
        podSelector: {},
        ingress: [{ from: [{ namespaceSelector: { matchLabels: { team: 'a' } } }] }],
      }),
    ],
    want: 'undecidable:not-isolated/undecidable',
    check: (r) => assert.match(r.sides[1].reason!, /namespace gone is unknown/),
  },
  {
    name: "ingress from the pod's own node is always allowed by spec",
    src: { kind: 'node', name: 'n1', ip: '192.0.2.1' },
    dst: { ...db, node: 'n1' },
    port: 8080,
    policies: [np('shop', 'deny', { podSelector: {} })],
    want: 'allowed:not-isolated/allows',
    check: (r) => assert.match(r.sides[1].reason!, /own node/),
  },
  {
    name: 'ingress from another node with an ipBlock rule covering it: undecidable (node IP / SNAT)',
    src: { kind: 'node', name: 'n2', ip: '192.0.2.2' },
    dst: { ...db, node: 'n1' },
    port: 8080,
    policies: [np('shop', 'p', { podSelector: {}, ingress: [{ from: [{ ipBlock: { cidr: '192.0.2.0/24' } }] }] })],
    want: 'undecidable:not-isolated/undecidable',
  },
  {
    name: 'ingress from another node, selector rules only: denied, with the SNAT caveat',
    src: { kind: 'node', name: 'n2', ip: '192.0.2.2' },
    dst: { ...db, node: 'n1' },
    port: 8080,
    policies: [np('shop', 'p', { podSelector: {}, ingress: [{ from: [{ podSelector: {} }] }] })],
    want: 'denied:not-isolated/denies',
    check: (r) => assert.match(r.sides[1].reason!, /SNAT/),
  },
  {
    name: 'Service IP destination (pre-DNAT): egress undecidable when isolated',
    src: web,
    dst: { kind: 'ip', ip: '10.96.0.10', scope: 'service' },
    port: 53,
    proto: 'UDP',
    policies: [
      np('shop', 'p', {
        podSelector: {},
        policyTypes: ['Egress'],
        egress: [{ ports: [{ port: 53, protocol: 'UDP' }] }],
      }),
    ],
    want: 'undecidable:undecidable/undecidable',
  },
  {
    name: 'both sides deny: both reported, egress first',
    src: web,
    dst: dns,
    proto: 'UDP',
    port: 53,
    policies: [denyWip, np('kube-system', 'deny-all', { podSelector: {} })],
    want: 'denied:denies/denies',
  },
  {
    name: 'a pod cannot block traffic to itself',
    src: db,
    dst: db,
    port: 5432,
    policies: [np('shop', 'deny', { podSelector: {}, policyTypes: ['Ingress', 'Egress'] })],
    want: 'allowed:allows/allows',
  },
  {
    name: "egress to the pod's own node is CNI-specific: undecidable, not denied",
    src: { ...web, node: 'n1' },
    dst: { kind: 'node', name: 'n1', ip: '192.0.2.1' },
    port: 10250,
    policies: [denyWip],
    want: 'undecidable:undecidable/not-isolated',
  },
  {
    name: 'egress to another node under deny-wip: denied',
    src: { ...web, node: 'n1' },
    dst: { kind: 'node', name: 'n2', ip: '192.0.2.2' },
    port: 10250,
    policies: [denyWip],
    want: 'denied:denies/not-isolated',
  },
  {
    name: 'SCTP is not TCP',
    src: web,
    dst: db,
    proto: 'TCP',
    port: 80,
    policies: [np('shop', 'p', { podSelector: {}, ingress: [{ ports: [{ protocol: 'SCTP', port: 80 }] }] })],
    want: 'denied:not-isolated/denies',
  },
];

for (const r of rows) {
  test(`trap: ${r.name}`, () => {
    const res = flow(r.src, r.dst, r.proto ?? 'TCP', r.port, r.policies);
    assert.is(verdicts(res), r.want, JSON.stringify(res.sides));
    r.check?.(res);
  });
}

test('effectivePolicyTypes: defaulting rules', () => {
  assert.equal(effectivePolicyTypes(np('a', 'b', { podSelector: {} })), ['ingress']);
  assert.equal(effectivePolicyTypes(np('a', 'b', { podSelector: {}, egress: [{}] })), ['ingress', 'egress']);
  assert.equal(effectivePolicyTypes(np('a', 'b', { podSelector: {}, policyTypes: ['Egress'], ingress: [{}] })), [
    'egress',
  ]);
});

test('the subject pod is not selected by the policy: not isolated', () => {
  const s = evaluateSide(
    'ingress',
    db,
    web,
    'TCP',
    5432,
    [np('shop', 'p', { podSelector: { matchLabels: { app: 'other' } } })],
    db,
  );
  assert.is(s.verdict, 'not-isolated');
});

// ---- wording ----------------------------------------------------------------------------------

test('wording: deny-wip (DNS) names the policy first, never "denies"', () => {
  const r = flow(web, dns, 'UDP', 53, [denyWip]);
  const w = summarize(web, dns, 'UDP', 53, r);
  assert.is(
    w.summary,
    'Egress of shop/web-0 is isolated by shop/deny-wip; no rule allows UDP/53 to kube-system/coredns-x2x4q (DNS).',
  );
  assert.match(w.fix!, /kube-dns on UDP and TCP 53.*remove shop\/deny-wip/);
  assert.not.match(w.summary, /denies/);
});

test('wording: a port mistake gives the fix sentence', () => {
  const pols = [
    np('shop', 'allow-db', {
      podSelector: { matchLabels: { app: 'db' } },
      ingress: [{ from: [{ podSelector: { matchLabels: { app: 'web' } } }], ports: [{ port: 5433 }] }],
    }),
  ];
  const w = summarize(web, db, 'TCP', 5432, flow(web, db, 'TCP', 5432, pols));
  assert.is(w.summary, 'Ingress of shop/db-0 is isolated by shop/allow-db; no rule allows TCP/5432 from shop/web-0.');
  assert.is(w.fix, 'Rule 0 of shop/allow-db allows TCP/5433, not TCP/5432.');
});

test('wording: both sides, allowed, undecidable; always under 300 characters', () => {
  const many = Array.from({ length: 40 }, (_, i) =>
    np('shop', `very-long-policy-name-number-${i}`, { podSelector: {}, policyTypes: ['Ingress', 'Egress'] }),
  );
  const both = summarize(web, db, 'TCP', 5432, flow(web, db, 'TCP', 5432, many));
  assert.match(
    both.summary,
    /^Egress of shop\/web-0 is isolated by .* and 37 more; no rule allows TCP\/5432 to shop\/db-0; and Ingress of shop\/db-0/,
  );
  assert.ok(both.summary.length <= 300, String(both.summary.length));
  const ok = summarize(web, db, 'TCP', 5432, flow(web, db, 'TCP', 5432, []), ['CiliumNetworkPolicy']);
  assert.match(
    ok.summary,
    /^Current NetworkPolicies allow TCP\/5432 from shop\/web-0 to shop\/db-0 \(egress not isolated, ingress not isolated\); the drop has CiliumNetworkPolicy \(not evaluated here\), a non-policy cause, or a policy change since\.$/,
  );
  assert.match(
    summarize(web, db, 'TCP', 5432, flow(web, db, 'TCP', 5432, [])).summary,
    /; the drop has another cause, or policies changed since\.$/,
  );
  assert.is(ok.fix, undefined);
  const u = summarize(
    web,
    db,
    'TCP',
    5432,
    flow(web, db, 'TCP', 5432, [
      np('shop', 'p', {
        podSelector: { matchLabels: { app: 'web' } },
        policyTypes: ['Egress'],
        egress: [{ to: [{ ipBlock: { cidr: '10.0.0.0/8' } }] }],
      }),
    ]),
  );
  assert.match(
    u.summary,
    /^Cannot tell whether NetworkPolicy allows TCP\/5432 from shop\/web-0 to shop\/db-0: egress: ipBlock 10\.0\.0\.0\/8 contains pod IP/,
  );
  assert.ok(u.summary.length <= 300);
});

// ---------------------------------------------------------------------------------------------
// 2. upstream conformance truth tables. The e2e model: namespaces x, y, z (labelled ns=<name> and
// kubernetes.io/metadata.name), pods a, b, c (labelled pod=<name>) each serving TCP/UDP/SCTP 80 and
// 81 with container ports named serve-<port>-<proto>. Each case states which (client, server) pairs
// connect on one port/protocol, as the upstream test's expected Reachability does. Cases whose
// upstream expectation depends on ipBlock matching pod IPs are expected "undecidable" here.

const NSS = ['x', 'y', 'z'],
  PODS = ['a', 'b', 'c'];
const model: PodEndpoint[] = [];
NSS.forEach((ns, i) =>
  PODS.forEach((p, j) =>
    model.push({
      kind: 'pod',
      namespace: ns,
      name: p,
      labels: { pod: p },
      namespaceLabels: nsLabels(ns, { ns }),
      hostNetwork: false,
      node: 'n1',
      containerPorts: [80, 81].flatMap((port) =>
        (['TCP', 'UDP', 'SCTP'] as const).map((protocol) => ({
          name: `serve-${port}-${protocol.toLowerCase()}`,
          port,
          protocol,
        })),
      ),
      ips: [`10.244.${i}.${j + 10}`],
    }),
  ),
);
const id = (e: PodEndpoint) => `${e.namespace}/${e.name}`;
const sel = (l: Record<string, string>): LabelSelectorJson => ({ matchLabels: l });
const expr = (key: string, operator: string, values?: string[]): LabelSelectorJson => ({
  matchExpressions: [{ key, operator, values }],
});
type Pair = (client: string, server: string) => boolean | 'undecidable';
interface TT {
  name: string;
  policies: NetworkPolicyJson[];
  proto?: Protocol;
  port?: number;
  reach: Pair;
}
const all: Pair = () => true;
const tt: TT[] = [
  {
    name: 'default-deny-ingress in x',
    policies: [np('x', 'deny-ingress', { podSelector: {}, ingress: [] })],
    reach: (_c, s) => !s.startsWith('x/'),
  },
  {
    name: 'default-deny-all in x (ingress+egress)',
    policies: [np('x', 'deny-all', { podSelector: {}, policyTypes: ['Ingress', 'Egress'] })],
    reach: (c, s) => !s.startsWith('x/') && !c.startsWith('x/'),
  },
  {
    name: 'deny egress from x/a',
    policies: [np('x', 'deny-egress-a', { podSelector: sel({ pod: 'a' }), policyTypes: ['Egress'] })],
    reach: (c) => c !== 'x/a',
  },
  {
    name: 'deny egress from all pods of x',
    policies: [np('x', 'deny-egress', { podSelector: {}, policyTypes: ['Egress'] })],
    reach: (c) => !c.startsWith('x/'),
  },
  {
    name: 'allow-all ingress for x (ingress: [{}])',
    policies: [np('x', 'allow-all', { podSelector: {}, ingress: [{}] })],
    reach: all,
  },
  {
    name: 'x/a ingress from podSelector pod=b (same namespace only)',
    policies: [
      np('x', 'p', { podSelector: sel({ pod: 'a' }), ingress: [{ from: [{ podSelector: sel({ pod: 'b' }) }] }] }),
    ],
    reach: (c, s) => s !== 'x/a' || c === 'x/b',
  },
  {
    name: 'x/a ingress from namespaceSelector ns In [y]',
    policies: [
      np('x', 'p', {
        podSelector: sel({ pod: 'a' }),
        ingress: [{ from: [{ namespaceSelector: expr('ns', 'In', ['y']) }] }],
      }),
    ],
    reach: (c, s) => s !== 'x/a' || c.startsWith('y/'),
  },
  {
    name: 'x/a ingress from podSelector pod In [b] (matchExpressions)',
    policies: [
      np('x', 'p', {
        podSelector: sel({ pod: 'a' }),
        ingress: [{ from: [{ podSelector: expr('pod', 'In', ['b']) }] }],
      }),
    ],
    reach: (c, s) => s !== 'x/a' || c === 'x/b',
  },
  {
    name: 'x/a ingress from namespaceSelector ns NotIn [x]',
    policies: [
      np('x', 'p', {
        podSelector: sel({ pod: 'a' }),
        ingress: [{ from: [{ namespaceSelector: expr('ns', 'NotIn', ['x']) }] }],
      }),
    ],
    reach: (c, s) => s !== 'x/a' || !c.startsWith('x/'),
  },
  {
    name: 'x/a ingress from PodSelector OR NamespaceSelector',
    policies: [
      np('x', 'p', {
        podSelector: sel({ pod: 'a' }),
        ingress: [{ from: [{ namespaceSelector: expr('ns', 'NotIn', ['x']) }, { podSelector: sel({ pod: 'b' }) }] }],
      }),
    ],
    reach: (c, s) => s !== 'x/a' || !c.startsWith('x/') || c === 'x/b',
  },
  {
    name: 'x/a ingress from PodSelector AND NamespaceSelector',
    policies: [
      np('x', 'p', {
        podSelector: sel({ pod: 'a' }),
        ingress: [{ from: [{ namespaceSelector: expr('ns', 'NotIn', ['x']), podSelector: sel({ pod: 'b' }) }] }],
      }),
    ],
    reach: (c, s) => s !== 'x/a' || c === 'y/b' || c === 'z/b',
  },
  {
    name: 'x/a ingress from multiple pod/namespace selectors (ns NotIn x AND pod In b,c)',
    policies: [
      np('x', 'p', {
        podSelector: sel({ pod: 'a' }),
        ingress: [
          { from: [{ namespaceSelector: expr('ns', 'NotIn', ['x']), podSelector: expr('pod', 'In', ['b', 'c']) }] },
        ],
      }),
    ],
    reach: (c, s) => s !== 'x/a' || (!c.startsWith('x/') && !c.endsWith('/a')),
  },
  {
    name: 'x/a ingress from any of two PodSelectors',
    policies: [
      np('x', 'p', {
        podSelector: sel({ pod: 'a' }),
        ingress: [{ from: [{ podSelector: sel({ pod: 'b' }) }, { podSelector: sel({ pod: 'c' }) }] }],
      }),
    ],
    reach: (c, s) => s !== 'x/a' || c === 'x/b' || c === 'x/c',
  },
  {
    name: 'x/a ingress from y/a only (ns=y AND pod=a)',
    policies: [
      np('x', 'p', {
        podSelector: sel({ pod: 'a' }),
        ingress: [{ from: [{ namespaceSelector: sel({ ns: 'y' }), podSelector: sel({ pod: 'a' }) }] }],
      }),
    ],
    reach: (c, s) => s !== 'x/a' || c === 'y/a',
  },
  {
    name: 'x/a ingress from ns=y on port 81: port 81 reachable',
    port: 81,
    policies: [
      np('x', 'p', {
        podSelector: sel({ pod: 'a' }),
        ingress: [{ from: [{ namespaceSelector: sel({ ns: 'y' }) }], ports: [{ port: 81, protocol: 'TCP' }] }],
      }),
    ],
    reach: (c, s) => s !== 'x/a' || c.startsWith('y/'),
  },
  {
    name: 'x/a ingress from ns=y on port 81: port 80 blocked',
    port: 80,
    policies: [
      np('x', 'p', {
        podSelector: sel({ pod: 'a' }),
        ingress: [{ from: [{ namespaceSelector: sel({ ns: 'y' }) }], ports: [{ port: 81, protocol: 'TCP' }] }],
      }),
    ],
    reach: (_c, s) => s !== 'x/a',
  },
  {
    name: 'stacked policies with overlapping podSelectors (80 and 81) both open 81',
    port: 81,
    policies: [
      np('x', 'p80', {
        podSelector: sel({ pod: 'a' }),
        ingress: [{ from: [{ namespaceSelector: sel({ ns: 'y' }) }], ports: [{ port: 80 }] }],
      }),
      np('x', 'p81', {
        podSelector: sel({ pod: 'a' }),
        ingress: [{ from: [{ namespaceSelector: sel({ ns: 'y' }) }], ports: [{ port: 81 }] }],
      }),
    ],
    reach: (c, s) => s !== 'x/a' || c.startsWith('y/'),
  },
  {
    name: 'ingress on one named port (serve-81-tcp): 81 open',
    port: 81,
    policies: [np('x', 'p', { podSelector: sel({ pod: 'a' }), ingress: [{ ports: [{ port: 'serve-81-tcp' }] }] })],
    reach: all,
  },
  {
    name: 'ingress on one named port (serve-81-tcp): 80 blocked',
    port: 80,
    policies: [np('x', 'p', { podSelector: sel({ pod: 'a' }), ingress: [{ ports: [{ port: 'serve-81-tcp' }] }] })],
    reach: (_c, s) => s !== 'x/a',
  },
  {
    name: 'ingress from namespace ns=y on named port serve-80-tcp',
    port: 80,
    policies: [
      np('x', 'p', {
        podSelector: {},
        ingress: [{ from: [{ namespaceSelector: sel({ ns: 'y' }) }], ports: [{ port: 'serve-80-tcp' }] }],
      }),
    ],
    reach: (c, s) => !s.startsWith('x/') || c.startsWith('y/'),
  },
  {
    name: 'egress on one named port (serve-80-tcp) resolved on the server',
    port: 80,
    policies: [
      np('x', 'p', {
        podSelector: sel({ pod: 'a' }),
        policyTypes: ['Egress'],
        egress: [{ ports: [{ port: 'serve-80-tcp' }] }],
      }),
    ],
    reach: all,
  },
  {
    name: 'egress on named port serve-80-tcp blocks 81',
    port: 81,
    policies: [
      np('x', 'p', {
        podSelector: sel({ pod: 'a' }),
        policyTypes: ['Egress'],
        egress: [{ ports: [{ port: 'serve-80-tcp' }] }],
      }),
    ],
    reach: (c) => c !== 'x/a',
  },
  {
    name: 'client-side egress deny beats a server allow (x/a egress only to ns=y)',
    policies: [
      np('x', 'eg', {
        podSelector: sel({ pod: 'a' }),
        policyTypes: ['Egress'],
        egress: [{ to: [{ namespaceSelector: sel({ ns: 'y' }) }] }],
      }),
      np('z', 'allow', { podSelector: {}, ingress: [{}] }),
    ],
    reach: (c, s) => c !== 'x/a' || s.startsWith('y/'),
  },
  {
    name: 'egress to y/a only (ns=y AND pod=a)',
    policies: [
      np('x', 'eg', {
        podSelector: sel({ pod: 'a' }),
        policyTypes: ['Egress'],
        egress: [{ to: [{ namespaceSelector: sel({ ns: 'y' }), podSelector: sel({ pod: 'a' }) }] }],
      }),
    ],
    reach: (c, s) => c !== 'x/a' || s === 'y/a',
  },
  {
    name: 'ingress any port on a specific protocol (TCP): TCP 81 open',
    port: 81,
    policies: [np('x', 'p', { podSelector: sel({ pod: 'a' }), ingress: [{ ports: [{ protocol: 'TCP' }] }] })],
    reach: all,
  },
  {
    name: 'ingress any port on TCP: UDP 80 blocked',
    proto: 'UDP',
    port: 80,
    policies: [np('x', 'p', { podSelector: sel({ pod: 'a' }), ingress: [{ ports: [{ protocol: 'TCP' }] }] })],
    reach: (_c, s) => s !== 'x/a',
  },
  {
    name: 'multiple ingress policies: allow-all takes precedence over a port-80 policy',
    port: 81,
    policies: [
      np('x', 'p80', { podSelector: sel({ pod: 'a' }), ingress: [{ ports: [{ port: 80 }] }] }),
      np('x', 'all', { podSelector: sel({ pod: 'a' }), ingress: [{}] }),
    ],
    reach: all,
  },
  {
    name: 'multiple egress policies: allow-all takes precedence over a port-80 policy',
    port: 81,
    policies: [
      np('x', 'p80', { podSelector: sel({ pod: 'a' }), policyTypes: ['Egress'], egress: [{ ports: [{ port: 80 }] }] }),
      np('x', 'all', { podSelector: sel({ pod: 'a' }), policyTypes: ['Egress'], egress: [{}] }),
    ],
    reach: all,
  },
  {
    name: 'ingress from all namespaces (namespaceSelector {})',
    policies: [np('x', 'p', { podSelector: {}, ingress: [{ from: [{ namespaceSelector: {} }] }] })],
    reach: all,
  },
  {
    name: 'namespace by its default kubernetes.io/metadata.name label',
    policies: [
      np('x', 'p', {
        podSelector: {},
        ingress: [{ from: [{ namespaceSelector: sel({ 'kubernetes.io/metadata.name': 'y' }) }] }],
      }),
    ],
    reach: (c, s) => !s.startsWith('x/') || c.startsWith('y/'),
  },
  {
    name: '"protocol: SCTP" is not TCP',
    policies: [
      np('x', 'p', { podSelector: sel({ pod: 'a' }), ingress: [{ ports: [{ protocol: 'SCTP', port: 80 }] }] }),
    ],
    reach: (_c, s) => s !== 'x/a',
  },
  {
    name: 'ingress and egress policies controlled independently',
    policies: [
      np('x', 'in', { podSelector: sel({ pod: 'a' }), ingress: [{ from: [{ podSelector: sel({ pod: 'b' }) }] }] }),
      np('x', 'eg', {
        podSelector: sel({ pod: 'a' }),
        policyTypes: ['Egress'],
        egress: [{ to: [{ podSelector: sel({ pod: 'b' }) }] }],
      }),
    ],
    reach: (c, s) => (s !== 'x/a' || c === 'x/b') && (c !== 'x/a' || s === 'x/b'),
  },
  {
    name: 'endPort range [80, 81] opens 81',
    port: 81,
    policies: [np('x', 'p', { podSelector: sel({ pod: 'a' }), ingress: [{ ports: [{ port: 80, endPort: 81 }] }] })],
    reach: all,
  },
  {
    name: 'egress to a CIDR holding the server pods: upstream allowed, here undecidable (ipBlock vs pod IP)',
    policies: [
      np('x', 'cidr', {
        podSelector: sel({ pod: 'a' }),
        policyTypes: ['Egress'],
        egress: [{ to: [{ ipBlock: { cidr: '10.244.1.0/24' } }] }],
      }),
    ],
    reach: (c, s) => c !== 'x/a' || (s.startsWith('y/') ? 'undecidable' : false),
  },
  {
    name: 'egress CIDR except clause: excluded pod is a decided miss, the rest undecidable',
    policies: [
      np('x', 'cidr', {
        podSelector: sel({ pod: 'a' }),
        policyTypes: ['Egress'],
        egress: [{ to: [{ ipBlock: { cidr: '10.244.1.0/24', except: ['10.244.1.10/32'] } }] }],
      }),
    ],
    reach: (c, s) => c !== 'x/a' || (s === 'y/a' ? false : s.startsWith('y/') ? 'undecidable' : false),
  },
];

for (const c of tt) {
  test(`truth table: ${c.name}`, () => {
    const proto = c.proto ?? 'TCP',
      port = c.port ?? 80;
    const bad: string[] = [];
    for (const cl of model)
      for (const sv of model) {
        const r = flow(cl, sv, proto, port, c.policies);
        const want = cl === sv ? true : c.reach(id(cl), id(sv)); // "a pod cannot block access to itself"
        const got = r.verdict === 'allowed' ? true : r.verdict === 'denied' ? false : 'undecidable';
        if (got !== want) bad.push(`${id(cl)}->${id(sv)}: want ${want}, got ${verdicts(r)}`);
      }
    assert.is(bad.length, 0, bad.slice(0, 5).join('\n'));
  });
}

// ---------------------------------------------------------------------------------------------
// 3. property: random policies/pods/ports against a brute-force model. The model enumerates, for each
// rule, the SET of endpoints its peers select and the SET of (protocol, port) its ports admit over a
// small universe, then asks membership — a different computation from the evaluator's per-flow
// matching. It is run twice: once as if ipBlock matched pod IPs (Calico) and once as if not (Cilium).
// Where both agree the evaluator must decide and agree; where they differ it must say undecidable.

const PROTOS: Protocol[] = ['TCP', 'UDP', 'SCTP'];
const PORTS = [53, 80, 81, 443];
const KEYS = ['app', 'tier'],
  VALS = ['a', 'b'];
const NAMES = ['http', 'dns'];
const arbLabels = fc.dictionary(fc.constantFrom(...KEYS), fc.constantFrom(...VALS), { maxKeys: 2 });
const arbSelector: fc.Arbitrary<LabelSelectorJson> = fc.record(
  {
    matchLabels: fc.option(arbLabels, { nil: undefined }),
    matchExpressions: fc.option(
      fc.array(
        fc.record({
          key: fc.constantFrom(...KEYS),
          operator: fc.constantFrom('In', 'NotIn', 'Exists', 'DoesNotExist'),
          values: fc.subarray(VALS, { minLength: 1 }),
        }),
        { maxLength: 2 },
      ),
      { nil: undefined },
    ),
  },
  { requiredKeys: [] },
);
const arbPeer: fc.Arbitrary<PeerJson> = fc.oneof(
  { weight: 1, arbitrary: fc.record({ podSelector: arbSelector }) },
  { weight: 1, arbitrary: fc.record({ namespaceSelector: arbSelector }) },
  { weight: 1, arbitrary: fc.record({ podSelector: arbSelector, namespaceSelector: arbSelector }) },
  {
    weight: 2,
    arbitrary: fc.record({
      ipBlock: fc.record(
        {
          cidr: fc.constantFrom('10.244.0.0/16', '10.244.0.0/24', '203.0.113.0/24', '0.0.0.0/0'),
          except: fc.option(
            fc.constantFrom('10.244.0.8/29', '203.0.113.0/28').map((x) => [x]),
            { nil: undefined },
          ),
        },
        { requiredKeys: ['cidr'] },
      ),
    }),
  },
);
const arbPort: fc.Arbitrary<PortJson> = fc
  .record(
    {
      protocol: fc.option(fc.constantFrom(...PROTOS), { nil: undefined }),
      port: fc.option(fc.oneof(fc.constantFrom(...PORTS), fc.constantFrom(...NAMES)), { nil: undefined }),
      endPort: fc.option(fc.constantFrom(81, 443), { nil: undefined }),
    },
    { requiredKeys: [] },
  )
  .map((p) =>
    typeof p.port !== 'number'
      ? { ...p, endPort: undefined }
      : p.endPort !== undefined && p.endPort < p.port
        ? { ...p, endPort: undefined }
        : p,
  );
const arbRule = fc.record(
  {
    peers: fc.option(fc.array(arbPeer, { maxLength: 2 }), { nil: undefined }),
    ports: fc.option(fc.array(arbPort, { maxLength: 2 }), { nil: undefined }),
  },
  { requiredKeys: [] },
);
const arbPolicy = fc.record(
  {
    ns: fc.constantFrom('x', 'y'),
    podSelector: arbSelector,
    policyTypes: fc.option(fc.subarray(['Ingress', 'Egress']), { nil: undefined }),
    ingress: fc.option(fc.array(arbRule, { maxLength: 2 }), { nil: undefined }),
    egress: fc.option(fc.array(arbRule, { maxLength: 2 }), { nil: undefined }),
  },
  { requiredKeys: ['ns', 'podSelector'] },
);
const arbPod = fc.record({
  ns: fc.constantFrom('x', 'y'),
  labels: arbLabels,
  nsTeam: fc.option(fc.constantFrom(...VALS), { nil: undefined }),
  host: fc.integer({ min: 1, max: 30 }),
  http: fc.constantFrom(80, 81),
  dnsProto: fc.constantFrom<Protocol>('UDP', 'TCP'),
});

type PolicyGen = typeof arbPolicy extends fc.Arbitrary<infer T> ? T : never;
interface Universe {
  pods: PodEndpoint[];
  externals: Endpoint[];
}
function toPolicies(ps: PolicyGen[]): NetworkPolicyJson[] {
  return ps.map((p, i) =>
    np(p.ns, `p${i}`, {
      podSelector: p.podSelector,
      ...(p.policyTypes ? { policyTypes: p.policyTypes } : {}),
      ...(p.ingress
        ? {
            ingress: p.ingress.map((r) => ({
              ...(r.peers ? { from: r.peers } : {}),
              ...(r.ports ? { ports: r.ports } : {}),
            })),
          }
        : {}),
      ...(p.egress
        ? {
            egress: p.egress.map((r) => ({
              ...(r.peers ? { to: r.peers } : {}),
              ...(r.ports ? { ports: r.ports } : {}),
            })),
          }
        : {}),
    }),
  );
}

/** The reference: brute force over the universe, with a fixed answer to "does ipBlock see pod IPs?". */
function model2(
  u: Universe,
  pols: NetworkPolicyJson[],
  src: Endpoint,
  dst: Endpoint,
  proto: Protocol,
  port: number,
  ipBlockSeesPods: boolean,
): boolean {
  const everyone: Endpoint[] = [...u.pods, ...u.externals];
  const labelsOk = (s: LabelSelectorJson | null | undefined, l: Record<string, string>) => {
    for (const k of Object.keys(s?.matchLabels ?? {})) if (l[k] !== s!.matchLabels![k]) return false;
    return (s?.matchExpressions ?? []).every((e) =>
      (
        ({
          In: () => k(l, e.key) && e.values!.includes(l[e.key]),
          NotIn: () => !k(l, e.key) || !e.values!.includes(l[e.key]),
          Exists: () => k(l, e.key),
          DoesNotExist: () => !k(l, e.key),
        }) as Record<string, () => boolean>
      )[e.operator](),
    );
  };
  const k = (l: Record<string, string>, key: string) => key in l;
  const toNum = (x: string) => x.split('.').reduce((a, o) => a * 256 + Number(o), 0);
  const ipIn = (ip: string, cidr: string) => {
    const [n, len] = cidr.split('/');
    const bits = Number(len);
    return bits === 0 || toNum(ip) >>> (32 - bits) === toNum(n) >>> (32 - bits);
  };
  const selected = (peers: PeerJson[] | null | undefined, polNs: string): Set<Endpoint> => {
    if (!peers || !peers.length) return new Set(everyone);
    const out = new Set<Endpoint>();
    for (const peer of peers)
      for (const e of everyone) {
        if (peer.ipBlock) {
          const ip = e.kind === 'pod' ? e.ips[0] : e.kind === 'ip' ? e.ip : undefined;
          if (!ip || (e.kind === 'pod' && !ipBlockSeesPods)) continue;
          if (ipIn(ip, peer.ipBlock.cidr) && !(peer.ipBlock.except ?? []).some((x) => ipIn(ip, x))) out.add(e);
        } else if (e.kind === 'pod') {
          const nsOk = peer.namespaceSelector
            ? labelsOk(peer.namespaceSelector, e.namespaceLabels!)
            : e.namespace === polNs;
          if (nsOk && labelsOk(peer.podSelector, e.labels)) out.add(e);
        }
      }
    return out;
  };
  const admitted = (ports: PortJson[] | null | undefined): Set<string> => {
    const out = new Set<string>();
    for (const pr of PROTOS)
      for (const n of PORTS) {
        if (!ports || !ports.length) {
          out.add(`${pr}/${n}`);
          continue;
        }
        for (const p of ports) {
          if ((p.protocol ?? 'TCP') !== pr) continue;
          const nums =
            p.port === undefined
              ? PORTS
              : typeof p.port === 'number'
                ? PORTS.filter((x) => x >= (p.port as number) && x <= (p.endPort ?? (p.port as number)))
                : dst.kind === 'pod'
                  ? dst.containerPorts
                      .filter((c) => c.name === p.port && (c.protocol ?? 'TCP') === pr)
                      .map((c) => c.port)
                  : [];
          if (nums.includes(n)) out.add(`${pr}/${n}`);
        }
      }
    return out;
  };
  const side = (dir: 'Ingress' | 'Egress', subj: Endpoint, peer: Endpoint): boolean => {
    if (subj.kind !== 'pod') return true;
    const types = (p: NetworkPolicyJson) =>
      p.spec.policyTypes?.length ? p.spec.policyTypes : p.spec.egress?.length ? ['Ingress', 'Egress'] : ['Ingress'];
    const mine = pols.filter(
      (p) =>
        p.metadata.namespace === subj.namespace && types(p).includes(dir) && labelsOk(p.spec.podSelector, subj.labels),
    );
    if (!mine.length) return true;
    return mine.some((p) =>
      (dir === 'Ingress' ? (p.spec.ingress ?? []) : (p.spec.egress ?? [])).some(
        (r) =>
          selected(
            dir === 'Ingress' ? (r as { from?: PeerJson[] }).from : (r as { to?: PeerJson[] }).to,
            p.metadata.namespace,
          ).has(peer) && admitted(r.ports).has(`${proto}/${port}`),
      ),
    );
  };
  return side('Egress', src, dst) && side('Ingress', dst, src);
}

test('property: the evaluator agrees with the brute-force model on every decided case, and is undecidable exactly where CNIs may differ', () => {
  let decided = 0,
    undecided = 0;
  fc.assert(
    fc.property(
      fc.array(arbPolicy, { maxLength: 4 }),
      fc.array(arbPod, { minLength: 2, maxLength: 4 }),
      fc.nat(),
      fc.nat(),
      fc.constantFrom(...PROTOS),
      fc.constantFrom(...PORTS),
      (rawPols, rawPods, si, di, proto, port) => {
        const pods: PodEndpoint[] = rawPods.map((p, i) => ({
          kind: 'pod',
          namespace: p.ns,
          name: `pod${i}`,
          labels: p.labels,
          namespaceLabels: nsLabels(p.ns, p.nsTeam ? { team: p.nsTeam } : {}),
          hostNetwork: false,
          containerPorts: [
            { name: 'http', port: p.http, protocol: 'TCP' },
            { name: 'dns', port: 53, protocol: p.dnsProto },
          ],
          ips: [`10.244.0.${p.host * 8 + i}`],
        }));
        // namespace labels are per namespace, not per pod: the first pod of a namespace decides them
        for (const p of pods) p.namespaceLabels = pods.find((q) => q.namespace === p.namespace)!.namespaceLabels;
        const u: Universe = {
          pods,
          externals: [
            { kind: 'ip', ip: '203.0.113.5', scope: 'external' },
            { kind: 'ip', ip: '198.51.100.1', scope: 'external' },
          ],
        };
        const everyone = [...u.pods, ...u.externals];
        const src = everyone[si % everyone.length],
          dst = pods[di % pods.length];
        if (src === dst) return;
        const pols = toPolicies(rawPols);
        const a = model2(u, pols, src, dst, proto, port, true),
          b = model2(u, pols, src, dst, proto, port, false);
        const r = evaluateFlow({ src, dst, protocol: proto, port, policies: pols });
        const ctx = JSON.stringify({ src, dst, proto, port, pols, r });
        if (a === b) {
          decided++;
          assert.is(r.verdict, a ? 'allowed' : 'denied', ctx);
        } else {
          undecided++;
          assert.is(r.verdict, 'undecidable', ctx);
        }
      },
    ),
    {
      numRuns: Number(process.env.NODEWARDEN_FUZZ_RUNS ?? 3000),
      ...(process.env.NODEWARDEN_FUZZ_SEED ? { seed: Number(process.env.NODEWARDEN_FUZZ_SEED) } : {}),
    },
  );
  console.log(`    property: ${decided} decided, ${undecided} undecidable cases checked`);
  assert.ok(decided > 1000 && undecided >= 3, `${decided}/${undecided}: the generator must exercise both`);
});

test.run();
