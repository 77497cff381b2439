// Pure: the error the kubelet got when it created a mirror pod -> the likely cause in a few words.
// The patterns are the API server's own wording (apiserver/pkg/admission, pod-security-admission,
// the webhook and CEL admission plugins, the quota and namespace lifecycle plugins) and Go's net errors.

export interface MirrorCause {
  /** Short tag for evidence and filters. */
  kind:
    | 'PodSecurity'
    | 'PodSecurityPolicy'
    | 'AdmissionWebhook'
    | 'AdmissionPolicy'
    | 'ResourceQuota'
    | 'NamespaceMissing'
    | 'NodeNotRegistered'
    | 'Forbidden'
    | 'Unauthorized'
    | 'APIUnreachable'
    | 'APIOverloaded'
    | 'NameTaken'
    | 'Rejected';
  /** One sentence for the finding's message. */
  summary: string;
}

const RULES: { re: RegExp; cause: (m: RegExpExecArray) => MirrorCause }[] = [
  {
    re: /violates PodSecurity "([^"]+)"(?::\s*(.*))?/,
    cause: (m) => ({
      kind: 'PodSecurity',
      summary: `Pod Security admission rejects it: the namespace enforces "${m[1]}"${m[2] ? ` (${m[2]})` : ''}`,
    }),
  },
  {
    re: /unable to validate against any pod security policy|no providers available to validate pod request/,
    cause: () => ({
      kind: 'PodSecurityPolicy',
      summary: 'a PodSecurityPolicy rejects it (no policy the kubelet may use allows this pod)',
    }),
  },
  {
    re: /admission webhook "([^"]+)" denied the request/,
    cause: (m) => ({ kind: 'AdmissionWebhook', summary: `admission webhook "${m[1]}" denies it` }),
  },
  {
    re: /failed calling webhook "([^"]+)"/,
    cause: (m) => ({
      kind: 'AdmissionWebhook',
      summary: `admission webhook "${m[1]}" cannot be called and fails closed`,
    }),
  },
  {
    re: /ValidatingAdmissionPolicy '([^']+)'(?: with binding '([^']+)')? denied request/,
    cause: (m) => ({
      kind: 'AdmissionPolicy',
      summary: `ValidatingAdmissionPolicy "${m[1]}"${m[2] ? ` (binding "${m[2]}")` : ''} denies it`,
    }),
  },
  {
    re: /exceeded quota: ([^,\s]+)/,
    cause: (m) => ({ kind: 'ResourceQuota', summary: `ResourceQuota "${m[1]}" is exhausted` }),
  },
  {
    re: /namespaces "([^"]+)" not found|unable to create new content in namespace (\S+) because it is being terminated/,
    cause: (m) => ({
      kind: 'NamespaceMissing',
      summary: `namespace "${m[1] ?? m[2]}" does not exist (or is being deleted)`,
    }),
  },
  {
    re: /nodes? "([^"]+)" not found|failed to get node UID/,
    cause: (m) => ({
      kind: 'NodeNotRegistered',
      summary: `the kubelet's Node${m[1] ? ` "${m[1]}"` : ''} is not registered in the API (mirror pods are owned by it)`,
    }),
  },
  {
    re: /\bUnauthorized\b/,
    cause: () => ({
      kind: 'Unauthorized',
      summary: "the API server does not accept the kubelet's credentials (expired or revoked certificate?)",
    }),
  },
  {
    re: /cannot create resource "pods"|is forbidden: node "[^"]+" can only/,
    cause: () => ({
      kind: 'Forbidden',
      summary: 'the kubelet is not allowed to create this pod (authorization or NodeRestriction)',
    }),
  },
  {
    re: /already exists/,
    cause: () => ({
      kind: 'NameTaken',
      summary: "a pod of that name that is not this static pod's mirror already exists",
    }),
  },
  {
    re: /Too Many Requests|rate limit|the server was unable to return a response in the time allotted|storage is \(re\)initializing/i,
    cause: () => ({ kind: 'APIOverloaded', summary: 'the API server is overloaded or throttling the kubelet' }),
  },
  {
    re: /connection refused|no route to host|i\/o timeout|no such host|connection reset|TLS handshake timeout|context deadline exceeded|Client\.Timeout exceeded|EOF$|http2: client connection lost/,
    cause: () => ({ kind: 'APIUnreachable', summary: 'the kubelet cannot reach the API server' }),
  },
];

export function mirrorCause(error: string): MirrorCause {
  for (const r of RULES) {
    const m = r.re.exec(error);
    if (m) return r.cause(m);
  }
  return { kind: 'Rejected', summary: 'the API server rejects the mirror pod' };
}
