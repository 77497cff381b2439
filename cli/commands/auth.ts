import type { CommandSpec } from '../../common/flags.js';
import { authFlags, runAuthMain } from '../../collector/auth/main.js';

export const spec: CommandSpec = {
  name: 'auth',
  summary: 'Run the NATS auth callout: admit each agent as its own node, from its projected ServiceAccount token.',
  details: `Answers nats-server's authorization requests ($SYS.REQ.USER.AUTH, auth_callout in the server
config). An agent connects with its pod's projected ServiceAccount token (audience --audience) as
its NATS token; a TokenReview checks it, requires --service-account, and takes the node from the
token's pod binding. The agent then gets a NATS user that may publish only on
nodewarden.v1.<node>.> and subscribe only to its own inbox _INBOX_<node>.>, expiring with its token.
Connect this service with its own NATS user (--nats-user, --nats-password-file), listed in the
server's auth_users. Needs the Kubernetes right tokenreviews create (authentication.k8s.io).`,
  flags: authFlags,
};

export const run = runAuthMain;
