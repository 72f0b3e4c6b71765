// A TCP port free on a host now: bind to port 0, read the port the kernel chose, close. For a listener that
// must be bound later on that very port (a worker pool's shared port, an HTTPS listener re-created on
// certificate changes, a test's child process).
import { createServer } from 'node:net';

export async function freePortOn(host: string): Promise<number> {
  return await new Promise((resolve, reject) => {
    const s = createServer();
    s.unref();
    s.once('error', reject);
    s.listen(0, host, () => {
      const a = s.address();
      s.close(() => (a !== null && typeof a === 'object' ? resolve(a.port) : reject(new Error(`no port on ${host}`))));
    });
  });
}
