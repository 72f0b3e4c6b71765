// Node status endpoints, off the hot path on their own port: liveness, readiness, Prometheus metrics.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface StatusHandlers {
  ready(): { ready: boolean; body: Record<string, unknown> };
  /** May be async: with worker threads the primary asks each worker for its counters. */
  metrics(): string | Promise<string>;
}

export async function startStatusServer(host: string, port: number, h: StatusHandlers): Promise<{ port: number; close(): Promise<void> }> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { 'content-type': 'application/json' }).end('{"error":{"code":"TP_ERR_METHOD_NOT_ALLOWED","message":"method not allowed","request_id":""}}');
      return;
    }
    if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
    } else if (path === '/readyz') {
      const r = h.ready();
      res.writeHead(r.ready ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify(r.body));
    } else if (path === '/metrics') {
      Promise.resolve()
        .then(() => h.metrics())
        .then(
          (text) => res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(text),
          () => res.writeHead(500, { 'content-type': 'application/json' }).end('{"error":{"code":"TP_ERR_INTERNAL","message":"metrics unavailable","request_id":""}}'),
        );
    } else {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":{"code":"TP_ERR_NOT_FOUND","message":"not found","request_id":""}}');
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
