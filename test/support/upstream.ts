// A real HTTP upstream for tests: echoes method, path and selected headers as JSON. `?trickle_ms=N` sends the
// head and half the body at once and the rest N ms later: a response still streaming when a fault strikes
// (once its head is out, no load balancer can retry it elsewhere).
import { createServer, type IncomingMessage, type Server } from 'node:http';

export interface EchoUpstream {
  port: number;
  server: Server;
  close(): Promise<void>;
}

export async function startEchoUpstream(name = 'echo'): Promise<EchoUpstream> {
  const server = createServer((req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = JSON.stringify({ upstream: name, method: req.method, url: req.url, headers: req.headers, body_bytes: Buffer.concat(chunks).length });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      const trickle = Number(/[?&]trickle_ms=(\d+)/.exec(req.url ?? '')?.[1] ?? 0);
      if (trickle === 0) return void res.end(body);
      const half = body.length >> 1;
      res.write(body.slice(0, half));
      setTimeout(() => res.end(body.slice(half)), trickle);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return {
    port,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
