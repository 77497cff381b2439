// OpenAPI 3 description of the collector's HTTP API (docs/architecture.md#api), served at /openapi.json.
import { VERSION } from '../../common/version.js';
import { LISTS, MAX_LIMIT, type ListPath } from './lists.js';
import { explainOpenApiPaths, explanationSchema } from '../explain/openapi.js';
import { WATCH_PARAMS } from './watch.js';

const str = { type: 'string' } as const;
const int = { type: 'integer' } as const;
const podRef = { type: 'object', required: ['namespace', 'name'], properties: { namespace: str, name: str, uid: str } };
const endpoint = {
  type: 'object',
  required: ['ip'],
  properties: {
    ip: str,
    port: int,
    pod: podRef,
    node: { ...str, description: 'node name when the IP is a node address' },
  },
};
const probe = {
  type: 'object',
  required: ['name', 'ok', 'detail'],
  properties: { name: str, ok: { type: 'boolean' }, detail: str },
};
const error = { type: 'object', required: ['error'], properties: { error: str } };
const errors = {
  '400': { description: 'bad query', content: { 'application/json': { schema: error } } },
  '401': {
    description: 'missing or wrong bearer token (when --api-token is set)',
    content: { 'application/json': { schema: error } },
  },
  '503': {
    description:
      'busy: the answers still being sent already hold the response budget; retry after Retry-After seconds or ask for a smaller limit',
    headers: { 'Retry-After': { schema: int } },
    content: { 'application/json': { schema: error } },
  },
};
const staleHeader = {
  'X-Nodewarden-Stale': {
    description: 'present (with the reason) while the collector is not caught up with the stream',
    schema: str,
  },
};

/** Query parameters from the one schema the server validates with (lists.ts). */
const params = (path: ListPath) =>
  Object.entries(LISTS[path].params).map(([name, p]) => ({
    name,
    in: 'query',
    required: false,
    description: p.description,
    schema:
      p.type === 'int'
        ? { type: 'integer', minimum: 1, maximum: MAX_LIMIT }
        : p.type === 'bool'
          ? { type: 'boolean' }
          : str,
  }));

/**
 * Every list answer: a page of items, how many matched, whether some were left out, and whether the
 * store may be incomplete (stale, 200 all the same: replaying the stream or cut off from NATS).
 */
const listOf = (path: ListPath, item: object) => ({
  summary: LISTS[path].summary,
  parameters: params(path),
  responses: {
    '200': {
      description: `${LISTS[path].summary}; stale answers still 200`,
      headers: staleHeader,
      content: {
        'application/json': {
          schema: {
            type: 'object',
            required: ['items', 'total', 'truncated', 'stale'],
            properties: {
              items: { type: 'array', items: item },
              total: { ...int, description: 'items matching the query' },
              truncated: { type: 'boolean', description: 'total > items.length (raise limit or filter)' },
              stale: {
                type: 'boolean',
                description:
                  'true while the collector is replaying the stream or not connected to NATS: the answer may be incomplete',
              },
              staleReason: { ...str, description: 'why, when stale' },
            },
          },
        },
      },
    },
    ...errors,
  },
});

