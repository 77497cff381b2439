// The pure parts of the auth callout: NATS JWT encoding/verification (real nkeys, no server) and the
// decision from an authorization request + a TokenReview status to a one-node user or a refusal.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createAccount, createServer, createUser, fromPublic } from '@nats-io/nkeys';
import { decodeJwt, encodeJwt, issuerFromSeed, JwtError, type JwtClaims } from '../collector/auth/jwt.js';
import {
  decide,
  readAuthRequest,
  responseClaims,
  tokenExpiry,
  NODE_NAME_EXTRA,
  type AuthRequest,
  type DecideConfig,
  type TokenReviewStatus,
} from '../collector/auth/decide.js';
import { agentInboxPrefix } from '../common/subjects.js';

const NOW = 1_800_000_000;
const cfg: DecideConfig = {
  serviceAccount: 'nodewarden:nodewarden-agent',
  audience: 'nodewarden',
  account: 'APP',
  maxTtlSec: 3600,
};
const server = createServer();
const userKey = createUser().getPublicKey();

function jwtError(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.instance(err, JwtError);
    return (err as JwtError).reason;
  }
  throw new Error('no JwtError thrown');
}
const saToken = (exp: number | undefined) =>
  `x.${Buffer.from(JSON.stringify({ exp, aud: ['nodewarden'] })).toString('base64url')}.sig`;
const request = (over: Partial<AuthRequest> = {}): AuthRequest => ({
  userNkey: userKey,
  serverId: server.getPublicKey(),
  token: saToken(NOW + 3000),
  client: {},
  ...over,
});
const review = (over: Partial<TokenReviewStatus> = {}, node: string[] = ['node-a']): TokenReviewStatus => ({
  authenticated: true,
  audiences: ['nodewarden'],
  user: { username: 'system:serviceaccount:nodewarden:nodewarden-agent', extra: { [NODE_NAME_EXTRA]: node } },
  ...over,
});
const requestClaims = (nats: Record<string, unknown> = {}, over: JwtClaims = {}): JwtClaims => ({
  aud: 'nats-authorization-request',
  sub: 'AXXX',
  exp: NOW + 2,
  nats: {
    type: 'authorization_request',
    version: 2,
    user_nkey: userKey,
    server_id: { id: server.getPublicKey(), name: 's' },
    connect_opts: { auth_token: 'tok', protocol: 1 },
    client_info: { host: '127.0.0.1', name: 'nodewarden-agent/node-a' },
    ...nats,
  },
  ...over,
});

test('a JWT signed with an nkey decodes with its claims; tampering, a wrong role and garbage are refused with a reason', () => {
  const acct = createAccount();
  const t = encodeJwt({ sub: userKey, aud: 'APP', nats: { type: 'user', version: 2 } }, acct, NOW * 1000);
  const [h, p, s] = t.split('.');
  assert.equal(JSON.parse(Buffer.from(h, 'base64url').toString()), { typ: 'JWT', alg: 'ed25519-nkey' });
  assert.not.match(t, /=/);
  const c = decodeJwt(t, 'account');
  assert.is(c.iss, acct.getPublicKey());
  assert.is(c.iat, NOW);
  assert.ok(typeof c.jti === 'string' && c.jti.length >= 16);
  const forged = Buffer.from(JSON.stringify({ ...c, aud: 'OTHER' })).toString('base64url');
  assert.is(
    jwtError(() => decodeJwt(`${h}.${forged}.${s}`, 'account')),
    'bad_signature',
  );
  assert.is(
    jwtError(() => decodeJwt(`${h}.${p}.${s.slice(0, 20)}`, 'account')),
    'bad_signature',
  );
  assert.is(
    jwtError(() => decodeJwt(t, 'server')),
    'bad_issuer',
  );
  const rs256 = Buffer.from(JSON.stringify({ typ: 'JWT', alg: 'RS256' })).toString('base64url');
  assert.is(
    jwtError(() => decodeJwt(`${rs256}.${p}.${s}`, 'account')),
    'bad_header',
  );
  for (const junk of ['', 'abc', 'a.b', 'a.b.c', '%%%.e30.x', 42, null])
    assert.ok(['malformed', 'bad_header'].includes(jwtError(() => decodeJwt(junk, 'account'))), String(junk));
  assert.is(
    jwtError(() => decodeJwt('a'.repeat(70_000), 'account')),
    'too_large',
  );
});

test('the issuer seed must be an account seed', () => {
  const acct = createAccount();
  const issuer = issuerFromSeed(new TextDecoder().decode(acct.getSeed()) + '\n');
  assert.is(issuer.getPublicKey(), acct.getPublicKey());
  // Node's ed25519 signs what the nkeys reference implementation verifies, and the other way round
  const data = new TextEncoder().encode('header.payload');
  assert.ok(fromPublic(acct.getPublicKey()).verify(data, issuer.sign(data)));
  assert.is(decodeJwt(encodeJwt({ sub: 'x' }, issuer), 'account').iss, acct.getPublicKey());
  assert.is(decodeJwt(encodeJwt({ sub: 'x' }, acct), 'account').iss, acct.getPublicKey());
  assert.is(
    jwtError(() => issuerFromSeed(new TextDecoder().decode(createUser().getSeed()))),
    'bad_seed',
  );
  assert.is(
    jwtError(() => issuerFromSeed('not a seed')),
    'bad_seed',
  );
});

