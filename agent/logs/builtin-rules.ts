// Built-in container-log signatures (kinds: docs/architecture.md#finding-kinds). A user rule with the same name
// replaces
// one; `{name: …, enabled: false}` switches it off. OOMKilled comes from kernel lines (oom.ts).
import type { RuleSpec } from './rules.js';

export const BUILTIN_RULES: RuleSpec[] = [
  {
    // etcd's own log with --logger=zap (3.4+): {"level":"warn",…,"msg":"alarm raised","alarm":"NOSPACE","from":"…"}
    name: 'etcd-nospace-alarm',
    kind: 'EtcdNoSpace',
    severity: 'critical',
    pattern: '"msg":"alarm raised".*?"alarm":"NOSPACE"',
    literals: ['"alarm":"NOSPACE"'],
    message: 'etcd raised the NOSPACE alarm: its database reached the backend quota and it refuses writes',
    dedupWindow: '10m',
  },
  {
    // The same with the old capnslog logger: "W | etcdserver: alarm NOSPACE raised by peer 2e1259d415f2a040"
    name: 'etcd-nospace-alarm-capnslog',
    kind: 'EtcdNoSpace',
    severity: 'critical',
    pattern: 'alarm NOSPACE raised by peer ([0-9a-f]+)',
    message:
      'etcd raised the NOSPACE alarm (by member {1}): its database reached the backend quota and it refuses writes',
    dedupWindow: '10m',
  },
  {
    // etcd's own words when a write is refused under the alarm, as zap's "error" field:
    // {"level":"warn",…,"msg":"failed to apply request",…,"error":"etcdserver: no space"} (k3s-io/k3s#4787).
    name: 'etcd-no-space',
    kind: 'EtcdNoSpace',
    severity: 'critical',
    pattern: 'etcdserver: no space',
    message: 'etcd refuses writes (seen by {container}): etcdserver: no space — the NOSPACE alarm is raised',
    dedupWindow: '10m',
  },
  {
    // A member alarm as etcd and cluster tools print it: `memberID:13803658152347727308 alarm:NOSPACE`
    // (etcdctl alarm list, etcd's "serving /health false due to an alarm", operators' logrus msg="…").
    name: 'etcd-member-alarm-nospace',
    kind: 'EtcdNoSpace',
    severity: 'critical',
    pattern: '(?:memberID:(?<member>[0-9a-fx]+) )?alarm:NOSPACE',
    literals: ['alarm:NOSPACE'],
    message: 'etcd reports "{0}" (seen by {container}): its database reached the backend quota and it refuses writes',
    dedupWindow: '10m',
  },
  {
    // Clients (kube-apiserver, etcdctl): "etcdserver: mvcc: database space exceeded". etcd itself never logs it.
    name: 'etcd-database-space-exceeded',
    kind: 'EtcdNoSpace',
    severity: 'critical',
    pattern: 'mvcc: database space exceeded',
    message: 'Writes from {container} to etcd fail: mvcc: database space exceeded',
    dedupWindow: '10m',
  },
  {
    // client-go's error for a 429: "the server has received too many requests and has asked us to try again later"
    name: 'apiserver-too-many-requests',
    kind: 'APIServerThrottling',
    severity: 'warning',
    pattern: 'the server has received too many requests',
    message: 'The API server answers {container} with 429: the server has received too many requests',
  },
  {
    // kube-apiserver's request log (k8s.io/apiserver httplog.go, klog text): `"HTTP" verb="LIST"
    // URI="/api/v1/pods" latency="…" userAgent="…" audit-ID="…" srcIP="10.0.0.1:52472" resp=429`.
    // The user agent names the client that was throttled: the hot-looping controller of the incident.
    name: 'apiserver-request-log-429',
    kind: 'APIServerThrottling',
    severity: 'warning',
    pattern:
      '"HTTP" verb="(?<verb>[A-Z]+)" URI="(?<uri>[^"]*)".*? userAgent="(?<userAgent>(?:[^"\\\\]|\\\\.)*)".*? srcIP="(?<srcIP>[^"]*)".*? resp=429\\b',
    literals: ['429'], // the generic 429 rule's literal: no new alternative in the pre-filter scan
    message: 'The API server answered {userAgent} with 429 ({verb} {uri}): requests are being throttled',
  },
  {
    // The same with --logging-format=json: {…,"msg":"HTTP","verb":"LIST","URI":"…","userAgent":"…",…,"resp":429}
    name: 'apiserver-request-log-429-json',
    kind: 'APIServerThrottling',
    severity: 'warning',
    pattern:
      '"msg":"HTTP".*?"verb":"(?<verb>[A-Z]+)","URI":"(?<uri>[^"]*)".*?"userAgent":"(?<userAgent>(?:[^"\\\\]|\\\\.)*)".*?"resp":429\\b',
    literals: ['429'],
    message: 'The API server answered {userAgent} with 429 ({verb} {uri}): requests are being throttled',
  },
  {
    // The older request log (wrap.go / handlers.go, before 1.19): `GET /api/v1/endpoints?…: (504µs) 429
    // [[kube-proxy/v2.11.19 (linux/amd64) kubernetes/1e57adb] 192.255.189.109:52472]` (kubernetes#71454).
    name: 'apiserver-request-log-429-legacy',
    kind: 'APIServerThrottling',
    severity: 'warning',
    pattern:
      '(?<verb>GET|LIST|WATCH|POST|PUT|PATCH|DELETE) (?<uri>\\S+): \\([^)]*\\) 429 \\[\\[(?<userAgent>[^\\]]*)\\] (?<srcIP>[^\\]\\s]+)\\]',
    literals: ['429'],
    message: 'The API server answered {userAgent} with 429 ({verb} {uri}): requests are being throttled',
  },
  {
    // HTTP status text in request logs ("429 Too Many Requests") and in other clients' errors.
    name: 'http-too-many-requests',
    kind: 'APIServerThrottling',
    severity: 'warning',
    pattern: '[Tt]oo [Mm]any [Rr]equests',
    literals: ['Too many requests', 'Too Many Requests', 'too many requests', 'too Many Requests'],
    message: '{container} logged "{0}": requests are being throttled (HTTP 429)',
  },
  {
    // A bare status code: kube-apiserver's httplog `resp=429`, JSON `"status":429` / `"code":429`.
    // Web access logs (`"GET / HTTP/1.1" 429`) are left out: there a 429 is usually the app's own limiter.
    name: 'http-status-429',
    kind: 'APIServerThrottling',
    severity: 'warning',
    pattern: '\\b(?:resp|response|status|statusCode|status_code|code)"?\\s?[=:]\\s?"?429\\b',
    literals: ['429'],
    message: '{container} logged HTTP status 429: requests are being throttled',
  },
  {
    // client-go's client-side limiter giving up: "rate: Wait(n=1) would exceed context deadline"
    name: 'client-rate-limiter-deadline',
    kind: 'APIServerThrottling',
    severity: 'warning',
    pattern: 'rate: Wait\\(n=\\d+\\) would exceed context deadline',
    literals: ['would exceed context deadline'],
    message: "{container}'s API client is throttled: rate: Wait would exceed context deadline",
  },
  {
    // kube-apiserver / controllers: `failed calling webhook "validate.example.com": failed to call webhook: …`
    // (inside JSON logs the quotes arrive escaped as \").
    name: 'webhook-call-failed',
    kind: 'WebhookCallFailed',
    severity: 'warning',
    pattern: 'failed calling webhook \\\\?"([^"\\\\]+)\\\\?"',
    literals: ['failed calling webhook'],
    message: 'Calls to admission webhook "{1}" fail (seen by {container} in {namespace}/{pod})',
  },
];
