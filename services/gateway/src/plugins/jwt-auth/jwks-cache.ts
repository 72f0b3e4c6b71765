// An issuer's JSON Web Key Set, fetched from its jwks_uri and kept by `kid`. A key at hand is returned
// synchronously (stale ones too: an expired set is refreshed in the background, and kept while refreshes
// fail); a fetch happens only on the first use, an unknown `kid` or expiry, at most once per refresh
// interval, and concurrent misses share one fetch. Keys are imported once (KeyObject) and reused.
import { createPublicKey, type JsonWebKey } from 'node:crypto';
import { request, type Dispatcher } from 'undici';
import { verifyKeyOf, type VerifyKey } from './signature.js';

export interface JwksOptions {
  /** Whole fetch (connect, headers, body), ms. */
  timeoutMs: number;
  /** Largest JWKS body accepted, bytes. */
  maxBytes: number;
  /** Bounds on the Cache-Control max-age honoured, ms. */
  minTtlMs: number;
  maxTtlMs: number;
  /** TTL when the response names none, ms. */
  defaultTtlMs: number;
  /** Fetches (for any reason) at most once per this interval, ms. */
  refreshIntervalMs: number;
  /** Keys kept from one set (the rest are ignored). */
  maxKeys: number;
  /** The clock for TTLs and the refresh interval (tests move it). */
  now: () => number;
  dispatcher?: Dispatcher;
}

export const DEFAULT_JWKS_OPTIONS: JwksOptions = {
  timeoutMs: 5_000,
  maxBytes: 256 * 1024,
  minTtlMs: 60_000,
  maxTtlMs: 24 * 3600_000,
  defaultTtlMs: 600_000,
  refreshIntervalMs: 10_000,
  maxKeys: 64,
  now: Date.now,
};

/**
 * What a lookup gives: the candidate keys (empty: the set was fetched and has no such key), 'unavailable'
 * (no set could be fetched, or the last refresh that could have found this `kid` failed), or a Promise that
 * settles (never rejects) when a fetch in flight ends: look up again then.
 */
export type JwksLookup = readonly VerifyKey[] | 'unavailable' | Promise<void>;

const NONE: readonly VerifyKey[] = Object.freeze([]);

export class JwksCache {
  readonly uri: string;
  readonly #o: JwksOptions;
  #byKid = new Map<string, readonly VerifyKey[]>();
  #all: readonly VerifyKey[] = NONE;
  /** Whether a set was ever fetched. */
  #have = false;
  #expiresAt = 0;
  #lastAttemptAt = Number.NEGATIVE_INFINITY;
  #lastOk = false;
  #inflight: Promise<void> | null = null;
  /** Counters for tests and metrics. */
  fetches = 0;
  failures = 0;
  lastError: string | null = null;

  constructor(uri: string, options: Partial<JwksOptions> = {}) {
    this.uri = uri;
    this.#o = { ...DEFAULT_JWKS_OPTIONS, ...options };
  }

  /** Keys that may have signed a token with this `kid` (all keys when the token names none). */
  lookup(kid: string | undefined, allowFetch = true): JwksLookup {
    const now = this.#o.now();
    if (this.#have) {
      const found = kid === undefined ? this.#all : (this.#byKid.get(kid) ?? NONE);
      if (found.length > 0) {
        // Stale-while-revalidate: the key at hand serves; an expired set refreshes behind it.
        if (now >= this.#expiresAt && allowFetch && this.#mayFetch(now)) void this.#fetch(now);
        return found;
      }
    }
    if (this.#inflight) return allowFetch ? this.#inflight : 'unavailable';
    if (allowFetch && this.#mayFetch(now)) return this.#fetch(now);
    // Rate-limited: a set fetched successfully that lacks the kid means the kid is unknown; after a failed
    // fetch nothing can be said about it.
    return this.#have && this.#lastOk ? NONE : 'unavailable';
  }

  /** Starts the first fetch ahead of the first token (a no-op once one was tried). */
  prefetch(): void {
    if (this.#lastAttemptAt === Number.NEGATIVE_INFINITY && !this.#inflight) void this.#fetch(this.#o.now());
  }

  /** Whether keys are at hand (fresh or stale). */
  get hasKeys(): boolean {
    return this.#all.length > 0;
  }

  #mayFetch(now: number): boolean {
    return this.#inflight === null && now - this.#lastAttemptAt >= this.#o.refreshIntervalMs;
  }

  #fetch(now: number): Promise<void> {
    this.#lastAttemptAt = now;
    this.fetches++;
    const p = this.#load().then(
      ({ keys, ttlMs }) => {
        const byKid = new Map<string, VerifyKey[]>();
        for (const k of keys) {
          if (k.kid === null) continue;
          const list = byKid.get(k.kid);
          if (list) list.push(k);
          else byKid.set(k.kid, [k]);
        }
        this.#byKid = byKid;
        this.#all = keys;
        this.#have = true;
        this.#lastOk = true;
        this.lastError = null;
        this.#expiresAt = this.#o.now() + ttlMs;
      },
      (err: unknown) => {
        this.#lastOk = false;
        this.failures++;
        this.lastError = err instanceof Error ? err.message : String(err);
      },
    );
    const done = p.finally(() => {
      if (this.#inflight === done) this.#inflight = null;
    });
    this.#inflight = done;
    return done;
  }

  async #load(): Promise<{ keys: readonly VerifyKey[]; ttlMs: number }> {
    // One deadline for the whole exchange, cleared when it ends (an AbortSignal.timeout firing after the
    // body was read would abort a finished request and surface as an uncaught error).
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(new Error(`the JWKS fetch took over ${this.#o.timeoutMs} ms`)), this.#o.timeoutMs);
    try {
      return await this.#exchange(ac.signal);
    } finally {
      clearTimeout(timer);
    }
  }

  async #exchange(signal: AbortSignal): Promise<{ keys: readonly VerifyKey[]; ttlMs: number }> {
    const o = this.#o;
    const res = await request(this.uri, {
      method: 'GET',
      headers: { accept: 'application/jwk-set+json, application/json' },
      headersTimeout: o.timeoutMs,
      bodyTimeout: o.timeoutMs,
      signal,
      ...(o.dispatcher ? { dispatcher: o.dispatcher } : {}),
    });
    if (res.statusCode !== 200) {
      discard(res.body);
      throw new Error(`the JWKS endpoint answered ${res.statusCode}`);
    }
    const declared = Number(res.headers['content-length']);
    if (declared > o.maxBytes) {
      discard(res.body);
      throw new Error(`the JWKS is ${declared} bytes, over the ${o.maxBytes}-byte limit`);
    }
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of res.body as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > o.maxBytes) {
        discard(res.body);
        throw new Error(`the JWKS is over the ${o.maxBytes}-byte limit`);
      }
      chunks.push(chunk);
    }
    let doc: unknown;
    try {
      doc = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      throw new Error('the JWKS is not JSON');
    }
    const list = (doc as { keys?: unknown } | null)?.keys;
    if (!Array.isArray(list)) throw new Error('the JWKS has no "keys" array');
    return { keys: importJwks(list, o.maxKeys), ttlMs: ttlOf(res.headers['cache-control'], o) };
  }
}

