// NATS JetStream publishing for the agent. The client does not buffer across reconnects, so the
// outbox owns durability; this file only knows whether publishing is possible right now.
import type { NatsConnection } from '@nats-io/transport-node';
import { jetstream, type JetStreamClient, type PubAck } from '@nats-io/jetstream';
import { connectNats, type NatsAuth } from '../../common/nats.js';
import type { Logger } from '../../common/log.js';

export class Publisher {
  private nc?: NatsConnection;
  private js?: JetStreamClient;
  private up = false;
  private closed = false;

  constructor(private readonly url: string, private readonly auth: NatsAuth, private readonly name: string, private readonly log: Logger, private readonly timeoutMs = 5000) {}

  /** Connects in the background: the agent keeps reading and spooling while NATS is away. */
  start(): void {
    void (async () => {
      try {
        const nc = await connectNats(this.url, this.auth, this.name);
        if (this.closed) { await nc.close(); return; }
        this.nc = nc;
        this.js = jetstream(nc, { timeout: this.timeoutMs });
        this.up = true;
        this.log.info({ server: nc.getServer() }, 'nats: connected');
        for await (const s of nc.status()) {
          if (s.type === 'disconnect') { this.up = false; this.log.warn('nats: disconnected; spooling until it returns'); }
          else if (s.type === 'reconnect') { this.up = true; this.log.info('nats: reconnected'); }
        }
      } catch (err) {
        if (!this.closed) this.log.error({ err: (err as Error).message }, 'nats: connection failed for good');
      }
    })();
  }

  get connected(): boolean { return this.up && !!this.js; }

  publish(subject: string, data: Uint8Array, msgID: string): Promise<PubAck> {
    if (!this.js || !this.up) return Promise.reject(new Error('not connected'));
    return this.js.publish(subject, data, { msgID, timeout: this.timeoutMs });
  }

  async close(): Promise<void> {
    this.closed = true;
    this.up = false;
    if (this.nc && !this.nc.isClosed()) await this.nc.drain().catch(() => this.nc?.close());
  }
}
