// Collector replicas announce themselves on core NATS (a plain subject, not the stream: nothing is
// stored) so that each writes its share of --event-qps/--event-burst (replicas.ts) and the API
// server sees the configured budget, not replicas x budget. An announcement says whether the replica
// has Event work; the budget is divided among those that do. Agents cannot publish here (they may
// publish only on their node's subjects); a partitioned replica counts only itself, so a split
// network can at worst double the budget for its duration, never stop Events.
import { randomBytes } from 'node:crypto';
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import { ReplicaCount } from './replicas.js';

export const PRESENCE_SUBJECT = 'nodewarden.collector.presence';
const EVERY_MS = 5000;
/** A replica not heard for three announcements is gone (it crashed; a clean stop says goodbye). */
const WINDOW_MS = 3 * EVERY_MS;
/** How often this replica looks whether it has work: turning busy is announced at once. */
const CHECK_MS = 250;
/** More replicas than this are not a deployment but noise on the subject. */
const MAX_PEERS = 64;

interface Announcement {
  id: string;
  busy?: boolean;
  bye?: boolean;
}

function parse(data: Uint8Array): Required<Announcement> | undefined {
  try {
    const a = JSON.parse(new TextDecoder().decode(data)) as Partial<Announcement>;
    return typeof a.id === 'string' && /^[0-9a-f]{16}$/.test(a.id)
      ? { id: a.id, busy: a.busy === true, bye: a.bye === true }
      : undefined;
  } catch {
    return undefined;
  }
}

export interface Sharing {
  /** Replicas present, this one included. */
  replicas: number;
  /** What this replica divides the budget by: itself and the others that have Event work. */
  divisor: number;
}

/**
 * Calls onChange with the new and the previous sharing whenever the replicas present or the divisor change. `busy` says whether this
 * replica has Event work now; it stays announced as busy until it has had none for EVERY_MS, so a
 * replica between two writes does not flap.
 */
export function startPresence(
  connection: () => Promise<NatsConnection>,
  busy: () => boolean,
  onChange: (now: Sharing, before: Sharing) => void,
): { stop(): Promise<void> } {
  const id = randomBytes(8).toString('hex');
  const peers = new ReplicaCount(id, WINDOW_MS);
  let last: Sharing = { replicas: 1, divisor: 1 };
  let nc: NatsConnection | undefined;
  let sub: Subscription | undefined;
  let stopped = false;
  let busyAt = Number.NEGATIVE_INFINITY;
  let announcedBusy = false;
  const recount = () => {
    const now = Date.now();
    const s = {
      replicas: Math.min(peers.count(now), MAX_PEERS + 1),
      divisor: Math.min(peers.divisor(now), MAX_PEERS + 1),
    };
    if (s.replicas !== last.replicas || s.divisor !== last.divisor) {
      const before = last;
      last = s;
      onChange(s, before);
    }
  };
  const announce = (bye = false) => {
    if (!nc || nc.isClosed()) return;
    announcedBusy = !bye && Date.now() - busyAt < EVERY_MS;
    nc.publish(PRESENCE_SUBJECT, JSON.stringify(bye ? { id, bye } : { id, busy: announcedBusy }));
  };
  const timer = setInterval(() => {
    announce();
    recount();
  }, EVERY_MS);
  timer.unref();
  const check = setInterval(() => {
    if (!busy()) return;
    busyAt = Date.now();
    if (!announcedBusy) announce(); // the others halve their part now, not at the next announcement
  }, CHECK_MS);
  check.unref();
  void connection()
    .then((c) => {
      if (stopped) return;
      nc = c;
      // Subscriptions survive the connection's reconnects (nats.js re-subscribes).
      sub = c.subscribe(PRESENCE_SUBJECT, {
        callback: (err, m) => {
          const a = err ? undefined : parse(m.data);
          if (!a) return;
          if (a.bye) peers.gone(a.id);
          else if (peers.heard(a.id, Date.now(), a.busy)) announce(); // a newcomer learns of us at once, not in 5 s
          recount();
        },
      });
      announce();
    })
    .catch(() => undefined); // the collector's connection retries forever; stop() ends the wait
  return {
    async stop() {
      stopped = true;
      clearInterval(timer);
      clearInterval(check);
      announce(true);
      sub?.unsubscribe();
      await nc?.flush().catch(() => undefined);
    },
  };
}