/** Drops a response body unread (undici's body emits an 'error' when destroyed: nobody else listens). */
function discard(body: Dispatcher.ResponseData['body']): void {
  body.on('error', () => {});
  body.destroy();
}

/**
 * The usable signature keys of a set: public RSA, EC and OKP keys not marked for encryption only. `oct`
 * (shared-secret) keys are never taken from a JWKS. Private members are dropped before import.
 */
export function importJwks(list: readonly unknown[], maxKeys: number): readonly VerifyKey[] {
  const out: VerifyKey[] = [];
  for (const item of list) {
    if (out.length >= maxKeys) break;
    if (typeof item !== 'object' || item === null) continue;
    const j = item as Record<string, unknown>;
    if (j.use !== undefined && j.use !== 'sig') continue;
    if (Array.isArray(j.key_ops) && !j.key_ops.includes('verify')) continue;
    let pub: JsonWebKey;
    if (j.kty === 'RSA') pub = { kty: 'RSA', n: j.n as string, e: j.e as string };
    else if (j.kty === 'EC') pub = { kty: 'EC', crv: j.crv as string, x: j.x as string, y: j.y as string };
    else if (j.kty === 'OKP') pub = { kty: 'OKP', crv: j.crv as string, x: j.x as string };
    else continue;
    try {
      const key = createPublicKey({ key: pub, format: 'jwk' });
      out.push(verifyKeyOf(key, typeof j.kid === 'string' ? j.kid : null, typeof j.alg === 'string' ? j.alg : null));
    } catch {
      // A key this node cannot use (bad encoding, unknown curve, a short RSA modulus) is skipped.
    }
  }
  return out;
}

/** Cache-Control max-age, bounded; no-store/no-cache count as the minimum. */
export function ttlOf(cacheControl: string | string[] | undefined, o: Pick<JwksOptions, 'minTtlMs' | 'maxTtlMs' | 'defaultTtlMs'>): number {
  const cc = Array.isArray(cacheControl) ? cacheControl.join(',') : (cacheControl ?? '');
  let ttl = o.defaultTtlMs;
  if (/(?:^|[,\s])no-(?:store|cache)\b/i.test(cc)) ttl = 0;
  else {
    const m = /(?:^|[,\s])max-age\s*=\s*"?(\d+)"?/i.exec(cc);
    if (m) ttl = Number(m[1]) * 1000;
  }
  return Math.min(o.maxTtlMs, Math.max(o.minTtlMs, ttl));
}

/**
 * The node's JWKS caches by URI, kept across config compiles so a recompile keeps the fetched keys. Issuers
 * sharing a jwks_uri share its cache.
 */
export class JwksRegistry {
  readonly #caches = new Map<string, JwksCache>();
  readonly #options: Partial<JwksOptions>;

  constructor(options: Partial<JwksOptions> = {}) {
    this.#options = options;
  }

  get(uri: string): JwksCache {
    let c = this.#caches.get(uri);
    if (!c) {
      c = new JwksCache(uri, this.#options);
      this.#caches.set(uri, c);
    }
    return c;
  }

  /** Drops the caches of URIs no issuer uses any more. */
  retain(uris: ReadonlySet<string>): void {
    for (const uri of this.#caches.keys()) if (!uris.has(uri)) this.#caches.delete(uri);
  }

  get size(): number {
    return this.#caches.size;
  }
}
