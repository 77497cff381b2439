// The OpenAPI path of GET /api/v1/explain and the explanation schema, merged into
// collector/api/openapi.ts (kept here so the contract lives next to the code that serves it).
const str = { type: 'string' } as const;
const ref = {
  type: 'object',
  required: ['policy', 'rule'],
  properties: {
    policy: { ...str, description: 'namespace/name' },
    rule: { type: 'integer', description: "index in the policy's ingress or egress list" },
  },
};
const error = { type: 'object', required: ['error'], properties: { error: str } };
const param = (name: string, description: string, required: boolean, schema: object = str) => ({
  name,
  in: 'query',
  required,
  description,
  schema,
});

/** One explanation: the answer of GET /api/v1/explain and the `explanation` of a flow in /api/v1/drops. */
export const explanationSchema = {
  type: 'object',
  required: ['verdict', 'summary', 'policyState', 'sides'],
  properties: {
    verdict: { type: 'string', enum: ['denied', 'allowed', 'undecidable'] },
    summary: str,
    fix: str,
    policyState: {
      type: 'object',
      required: ['at', 'resourceVersion'],
      properties: {
        at: { ...str, format: 'date-time', description: 'when the policies last changed' },
        resourceVersion: str,
      },
    },
    notEvaluated: {
      type: 'array',
      items: str,
      description: 'served policy kinds this version does not evaluate (AdminNetworkPolicy, Calico, Cilium ...)',
    },
    sides: {
      type: 'array',
      items: {
        type: 'object',
        required: ['direction', 'verdict', 'isolatedBy'],
        properties: {
          direction: { type: 'string', enum: ['egress', 'ingress'] },
          pod: { type: 'object', required: ['namespace', 'name'], properties: { namespace: str, name: str } },
          verdict: { type: 'string', enum: ['not-isolated', 'allows', 'denies', 'undecidable'] },
          isolatedBy: { type: 'array', items: str },
          allowedBy: ref,
          nearestMiss: { ...ref, required: ['policy', 'rule', 'why'], properties: { ...ref.properties, why: str } },
          reason: str,
        },
      },
    },
  },
};

export const explainOpenApiPaths = {
  '/api/v1/explain': {
    get: {
      summary:
        'Which NetworkPolicies isolate each side of a flow, and which rule admits it or nearly does (both directions, egress first)',
      parameters: [
        param('from', 'source: an IP, or namespace/pod', true),
        param('to', 'destination: an IP, or namespace/pod', true),
        param('port', 'destination port after DNAT (the pod port)', true, {
          type: 'integer',
          minimum: 1,
          maximum: 65535,
        }),
        param('proto', 'TCP (default), UDP or SCTP', false, { type: 'string', enum: ['TCP', 'UDP', 'SCTP'] }),
      ],
      responses: {
        '200': { description: 'explanation', content: { 'application/json': { schema: explanationSchema } } },
        '400': {
          description: 'bad query (missing from/to/port, not an IP or namespace/pod, protocol other than TCP/UDP/SCTP)',
          content: { 'application/json': { schema: error } },
        },
        '404': {
          description:
            'no such pod, the NetworkPolicy/Namespace caches are not synced yet, or the collector runs without a cluster (no policies known)',
          content: { 'application/json': { schema: error } },
        },
      },
    },
  },
};
