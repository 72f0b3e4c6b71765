// The node's response store: entries by full key, least recently used evicted first once the total size
// passes the node's bound (TP_CACHE_MAX_BYTES). One store per proxy thread; nothing is shared or persisted.
import { Coalescer } from './coalescer.js';

/** One stored response. */
export interface CacheEntry {
  /** The full key (primary key + the Vary'd request header values). */
  readonly key: string;
  readonly primary: string;
  readonly routeId: string;
  readonly serviceId: string;
  /** The request path, for prefix invalidation. */
  readonly path: string;
  readonly status: number;
  /** Flat [name, value, …], lower-case names; no hop-by-hop, framing or X-Cache/Age headers. */
  readonly headers: readonly string[];
  readonly body: Buffer;
  /** Epoch ms: stored, fresh until, served stale (stale-while-revalidate) until. */
  readonly storedAt: number;
  readonly expiresAt: number;
  readonly staleUntil: number;
  /** Bytes charged against the store's bound. */
  readonly size: number;
  /** While a request refreshes this stale entry (epoch ms), others are answered STALE; 0: none. */
  refreshUntil: number;
}

/** What an entry costs beyond its bytes (the Map slot, the object, the arrays). */
const ENTRY_OVERHEAD = 256;

export function entrySize(key: string, headers: readonly string[], body: Buffer): number {
  let n = ENTRY_OVERHEAD + key.length + body.length;
  for (const h of headers) n += h.length + 16;
  return n;
}

export interface StoreStats {
  entries: number;
  bytes: number;
  maxBytes: number;
  evictions: number;
}

export class CacheStore {
  #maxBytes: number;
  #bytes = 0;
  #evictions = 0;
  /** Map order is recency order: a hit moves its entry to the end; eviction takes from the front. */
  readonly #entries = new Map<string, CacheEntry>();
  /** Primary key → the request headers its latest stored response varies on, and how many entries it has. */
  readonly #vary = new Map<string, { names: readonly string[]; count: number }>();

  /** The misses being fetched for this store (request coalescing). */
  readonly fills = new Coalescer();

  constructor(maxBytes: number) {
    this.#maxBytes = maxBytes;
  }

  /** A new bound; entries beyond it are evicted now. */
  resize(maxBytes: number): void {
    this.#maxBytes = maxBytes;
    this.#evict();
  }

  stats(): StoreStats {
    return { entries: this.#entries.size, bytes: this.#bytes, maxBytes: this.#maxBytes, evictions: this.#evictions };
  }

  /** The Vary names of a primary key's stored responses; undefined when it has none stored. */
  varyOf(primary: string): readonly string[] | undefined {
    return this.#vary.get(primary)?.names;
  }

  /** The entry, fresh or still servable stale at `now` (and made most recently used); an older one is dropped. */
  get(key: string, now: number): CacheEntry | undefined {
    const e = this.#entries.get(key);
    if (e === undefined) return undefined;
    if (now >= e.staleUntil) {
      this.#remove(e);
      return undefined;
    }
    this.#entries.delete(key);
    this.#entries.set(key, e);
    return e;
  }

  /** Stores (replacing the key's entry); false when the entry alone is larger than the whole store. */
  set(e: CacheEntry, vary: readonly string[]): boolean {
    const old = this.#entries.get(e.key);
    if (old !== undefined) this.#remove(old);
    if (e.size > this.#maxBytes) return false;
    this.#entries.set(e.key, e);
    this.#bytes += e.size;
    const v = this.#vary.get(e.primary);
    // The latest response's Vary decides how later requests are keyed; entries keyed by an older Vary age out.
    if (v === undefined) this.#vary.set(e.primary, { names: vary, count: 1 });
    else {
      v.names = vary;
      v.count++;
    }
    this.#evict();
    return true;
  }

  delete(key: string): boolean {
    const e = this.#entries.get(key);
    if (e === undefined) return false;
    this.#remove(e);
    return true;
  }

  /** Drops every entry `match` selects; returns how many. */
  invalidate(match: (e: CacheEntry) => boolean): number {
    let n = 0;
    for (const e of [...this.#entries.values()]) {
      if (match(e)) {
        this.#remove(e);
        n++;
      }
    }
    return n;
  }

  clear(): void {
    this.#entries.clear();
    this.#vary.clear();
    this.#bytes = 0;
  }

  #evict(): void {
    while (this.#bytes > this.#maxBytes) {
      const oldest = this.#entries.values().next();
      if (oldest.done) break;
      this.#remove(oldest.value);
      this.#evictions++;
    }
  }

  #remove(e: CacheEntry): void {
    this.#entries.delete(e.key);
    this.#bytes -= e.size;
    const v = this.#vary.get(e.primary);
    if (v !== undefined && --v.count <= 0) this.#vary.delete(e.primary);
  }
}