export const openapi = {
  openapi: '3.0.3',
  info: { title: 'nodewarden collector API', version: VERSION },
  paths: {
    '/api/v1/drops': {
      get: listOf('/api/v1/drops', {
        type: 'object',
        required: ['node', 'prefix', 'proto', 'src', 'dst', 'count', 'firstSeen', 'lastSeen'],
        properties: {
          node: str,
          prefix: str,
          proto: str,
          src: endpoint,
          dst: endpoint,
          count: int,
          firstSeen: { type: 'string', format: 'date-time' },
          lastSeen: { type: 'string', format: 'date-time' },
          in: str,
          out: str,
          icmpType: int,
          icmpCode: int,
          sample: str,
          explanation: {
            ...explanationSchema,
            description:
              'which NetworkPolicies isolate each side and which rule admits the flow or nearly does, from the policy state at query time; absent for ICMP and other protocols without a port, without a cluster, and until the policy caches are synced',
          },
        },
      }),
    },
    '/api/v1/findings': {
      get: listOf('/api/v1/findings', {
        type: 'object',
        required: ['node', 'kind', 'severity', 'message', 'active', 'firstSeen', 'lastSeen'],
        properties: {
          node: str,
          kind: str,
          severity: { type: 'string', enum: ['warning', 'critical', 'info'] },
          message: str,
          active: { type: 'boolean' },
          firstSeen: str,
          lastSeen: str,
          key: {
            type: 'string',
            description:
              'tells findings of one kind on one node apart (node, kind and key identify a finding); absent when a kind has one finding per node',
          },
          pod: { type: 'object', properties: { namespace: str, name: str, uid: str, container: str } },
          evidence: { type: 'object', additionalProperties: str },
        },
      }),
    },
    '/api/v1/nodes': {
      get: listOf('/api/v1/nodes', {
        type: 'object',
        required: ['node', 'agentVersion', 'lastSeen', 'healthy', 'stale', 'state', 'activeFindings'],
        properties: {
          node: str,
          agentVersion: str,
          lastSeen: str,
          healthy: { type: 'boolean', description: 'heard from within --node-stale and no active critical finding' },
          stale: { type: 'boolean', description: 'the agent has been silent longer than --node-stale' },
          state: { type: 'string', enum: ['healthy', 'unhealthy', 'stale'], description: 'stale wins over unhealthy' },
          activeFindings: int,
          agentStarted: str,
          probes: { type: 'array', description: 'sources and probes that cannot run on this host', items: probe },
          nats: {
            type: 'object',
            required: ['ok', 'detail'],
            description: "the agent's own NATS probe, when its heartbeat carries one",
            properties: { ok: { type: 'boolean' }, detail: str },
          },
        },
      }),
    },
    '/api/v1/version': {
      get: {
        summary: "The collector's version and the git revision it was built from (nodewarden version)",
        responses: {
          '200': {
            description: 'version and revision',
            content: {
              'application/json': {
                schema: {
                  type: 'object',
                  required: ['version', 'revision'],
                  properties: { version: str, revision: str },
                },
              },
            },
          },
          '401': errors['401'],
        },
      },
    },
    '/api/v1/nodes/{node}/runtime': {
      get: {
        summary: "The node's pods and containers as its container runtime sees them (a remote crictl pods + crictl ps)",
        parameters: [{ name: 'node', in: 'path', required: true, schema: str }],
        responses: {
          '200': {
            description: 'runtime view',
            headers: staleHeader,
            content: {
              'application/json': {
                schema: {
                  type: 'object',
                  required: ['node', 'pods', 'containers'],
                  properties: {
                    node: str,
                    runtime: { type: 'object', additionalProperties: true },
                    observedAt: str,
                    receivedAt: str,
                    stale: { type: 'boolean' },
                    conditions: {
                      type: 'array',
                      description: 'CRI Status conditions (crictl info)',
                      items: {
                        type: 'object',
                        required: ['type', 'status'],
                        properties: { type: str, status: { type: 'boolean' }, reason: str, message: str },
                      },
                    },
                    pods: { type: 'array', items: { type: 'object', additionalProperties: true } },
                    containers: { type: 'array', items: { type: 'object', additionalProperties: true } },
                  },
                },
              },
            },
          },
          '404': {
            description: 'no runtime view for this node (unknown node, or its agent cannot read the runtime)',
            content: { 'application/json': { schema: error } },
          },
          ...errors,
        },
      },
    },
    '/api/v1/watch': {
      get: {
        summary:
          'The items of /api/v1/drops, /findings and /nodes as Server-Sent Events: the current state, then `synced`, then each changed item again (at most about twice a second per item)',
        parameters: Object.entries(WATCH_PARAMS).map(([name, p]) => ({
          name,
          in: 'query',
          required: false,
          description: p.description,
          schema: p.type === 'int' ? { type: 'integer', minimum: 1, maximum: MAX_LIMIT } : str,
        })),
        responses: {
          '200': {
            description:
              'text/event-stream; events `drop`, `finding`, `node` (data: one list item as JSON), `synced` (data: {at, stale, staleReason}); `: keepalive` comments every 15 s',
            content: { 'text/event-stream': { schema: str } },
          },
          ...errors,
          '503': {
            description: 'too many watchers at once; retry after Retry-After seconds',
            headers: { 'Retry-After': { schema: int } },
            content: { 'application/json': { schema: error } },
          },
        },
      },
    },
    ...explainOpenApiPaths,
    '/healthz': { get: { summary: 'process is alive', responses: { '200': { description: 'ok' } } } },
    '/readyz': {
      get: {
        summary:
          'attached to NATS, caught up with the stream replay and, with a cluster, pod, NetworkPolicy and Namespace caches synced',
        responses: {
          '200': { description: 'ready' },
          '503': {
            description:
              'not ready: the body names the reason (NATS consumer not attached, NATS connection lost, replaying the stream, pod cache not synced, NetworkPolicy/Namespace caches not synced)',
          },
        },
      },
    },
    '/metrics': {
      get: { summary: 'Prometheus metrics', responses: { '200': { description: 'text exposition format' } } },
    },
  },
  components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
};