test('an authorization request is read only when it is one, for this server, and not expired', () => {
  const signed = (c: JwtClaims) => decodeJwt(encodeJwt(c, server, NOW * 1000), 'server');
  const ok = readAuthRequest(signed(requestClaims()), NOW);
  assert.ok(ok.ok);
  if (ok.ok) {
    assert.is(ok.userNkey, userKey);
    assert.is(ok.token, 'tok');
    assert.equal(ok.client, { host: '127.0.0.1', name: 'nodewarden-agent/node-a' });
  }
  const noToken = readAuthRequest(signed(requestClaims({ connect_opts: { user: 'x', pass: 'y' } })), NOW);
  assert.ok(noToken.ok && noToken.token === undefined);
  const reason = (c: JwtClaims) => {
    const r = readAuthRequest(c, NOW);
    return r.ok ? 'ok' : r.reason;
  };
  assert.is(reason(signed(requestClaims({}, { aud: 'APP' }))), 'not_a_request');
  assert.is(reason(signed(requestClaims({ type: 'user' }))), 'not_a_request');
  assert.is(reason(signed(requestClaims({}, { exp: NOW - 1 }))), 'request_expired');
  assert.is(reason(signed(requestClaims({ user_nkey: 'UNOTAKEY' }))), 'malformed_request');
  assert.is(reason(signed(requestClaims({ server_id: { id: createServer().getPublicKey() } }))), 'malformed_request');
  assert.is(reason(signed(requestClaims({ server_id: 'x' }))), 'malformed_request');
  assert.is(reason({ nats: 5 }), 'not_a_request');
});

test('a pod-bound agent token becomes a user for its node only: its subjects, its inbox, nothing else', () => {
  const d = decide(request(), review(), NOW + 3000, cfg, NOW);
  assert.ok(d.ok);
  if (!d.ok) return;
  assert.is(d.node, 'node-a');
  assert.is(d.user.sub, userKey);
  assert.is(d.user.aud, 'APP');
  assert.is(d.user.exp, NOW + 3000);
  assert.equal(d.user.nats, {
    type: 'user',
    version: 2,
    pub: { allow: ['nodewarden.v1.node-a.>'] },
    sub: { allow: ['_INBOX_node-a.>'] },
    subs: 16,
    data: -1,
    payload: -1,
    allowed_connection_types: ['STANDARD'],
  });
  // a node name with dots maps to one subject token, the same the agent publishes on
  const dotted = decide(request(), review({}, ['ip-10-0-0-1.ec2.internal']), NOW + 3000, cfg, NOW);
  assert.ok(
    dotted.ok &&
      (dotted.user.nats as { pub: { allow: string[] } }).pub.allow[0] === 'nodewarden.v1.ip-10-0-0-1_ec2_internal.>',
  );
  assert.is(agentInboxPrefix('ip-10-0-0-1.ec2.internal'), '_INBOX_ip-10-0-0-1_ec2_internal');
});

test('the user never outlives the token nor --max-user-ttl', () => {
  const long = decide(request(), review(), NOW + 86_400, cfg, NOW);
  assert.ok(long.ok && long.expiresAt === NOW + 3600);
  const r = (exp: number | undefined) => {
    const d = decide(request(), review(), exp, cfg, NOW);
    return d.ok ? 'ok' : d.reason;
  };
  assert.is(r(NOW), 'token_expired');
  assert.is(r(undefined), 'no_expiry');
  assert.is(tokenExpiry(saToken(NOW + 5)), NOW + 5);
  assert.is(tokenExpiry('garbage'), undefined);
  assert.is(tokenExpiry('a.!!!.c'), undefined);
});

test('refusals: no token, unauthenticated, wrong audience, another ServiceAccount, no node binding', () => {
  const r = (req: AuthRequest, rev: TokenReviewStatus) => {
    const d = decide(req, rev, NOW + 100, cfg, NOW);
    return d.ok ? 'ok' : d.reason;
  };
  assert.is(r(request({ token: undefined }), review()), 'no_token');
  assert.is(r(request(), { authenticated: false, error: 'pod not found' }), 'token_rejected');
  assert.is(r(request(), review({ audiences: ['https://kubernetes.default.svc'] })), 'wrong_audience');
  assert.is(
    r(
      request(),
      review({
        user: {
          username: 'system:serviceaccount:nodewarden:nodewarden-collector',
          extra: { [NODE_NAME_EXTRA]: ['node-a'] },
        },
      }),
    ),
    'wrong_service_account',
  );
  assert.is(
    r(
      request(),
      review({
        user: { username: 'system:serviceaccount:other:nodewarden-agent', extra: { [NODE_NAME_EXTRA]: ['node-a'] } },
      }),
    ),
    'wrong_service_account',
  );
  assert.is(r(request(), review({}, [])), 'no_node');
  assert.is(r(request(), review({}, ['node-a', 'node-b'])), 'no_node');
  assert.is(r(request(), review({}, ['node-a.>'])), 'no_node');
  assert.is(
    r(request(), review({ user: { username: 'system:serviceaccount:nodewarden:nodewarden-agent' } })),
    'no_node',
  );
});

test("the answer is addressed to the connection's user key and the server", () => {
  const c = responseClaims(request(), { error: 'no_token' }, NOW);
  assert.is(c.sub, userKey);
  assert.is(c.aud, server.getPublicKey());
  assert.equal(c.nats, { type: 'authorization_response', version: 2, error: 'no_token' });
});

test.run();
