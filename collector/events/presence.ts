// Collector replicas announce themselves on core NATS (a plain subject, not the stream: nothing is
// stored) so that each writes its share of --event-qps/--event-burst (replicas.ts) and the API
// server sees the configured budget, not replicas x budget. Agents cannot publish here (they may
// publish only on their node's subjects); a partitioned replica counts only itself, so a split
// network can at worst double the budget for its duration, never stop Events.
import { randomBytes } from 'node:crypto';
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import { ReplicaCount } from './replicas.js';

export const PRESENCE_SUBJECT = 'nodewarden.collector.presence';
const EVERY_MS = 5000;
/** A replica not heard for three announcements is gone (it crashed; a clean stop says goodbye). */
const WINDOW_MS = 3 * EVERY_MS;
/** More replicas than this are not a deployment but noise on the subject. */
const MAX_PEERS = 64;

interface Announcement {
  id: string;
  bye?: boolean;
}

function parse(data: Uint8Array): Announcement | undefined {
  try {
    const a = JSON.parse(new TextDecoder().decode(data)) as Partial<Announcement>;
    return typeof a.id === 'string' && /^[0-9a-f]{16}$/.test(a.id) ? { id: a.id, bye: a.bye === true } : undefined;
  } catch {
    return undefined;
  }
}

/** Calls onCount with the number of replicas (this one included) whenever it changes. */
export function startPresence(
  connection: () => Promise<NatsConnection>,
  onCount: (replicas: number) => void,
): { stop(): Promise<void> } {
  const id = randomBytes(8).toString('hex');
  const peers = new ReplicaCount(id, WINDOW_MS);
  let last = 1;
  let nc: NatsConnection | undefined;
  let sub: Subscription | undefined;
  let stopped = false;
  const recount = () => {
    const n = Math.min(peers.count(Date.now()), MAX_PEERS + 1);
    if (n !== last) {
      last = n;
      onCount(n);
    }
  };
  const announce = (bye = false) => {
    if (nc && !nc.isClosed()) nc.publish(PRESENCE_SUBJECT, JSON.stringify(bye ? { id, bye } : { id }));
  };
  const timer = setInterval(() => {
    announce();
    recount();
  }, EVERY_MS);
  timer.unref();
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
          else if (peers.heard(a.id, Date.now())) announce(); // a newcomer learns of us at once, not in 5 s
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
      announce(true);
      sub?.unsubscribe();
      await nc?.flush().catch(() => undefined);
    },
  };
}
