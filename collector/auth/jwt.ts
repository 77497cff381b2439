// NATS JWTs (the format nats-server speaks for auth callout): a JWS with header
// {"typ":"JWT","alg":"ed25519-nkey"}, base64url parts without padding, and an ed25519 signature by the
// nkey named in `iss` over "header.payload". Written here rather than taken from @nats-io/jwt 0.0.x:
// it is a few dozen lines, and decoding must never throw anything but JwtError.
// @nats-io/nkeys validates keys (prefix, checksum); the signatures themselves are Node's native
// ed25519: nkeys' pure-JS one costs ~20 ms per operation on a busy node, three per connection, on
// one thread (measured: 50 agents connecting at once took 2.5 s and some hit the auth timeout).
import {
  createPrivateKey,
  createPublicKey,
  randomBytes,
  sign as edSign,
  verify as edVerify,
  type KeyObject,
} from 'node:crypto';
import { fromPublic, fromSeed } from '@nats-io/nkeys';

/** Why a token was not accepted; `reason` is a short stable key (for counters and once-per-reason logs). */
export class JwtError extends Error {
  constructor(
    public readonly reason: string,
    detail: string,
  ) {
    super(detail);
  }
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

/** What signs a JWT: an nkey (its public key goes into `iss`). @nats-io/nkeys KeyPairs fit too. */
export interface Signer {
  getPublicKey(): string;
  sign(data: Uint8Array): Uint8Array;
}

const B32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
/** nkeys are RFC 4648 base32 without padding: prefix byte(s), the 32 key bytes, a CRC16. */
function base32(text: string): Buffer {
  const out: number[] = [];
  let bits = 0,
    acc = 0;
  for (const ch of text) {
    const v = B32.indexOf(ch);
    if (v < 0) throw new JwtError('bad_key', 'not base32');
    acc = (acc << 5) | v;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out.push((acc >> bits) & 0xff);
    }
  }
  return Buffer.from(out);
}
const SPKI_ED25519 = Buffer.from('302a300506032b6570032100', 'hex');
const PKCS8_ED25519 = Buffer.from('302e020100300506032b657004220420', 'hex');
const publicKeys = new Map<string, KeyObject>();

/** The ed25519 key behind an nkey public key (already validated by the caller); the few server keys are cached. */
function publicKeyObject(nkey: string): KeyObject {
  let k = publicKeys.get(nkey);
  if (!k) {
    k = createPublicKey({
      key: Buffer.concat([SPKI_ED25519, base32(nkey).subarray(1, 33)]),
      format: 'der',
      type: 'spki',
    });
    if (publicKeys.size > 256) publicKeys.clear();
    publicKeys.set(nkey, k);
  }
  return k;
}

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
export function issuerFromSeed(seed: string): Signer {
  const text = seed.trim();
  let publicKey: string;
  try {
    publicKey = fromSeed(new TextEncoder().encode(text)).getPublicKey();
  } catch (err) {
    throw new JwtError('bad_seed', `not an nkey seed (${(err as Error).message})`);
  }
  if (!isPublicKey(publicKey, 'account'))
    throw new JwtError('bad_seed', 'the issuer seed must be an account seed (it starts with "SA")');
  // a seed is two prefix bytes, the 32-byte ed25519 seed, a CRC16
  const key = createPrivateKey({
    key: Buffer.concat([PKCS8_ED25519, base32(text).subarray(2, 34)]),
    format: 'der',
    type: 'pkcs8',
  });
  const derived = createPublicKey(key).export({ format: 'der', type: 'spki' }).subarray(-32);
  if (!derived.equals(base32(publicKey).subarray(1, 33)))
    throw new JwtError('bad_seed', 'seed and public key disagree');
  return { getPublicKey: () => publicKey, sign: (data) => edSign(null, data, key) };
}

/** Signs claims with `signer`; `iss` is set to the signer, `jti` and `iat` are filled in when missing. */
export function encodeJwt(claims: JwtClaims, signer: Signer, now = Date.now()): string {
  const body: JwtClaims = {
    jti: randomBytes(16).toString('hex').toUpperCase(),
    iat: Math.floor(now / 1000),
    ...claims,
    iss: signer.getPublicKey(),
  };
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
  if (
    !header ||
    typeof header !== 'object' ||
    String(header.typ).toUpperCase() !== 'JWT' ||
    !/^ed25519(-nkey)?$/i.test(String(header.alg))
  ) {
    throw new JwtError('bad_header', `header ${JSON.stringify(header)}`);
  }
  const claims = part(chunks[1], 'payload') as JwtClaims | null;
  if (!claims || typeof claims !== 'object' || Array.isArray(claims))
    throw new JwtError('malformed', 'payload is not an object');
  if (!isPublicKey(claims.iss, issuerRole))
    throw new JwtError('bad_issuer', `iss ${JSON.stringify(claims.iss)} is not a ${issuerRole} public key`);
  if (!/^[A-Za-z0-9_-]+$/.test(chunks[2])) throw new JwtError('bad_signature', 'signature is not base64url');
  let ok = false;
  try {
    ok = edVerify(
      null,
      Buffer.from(`${chunks[0]}.${chunks[1]}`),
      publicKeyObject(claims.iss),
      Buffer.from(chunks[2], 'base64url'),
    );
  } catch {
    /* a signature of the wrong length: not valid either */
  }
  if (!ok) throw new JwtError('bad_signature', `not signed by ${claims.iss}`);
  return claims;
}
