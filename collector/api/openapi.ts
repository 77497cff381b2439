// OpenAPI 3 description of the collector's HTTP API (DESIGN.md 3.2), served at /openapi.json.
import { VERSION } from '../../common/version.js';

const str = { type: 'string' } as const;
const int = { type: 'integer' } as const;
const podRef = { type: 'object', required: ['namespace', 'name'], properties: { namespace: str, name: str, uid: str } };
const endpoint = { type: 'object', required: ['ip'], properties: { ip: str, port: int, pod: podRef, node: { ...str, description: 'node name when the IP is a node address' } } };
const error = { type: 'object', required: ['error'], properties: { error: str } };
const q = (name: string, description: string, schema: object = str) => ({ name, in: 'query', required: false, description, schema });
const errors = { '400': { description: 'bad query', content: { 'application/json': { schema: error } } }, '401': { description: 'missing or wrong bearer token (when --api-token is set)', content: { 'application/json': { schema: error } } } };

export const openapi = {
  openapi: '3.0.3',
  info: { title: 'nodewarden collector API', version: VERSION },
  paths: {
    '/api/v1/drops': {
      get: {
        summary: 'Dropped packet flows, newest lastSeen first',
        parameters: [
          q('namespace', 'pods in this namespace, on either side'),
          q('pod', 'pods with this name, on either side'),
          q('node', 'node that saw the drop'),
          q('since', 'only flows last seen within this duration (e.g. 15m, 2h)'),
          q('limit', 'maximum items (default 100, max 10000)', { type: 'integer', minimum: 1, maximum: 10000 }),
        ],
        responses: {
          '200': { description: 'flows', content: { 'application/json': { schema: { type: 'object', required: ['items', 'total', 'truncated'], properties: {
            items: { type: 'array', items: { type: 'object', required: ['node', 'prefix', 'proto', 'src', 'dst', 'count', 'firstSeen', 'lastSeen'], properties: {
              node: str, prefix: str, proto: str, src: endpoint, dst: endpoint, count: int, firstSeen: { type: 'string', format: 'date-time' }, lastSeen: { type: 'string', format: 'date-time' },
              in: str, out: str, icmpType: int, icmpCode: int, sample: str } } },
            total: int, truncated: { type: 'boolean' } } } } } },
          ...errors,
        },
      },
    },
    '/api/v1/findings': {
      get: {
        summary: 'Node and pod findings (active and recently cleared)',
        parameters: [q('node', 'node name'), q('kind', 'finding kind, e.g. IPForwardingDisabled'), q('active', 'true or false', { type: 'boolean' })],
        responses: {
          '200': { description: 'findings', content: { 'application/json': { schema: { type: 'object', required: ['items'], properties: { items: { type: 'array', items: { type: 'object', required: ['node', 'kind', 'severity', 'message', 'active', 'firstSeen', 'lastSeen'], properties: {
            node: str, kind: str, severity: { type: 'string', enum: ['warning', 'critical', 'info'] }, message: str, active: { type: 'boolean' }, firstSeen: str, lastSeen: str,
            pod: { type: 'object', properties: { namespace: str, name: str, uid: str, container: str } }, evidence: { type: 'object', additionalProperties: str } } } } } } } } },
          ...errors,
        },
      },
    },
    '/api/v1/nodes': {
      get: {
        summary: 'Nodes with an agent, their last contact and health',
        responses: {
          '200': { description: 'nodes', content: { 'application/json': { schema: { type: 'object', required: ['items'], properties: { items: { type: 'array', items: { type: 'object', required: ['node', 'agentVersion', 'lastSeen', 'healthy', 'activeFindings'], properties: {
            node: str, agentVersion: str, lastSeen: str, healthy: { type: 'boolean' }, activeFindings: int, agentStarted: str } } } } } } } },
          ...errors,
        },
      },
    },
    '/api/v1/nodes/{node}/runtime': {
      get: {
        summary: 'The node\'s pods and containers as its container runtime sees them (a remote crictl pods + crictl ps)',
        parameters: [{ name: 'node', in: 'path', required: true, schema: str }],
        responses: {
          '200': { description: 'runtime view', content: { 'application/json': { schema: { type: 'object', required: ['node', 'pods', 'containers'], properties: {
            node: str, runtime: { type: 'object', additionalProperties: true }, observedAt: str, receivedAt: str, stale: { type: 'boolean' },
            conditions: { type: 'array', description: 'CRI Status conditions (crictl info)', items: { type: 'object', required: ['type', 'status'], properties: { type: str, status: { type: 'boolean' }, reason: str, message: str } } },
            pods: { type: 'array', items: { type: 'object', additionalProperties: true } }, containers: { type: 'array', items: { type: 'object', additionalProperties: true } } } } } } },
          '404': { description: 'no runtime view for this node (unknown node, or its agent cannot read the runtime)', content: { 'application/json': { schema: error } } },
          ...errors,
        },
      },
    },
    '/healthz': { get: { summary: 'process is alive', responses: { '200': { description: 'ok' } } } },
    '/readyz': { get: { summary: 'NATS consumer attached and, if configured, pod cache synced', responses: { '200': { description: 'ready' }, '503': { description: 'not ready' } } } },
    '/metrics': { get: { summary: 'Prometheus metrics', responses: { '200': { description: 'text exposition format' } } } },
  },
  components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
};
