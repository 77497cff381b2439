// Asks the API server who a ServiceAccount token belongs to (authentication.k8s.io/v1 TokenReview).
import { KubeApiError, statusMessage, type KubeClient } from '../kube/client.js';
import type { TokenReviewStatus } from './decide.js';

export type TokenReviewer = (token: string) => Promise<TokenReviewStatus>;

/** Throws KubeApiError when the API server cannot answer (then nobody is admitted, rather than anybody). */
export function tokenReviewer(client: KubeClient, audience: string, timeoutMs = 5000): TokenReviewer {
  return async (token) => {
    const r = await client.request<{ status?: TokenReviewStatus }>(
      'POST',
      '/apis/authentication.k8s.io/v1/tokenreviews',
      {
        apiVersion: 'authentication.k8s.io/v1',
        kind: 'TokenReview',
        spec: { token, audiences: [audience] },
      },
      { timeoutMs },
    );
    if (r.status !== 201 && r.status !== 200)
      throw new KubeApiError(`TokenReview: HTTP ${r.status}: ${statusMessage(r.body)}`, r.status);
    return r.body?.status ?? {};
  };
}
