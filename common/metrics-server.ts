import { createServer, type Server } from 'node:http';
import type { Registry } from 'prom-client';

/**
 * Minimal /metrics, /healthz, /readyz server for the agent (the collector has its own API).
 * notReady: undefined when ready, else the reason /readyz answers 503 with.
 */
export function startMetricsServer(
  host: string,
  port: number,
  registry: Registry,
  notReady: () => string | undefined,
): Promise<Server> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/metrics') {
      registry.metrics().then(
        (body) => {
          res.writeHead(200, { 'content-type': registry.contentType });
          res.end(body);
        },
        (err: Error) => {
          res.writeHead(500);
          res.end(err.message);
        },
      );
    } else if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('ok\n');
    } else if (path === '/readyz') {
      const reason = notReady();
      res.writeHead(reason ? 503 : 200, { 'content-type': 'text/plain' });
      res.end(reason ? `not ready: ${reason}\n` : 'ok\n');
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found\n');
    }
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  });
}
