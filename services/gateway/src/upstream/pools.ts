// One keep-alive undici Pool per upstream target, shared across config snapshots so that a recompile
// does not drop warm connections. Pools no longer referenced after a swap are closed gracefully.
import { Pool } from 'undici';

export interface PoolOptions {
  connectTimeoutMs: number;
}

export class PoolRegistry {
  readonly #pools = new Map<string, Pool>();

  static key(origin: string, o: PoolOptions): string {
    return `${origin}|${o.connectTimeoutMs}`;
  }

  get(origin: string, o: PoolOptions): Pool {
    const key = PoolRegistry.key(origin, o);
    let pool = this.#pools.get(key);
    if (!pool) {
      pool = new Pool(origin, {
        connections: 256,
        pipelining: 1,
        connectTimeout: o.connectTimeoutMs,
        keepAliveTimeout: 30_000,
        keepAliveMaxTimeout: 600_000,
        // Per-request headersTimeout/bodyTimeout come from the upstream's read_timeout_ms.
        headersTimeout: 60_000,
        bodyTimeout: 60_000,
        maxHeaderSize: 64 * 1024,
      });
      this.#pools.set(key, pool);
    }
    return pool;
  }

  /** Closes pools whose keys are not in `live` (after a snapshot swap). */
  retain(live: ReadonlySet<string>): void {
    for (const [key, pool] of this.#pools) {
      if (live.has(key)) continue;
      this.#pools.delete(key);
      pool.close().catch(() => undefined);
    }
  }

  async close(): Promise<void> {
    const all = [...this.#pools.values()];
    this.#pools.clear();
    await Promise.all(all.map((p) => p.close().catch(() => p.destroy())));
  }
}
