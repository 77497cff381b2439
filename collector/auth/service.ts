// The auth callout service: answers nats-server's authorization requests ($SYS.REQ.USER.AUTH, in the
// callout account) with a user for one node, decided by decide.ts from a TokenReview. Every request
// gets an answer, malformed ones included (an empty reply, which the server reads as "refused"), so
// the server never waits for its auth timeout on our account; every refusal is counted and each
// reason logged once.
import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node';
import { Counter, type Registry } from 'prom-client';
import { onceLogger, type Logger } from '../../common/log.js';
import { decide, readAuthRequest, responseClaims, tokenExpiry, type AuthRequest, type DecideConfig } from './decide.js';
import { decodeJwt, encodeJwt, JwtError, type Signer } from './jwt.js';
import type { TokenReviewer } from './token-review.js';

export const AUTH_CALLOUT_SUBJECT = '$SYS.REQ.USER.AUTH';
export const AUTH_QUEUE = 'nodewarden-auth';

export interface AuthServiceOptions {
  issuer: Signer;
  decide: DecideConfig;
  review: TokenReviewer;
  log: Logger;
  registry?: Registry;
  /** TokenReviews in flight at most; beyond it a request is refused at once (the client retries). */
  maxInFlight?: number;
  now?: () => number;
}

export interface AuthService {
  /** Requests answered so far, by outcome ("granted" or a refusal reason). */
  readonly outcomes: ReadonlyMap<string, number>;
  stop(): Promise<void>;
}

export function serveAuthCallout(nc: NatsConnection, o: AuthServiceOptions): AuthService {
  const now = o.now ?? Date.now;
  const sec = () => Math.floor(now() / 1000);
  const maxInFlight = o.maxInFlight ?? 256;
  const warnOnce = onceLogger(o.log);
  const outcomes = new Map<string, number>();
  const counter = new Counter({
    name: 'nodewarden_auth_requests_total',
    help: 'NATS authorization requests answered, by outcome (granted or the refusal reason).',
    labelNames: ['outcome'],
    registers: o.registry ? [o.registry] : [],
  });
  let inFlight = 0;

  const count = (outcome: string) => {
    outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
    counter.inc({ outcome });
  };
  const answer = (
    m: Msg,
    req: Pick<AuthRequest, 'userNkey' | 'serverId'>,
    body: { jwt: string } | { error: string },
  ) => {
    m.respond(encodeJwt(responseClaims(req, body, sec()), o.issuer, now()));
  };
  const refuse = (m: Msg, req: AuthRequest | undefined, reason: string, detail: string) => {
    count(reason);
    warnOnce(`refused:${reason}`, 'auth: refused a connection; further refusals for this reason are only counted', {
      reason,
      detail,
      client: req?.client,
    });
    // Without a valid request there is nobody to address a signed answer to; an empty reply refuses.
    if (req) answer(m, req, { error: reason });
    else m.respond(new Uint8Array(0));
  };

  const handle = async (m: Msg): Promise<void> => {
    let req: AuthRequest;
    try {
      const read = readAuthRequest(decodeJwt(m.string(), 'server'), sec());
      if (!read.ok) return refuse(m, undefined, read.reason, read.detail);
      req = read;
    } catch (err) {
      return refuse(
        m,
        undefined,
        err instanceof JwtError ? `request_${err.reason}` : 'request_undecodable',
        (err as Error).message,
      );
    }
    if (!req.token) return refuse(m, req, 'no_token', 'the client presented no token');
    if (inFlight >= maxInFlight) return refuse(m, req, 'busy', `${inFlight} token reviews in flight`);
    inFlight++;
    let review;
    try {
      review = await o.review(req.token);
    } catch (err) {
      return refuse(m, req, 'tokenreview_failed', (err as Error).message);
    } finally {
      inFlight--;
    }
    const d = decide(req, review, tokenExpiry(req.token), o.decide, sec());
    if (!d.ok) return refuse(m, req, d.reason, d.detail);
    answer(m, req, { jwt: encodeJwt(d.user, o.issuer, now()) });
    count('granted');
    o.log.info(
      { node: d.node, expiresAt: new Date(d.expiresAt * 1000).toISOString(), client: req.client },
      'auth: agent admitted',
    );
  };

  const sub: Subscription = nc.subscribe(AUTH_CALLOUT_SUBJECT, {
    queue: AUTH_QUEUE,
    callback: (err, m) => {
      if (err) {
        o.log.error({ err: err.message }, 'auth: subscription failed');
        return;
      }
      handle(m).catch((e: unknown) => {
        // A bug, not a bad request: still answer, so the server does not wait.
        try {
          refuse(m, undefined, 'internal_error', (e as Error).message);
        } catch {
          /* connection gone */
        }
      });
    },
  });
  o.log.info(
    {
      subject: AUTH_CALLOUT_SUBJECT,
      queue: AUTH_QUEUE,
      issuer: o.issuer.getPublicKey(),
      account: o.decide.account,
      serviceAccount: o.decide.serviceAccount,
      audience: o.decide.audience,
    },
    'auth: answering authorization requests',
  );
  return {
    outcomes,
    async stop() {
      await sub.drain().catch(() => sub.unsubscribe());
    },
  };
}
