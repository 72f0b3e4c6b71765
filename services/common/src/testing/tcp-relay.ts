// A TCP relay in front of a shared server (ClickHouse, …) that a test can take down and bring back on the same
// port: clients see connection refused, as in a real outage, without stopping the server other tests use.
import { createServer, connect as tcpConnect, type Server, type Socket } from 'node:net';

/** A TCP relay to `target` that can be taken down (listener closed, connections cut) and brought back on the same port. */
export class TcpRelay {
  #server: Server | null = null;
  readonly #sockets = new Set<Socket>();
  constructor(private readonly target: URL) {}

  async up(port: number): Promise<number> {
    if (this.#server) return port;
    const server = createServer((client) => {
      const upstream = tcpConnect(Number(this.target.port), this.target.hostname);
      for (const s of [client, upstream]) {
        this.#sockets.add(s);
        s.on('close', () => this.#sockets.delete(s));
        s.on('error', () => undefined);
      }
      client.pipe(upstream).pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    this.#server = server;
    return (server.address() as { port: number }).port;
  }

  async down(): Promise<void> {
    const server = this.#server;
    this.#server = null;
    for (const s of this.#sockets) s.destroy();
    if (server) await new Promise<void>((r) => server.close(() => r()));
  }
}
