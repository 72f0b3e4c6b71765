// The AI gateway's exact-match response cache (per service, opt-in with `cache_ttl_s`): a non-streamed
// completion or embeddings answer kept under a hash of the service, the operation and the request body as
// the provider would get it, so only a byte-identical question is answered from it. Bounded by bytes, least
// recently used out first, entries expire after their TTL. One per proxy thread.
import { createHash } from 'node:crypto';

interface CacheEntry {
  body: Buffer;
  /** What the answer used when it was made, so a hit can report the model it came from. */
  model: string;
  provider: string;
  expiresAt: number;
}

export class AiResponseCache {
  readonly #entries = new Map<string, CacheEntry>();
  #bytes = 0;
  hits = 0;
  misses = 0;

  constructor(
    readonly maxBytes: number,
    private readonly now: () => number = Date.now,
  ) {}

  static key(serviceId: string, operation: string, canonicalBody: string): string {
    return createHash('sha256').update(serviceId).update('\0').update(operation).update('\0').update(canonicalBody).digest('base64url');
  }

  get(key: string): CacheEntry | undefined {
    const e = this.#entries.get(key);
    if (e === undefined) {
      this.misses++;
      return undefined;
    }
    if (e.expiresAt <= this.now()) {
      this.#remove(key, e);
      this.misses++;
      return undefined;
    }
    // Most recently used last: Map keeps insertion order.
    this.#entries.delete(key);
    this.#entries.set(key, e);
    this.hits++;
    return e;
  }

  set(key: string, body: Buffer, ttlMs: number, model: string, provider: string): void {
    if (ttlMs <= 0 || body.length > this.maxBytes / 4) return;
    const old = this.#entries.get(key);
    if (old !== undefined) this.#remove(key, old);
    this.#entries.set(key, { body, model, provider, expiresAt: this.now() + ttlMs });
    this.#bytes += body.length + key.length;
    for (const [k, e] of this.#entries) {
      if (this.#bytes <= this.maxBytes) break;
      this.#remove(k, e);
    }
  }

  get size(): number {
    return this.#entries.size;
  }

  get bytes(): number {
    return this.#bytes;
  }

  #remove(key: string, e: CacheEntry): void {
    this.#entries.delete(key);
    this.#bytes -= e.body.length + key.length;
  }
}
