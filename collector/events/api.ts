// The Event writer's only view of the API server: one request in, one answer out (transport failures
// become status 0 instead of exceptions). Tests replace it with a scripted fake.
import { KubeApiError, retryAfterMs, type KubeClient } from '../kube/client.js';
import type { Answer } from './protocol.js';

export interface EventApi {
  request(method: string, path: string, body?: unknown): Promise<Answer>;
}

export function kubeEventApi(client: KubeClient): EventApi {
  return {
    async request(method, path, body) {
      try {
        const r = await client.request(method, path, body);
        return { status: r.status, body: r.body, retryAfterMs: retryAfterMs(r.headers['retry-after']) };
      } catch (err) {
        if (err instanceof KubeApiError && err.status === 0) return { status: 0, error: err.message };
        throw err;
      }
    },
  };
}
