// NATS JWTs (the format nats-server speaks for auth callout): a JWS with header
// {"typ":"JWT","alg":"ed25519-nkey"}, base64url parts without padding, and an ed25519 signature by the
// nkey named in `iss` over "header.payload". Written here rather than taken from @nats-io/jwt 0.0.x:
// it is a few dozen lines on top of @nats-io/nkeys, and decoding must never throw anything but JwtError.
import { randomBytes } from 'node:crypto';
import { fromPublic, fromSeed, type KeyPair } from '@nats-io/nkeys';

/** Why a token was not accepted; `reason` is a short stable key (for counters and once-per-reason logs). */
export class JwtError extends Error {
  constructor(public readonly reason: string, detail: string) { super(detail); }
}

/** The registered claims NATS uses; the type-specific part lives under `nats`. */
export interface JwtClaims {
  jti?: string;
  iat?: number;
  exp?: number;
  nbf?: number;
  iss?: string;
  sub?: string;
  aud?: string;
  name?: string;
  nats?: unknown;
  [k: string]: unknown;
}

const HEADER = b64url(Buffer.from(JSON.stringify({ typ: 'JWT', alg: 'ed25519-nkey' })));
/** nats-server caps JWTs at 1 MiB; a callout request is a few KiB. */
const MAX_TOKEN_BYTES = 64 * 1024;

function b64url(b: Uint8Array): string {
  return Buffer.from(b).toString('base64url');
}

/** nkey public key prefixes: the first character names the role. */
export const NKEY_PREFIX = { server: 'N', account: 'A', user: 'U' } as const;

export function isPublicKey(key: unknown, role: keyof typeof NKEY_PREFIX): key is string {
  if (typeof key !== 'string' || key[0] !== NKEY_PREFIX[role]) return false;
  try {
    fromPublic(key);
    return true;
  } catch {
    return false;
  }
}

/** An account seed ("SA…") as the issuer of the callout's answers. */
export function issuerFromSeed(seed: string): KeyPair {
  let kp: KeyPair;
  try {
    kp = fromSeed(new TextEncoder().encode(seed.trim()));
  } catch (err) {
    throw new JwtError('bad_seed', `not an nkey seed (${(err as Error).message})`);
  }
  if (!isPublicKey(kp.getPublicKey(), 'account')) throw new JwtError('bad_seed', 'the issuer seed must be an account seed (it starts with "SA")');
  return kp;
}

/** Signs claims with `signer`; `iss` is set to the signer, `jti` and `iat` are filled in when missing. */
export function encodeJwt(claims: JwtClaims, signer: KeyPair, now = Date.now()): string {
  const body: JwtClaims = { jti: randomBytes(16).toString('hex').toUpperCase(), iat: Math.floor(now / 1000), ...claims, iss: signer.getPublicKey() };
  const payload = b64url(Buffer.from(JSON.stringify(body)));
  const sig = signer.sign(new TextEncoder().encode(`${HEADER}.${payload}`));
  return `${HEADER}.${payload}.${b64url(sig)}`;
}

function part(text: string, what: string): unknown {
  if (!/^[A-Za-z0-9_-]*={0,2}$/.test(text)) throw new JwtError('malformed', `${what} is not base64url`);
  try {
    return JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
  } catch {
    throw new JwtError('malformed', `${what} is not JSON`);
  }
}

/**
 * Decodes a NATS JWT and checks that it is signed by the key in its own `iss`, of the expected role.
 * Says nothing about whether that issuer is trusted, nor about expiry: callers decide both.
 */
export function decodeJwt(token: unknown, issuerRole: keyof typeof NKEY_PREFIX): JwtClaims {
  if (typeof token !== 'string' || token.length === 0) throw new JwtError('malformed', 'empty or not text');
  if (token.length > MAX_TOKEN_BYTES) throw new JwtError('too_large', `${token.length} bytes`);
  const chunks = token.trim().split('.');
  if (chunks.length !== 3) throw new JwtError('malformed', `${chunks.length} parts, not 3`);
  const header = part(chunks[0], 'header') as { typ?: unknown; alg?: unknown } | null;
  if (!header || typeof header !== 'object' || String(header.typ).toUpperCase() !== 'JWT' || !/^ed25519(-nkey)?$/i.test(String(header.alg))) {
    throw new JwtError('bad_header', `header ${JSON.stringify(header)}`);
  }
  const claims = part(chunks[1], 'payload') as JwtClaims | null;
  if (!claims || typeof claims !== 'object' || Array.isArray(claims)) throw new JwtError('malformed', 'payload is not an object');
  if (!isPublicKey(claims.iss, issuerRole)) throw new JwtError('bad_issuer', `iss ${JSON.stringify(claims.iss)} is not a ${issuerRole} public key`);
  if (!/^[A-Za-z0-9_-]+$/.test(chunks[2])) throw new JwtError('bad_signature', 'signature is not base64url');
  let ok = false;
  try {
    ok = fromPublic(claims.iss).verify(new TextEncoder().encode(`${chunks[0]}.${chunks[1]}`), Buffer.from(chunks[2], 'base64url'));
  } catch { /* a signature of the wrong length: not valid either */ }
  if (!ok) throw new JwtError('bad_signature', `not signed by ${claims.iss}`);
  return claims;
}
