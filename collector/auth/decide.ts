// Who a connecting agent is and what it may do: the pure part of the auth callout. The server's
// authorization request and the API server's TokenReview answer go in; the claims of a NATS user
// limited to that one node come out, or a refusal with a short reason. No I/O, no clock of its own.
import { agentInboxPrefix, nodeToken, SUBJECT_ROOT } from '../../common/subjects.js';
import { isPublicKey, type JwtClaims } from './jwt.js';

/** What the callout needs from nats-server's authorization request. */
export interface AuthRequest {
  /** The user key the server generated for this connection; the answer must name it. */
  userNkey: string;
  /** The server's public key; the answer's audience. */
  serverId: string;
  /** The client's CONNECT `auth_token`: the agent's projected ServiceAccount token. */
  token?: string;
  client: { host?: string; name?: string };
}

/** The parts of an authentication.k8s.io/v1 TokenReview status we use. */
export interface TokenReviewStatus {
  authenticated?: boolean;
  user?: { username?: string; uid?: string; extra?: Record<string, string[] | undefined> };
  audiences?: string[];
  error?: string;
}

export interface DecideConfig {
  /** "namespace:name" of the ServiceAccount agents run as. */
  serviceAccount: string;
  /** The audience agent tokens are issued for (and the TokenReview asks for). */
  audience: string;
  /** The NATS account agents are placed in (the user claims' `aud`, non-operator mode). */
  account: string;
  /** Upper bound of a user's lifetime, whatever the token says. */
  maxTtlSec: number;
}

export interface Refusal {
  ok: false;
  reason: string;
  detail: string;
}
export interface Grant {
  ok: true;
  node: string;
  expiresAt: number;
  user: JwtClaims;
}

/** Set by the API server for tokens bound to a pod that is scheduled on a node (Kubernetes >= 1.30). */
export const NODE_NAME_EXTRA = 'authentication.kubernetes.io/node-name';
export const REQUEST_AUDIENCE = 'nats-authorization-request';
/** Limits of an agent user: it needs one inbox subscription; the server's max_payload still applies. */
const AGENT_MAX_SUBS = 16;

const refuse = (reason: string, detail: string): Refusal => ({ ok: false, reason, detail });
const obj = (v: unknown): Record<string, unknown> =>
  v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};

/** Checks the server's request claims (already signature-checked) and picks out what matters. */
export function readAuthRequest(claims: JwtClaims, nowSec: number): ({ ok: true } & AuthRequest) | Refusal {
  const nats = obj(claims.nats);
  if (nats.type !== 'authorization_request') return refuse('not_a_request', `claim type ${JSON.stringify(nats.type)}`);
  if (claims.aud !== REQUEST_AUDIENCE) return refuse('not_a_request', `audience ${JSON.stringify(claims.aud)}`);
  if (typeof claims.exp === 'number' && claims.exp < nowSec)
    return refuse('request_expired', `expired at ${claims.exp}`);
  if (!isPublicKey(nats.user_nkey, 'user')) return refuse('malformed_request', 'user_nkey is not a user public key');
  const server = obj(nats.server_id);
  if (!isPublicKey(server.id, 'server')) return refuse('malformed_request', 'server_id.id is not a server public key');
  const opts = obj(nats.connect_opts),
    info = obj(nats.client_info);
  const token = typeof opts.auth_token === 'string' && opts.auth_token.length > 0 ? opts.auth_token : undefined;
  // Signed by the server's own key: a request naming another server is not from the one we answer.
  if (claims.iss !== server.id) return refuse('malformed_request', 'issuer is not the requesting server');
  return {
    ok: true,
    userNkey: nats.user_nkey,
    serverId: server.id,
    token,
    client: {
      host: typeof info.host === 'string' ? info.host : undefined,
      name: typeof info.name === 'string' ? info.name : undefined,
    },
  };
}

/**
 * The token's own `exp`, read without verifying: only used after the API server has authenticated
 * the token, to make the NATS user expire no later than the token does.
 */
export function tokenExpiry(token: string): number | undefined {
  const payload = token.split('.')[1];
  if (!payload) return undefined;
  try {
    const exp = (JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { exp?: unknown }).exp;
    return typeof exp === 'number' && Number.isFinite(exp) ? exp : undefined;
  } catch {
    return undefined;
  }
}

/** The decision: a user for exactly one node, or why not. */
export function decide(
  req: AuthRequest,
  review: TokenReviewStatus,
  tokenExp: number | undefined,
  cfg: DecideConfig,
  nowSec: number,
): Grant | Refusal {
  if (!req.token) return refuse('no_token', 'the client presented no token');
  if (review.authenticated !== true) return refuse('token_rejected', review.error || 'not authenticated');
  if (!(review.audiences ?? []).includes(cfg.audience))
    return refuse('wrong_audience', `audiences ${JSON.stringify(review.audiences ?? [])}`);
  const [ns, name] = cfg.serviceAccount.split(':');
  const want = `system:serviceaccount:${ns}:${name}`;
  if (review.user?.username !== want)
    return refuse('wrong_service_account', `${review.user?.username ?? '(none)'} is not ${want}`);
  const nodes = review.user.extra?.[NODE_NAME_EXTRA] ?? [];
  if (nodes.length !== 1 || !/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(nodes[0])) {
    return refuse('no_node', `token is not bound to a pod on a node (${NODE_NAME_EXTRA}: ${JSON.stringify(nodes)})`);
  }
  const node = nodes[0];
  if (tokenExp === undefined) return refuse('no_expiry', 'token has no exp');
  const expiresAt = Math.min(tokenExp, nowSec + cfg.maxTtlSec);
  if (expiresAt <= nowSec) return refuse('token_expired', `expired at ${tokenExp}`);
  const tok = nodeToken(node);
  return {
    ok: true,
    node,
    expiresAt,
    user: {
      sub: req.userNkey,
      aud: cfg.account,
      // Shown by the server (logs, monitoring) as the connection's user.
      name: `agent:${node}`,
      iat: nowSec,
      exp: expiresAt,
      nats: {
        type: 'user',
        version: 2,
        pub: { allow: [`${SUBJECT_ROOT}.${tok}.>`] },
        sub: { allow: [`${agentInboxPrefix(node)}.>`] },
        subs: AGENT_MAX_SUBS,
        data: -1,
        payload: -1,
        allowed_connection_types: ['STANDARD'],
      },
    },
  };
}

/** The callout's answer, to be signed by the issuer: a user JWT or an error, for this server and connection. */
export function responseClaims(
  req: Pick<AuthRequest, 'userNkey' | 'serverId'>,
  answer: { jwt: string } | { error: string },
  nowSec: number,
): JwtClaims {
  return {
    sub: req.userNkey,
    aud: req.serverId,
    iat: nowSec,
    // The server drops an answer after its auth timeout anyway; a short exp keeps one from being replayed later.
    exp: nowSec + 60,
    nats: { type: 'authorization_response', version: 2, ...answer },
  };
}
