// Two presences (collector/events/presence.ts) on a real nats-server: the Event budget is divided
// among the replicas that have Event work, turning busy is heard at once, and an idle or stopped
// replica hands its part back.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { startPresence, type Sharing } from '../collector/events/presence.js';
import { startNats, type NatsServer } from './support/nats.js';
import { waitFor } from './support/wait.js';

let nats: NatsServer;
const conns: NatsConnection[] = [];

interface Replica {
  busy: boolean;
  sharing: Sharing;
  stop(): Promise<void>;
}

async function replica(): Promise<Replica> {
  const nc = await connect({ servers: nats.url });
  conns.push(nc);
  const r: Replica = { busy: false, sharing: { replicas: 1, divisor: 1 }, stop: async () => undefined };
  const p = startPresence(
    () => Promise.resolve(nc),
    () => r.busy,
    (s) => {
      r.sharing = s;
    },
  );
  r.stop = () => p.stop();
  return r;
}

test.before(async () => {
  nats = await startNats();
});
test.after(async () => {
  for (const nc of conns) await nc.close();
  await nats?.stop();
});

test('the budget is divided among the replicas with Event work; idle and stopped ones hand their part back', async () => {
  const a = await replica();
  const b = await replica();
  const both = (want: Sharing) =>
    [a, b].every((r) => r.sharing.replicas === want.replicas && r.sharing.divisor === want.divisor);
  await waitFor('two idle replicas that know each other', () => both({ replicas: 2, divisor: 1 }), 5000, 20);
  a.busy = true;
  // a divides by 1 (b has no work); b, idle, already counts a for when its own work comes
  await waitFor('b hears that a is busy', () => b.sharing.divisor === 2, 2000, 20);
  assert.equal(a.sharing, { replicas: 2, divisor: 1 });
  b.busy = true;
  await waitFor('a hears that b is busy', () => a.sharing.divisor === 2, 2000, 20);
  b.busy = false;
  // b stays announced busy until it has had no work for 5 s, then says so at its next announcement
  await waitFor('a has the whole budget again', () => a.sharing.divisor === 1, 15_000, 50);
  await b.stop();
  await waitFor('a alone once b says goodbye', () => a.sharing.replicas === 1, 2000, 20);
  await a.stop();
});

test.run();
