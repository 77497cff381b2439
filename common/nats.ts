import { connect, type NatsConnection, type ConnectionOptions } from '@nats-io/transport-node';
import { readFileSync } from 'node:fs';

export interface NatsAuth {
  token?: string;
  user?: string;
  password?: string;
  caFile?: string;
}

/** Connects with reconnects forever (the agent/collector own durability, not the client). */
export async function connectNats(url: string, auth: NatsAuth, name: string): Promise<NatsConnection> {
  const opts: ConnectionOptions = {
    servers: url.split(',').map((s) => s.trim()).filter(Boolean),
    name,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 500,
    reconnectJitter: 500,
    timeout: 5000,
    waitOnFirstConnect: true,
  };
  if (auth.token) opts.token = auth.token;
  if (auth.user) { opts.user = auth.user; opts.pass = auth.password ?? ''; }
  if (auth.caFile) opts.tls = { ca: readFileSync(auth.caFile, 'utf8') };
  return connect(opts);
}
