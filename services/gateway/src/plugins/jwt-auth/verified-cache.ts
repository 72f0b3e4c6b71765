// Tokens already verified, so a client that sends the same token on every request pays one SHA-256 and a
// map lookup instead of a signature check. Keyed by the token's SHA-256 (the raw token is never kept), each
// entry lives until the token expires or for at most `maxAgeMs`, in a bounded LRU. Only successes are kept.
import { hash } from 'node:crypto';

interface Entry<T> {
  value: T;
  expiresAt: number;
  /** When the entry last moved to the recent end (see TOUCH_EVERY_MS). */
  touchedAt: number;
}

/** Recency is refreshed at most this often per entry: a hit is a lookup, not a delete and re-insert each time. */
const TOUCH_EVERY_MS = 1_000;

export class VerifiedTokenCache<T> {
  readonly #map = new Map<string, Entry<T>>();
  readonly #max: number;
  readonly maxAgeMs: number;

  constructor(maxEntries = 10_000, maxAgeMs = 60_000) {
    this.#max = maxEntries;
    this.maxAgeMs = maxAgeMs;
  }

  static keyOf(token: string): string {
    return hash('sha256', token, 'base64');
  }

  get(key: string, nowMs: number): T | undefined {
    const e = this.#map.get(key);
    if (e === undefined) return undefined;
    if (nowMs >= e.expiresAt) {
      this.#map.delete(key);
      return undefined;
    }
    // Most recently used last: re-insert (Map keeps insertion order), at most once a second per entry.
    if (nowMs - e.touchedAt >= TOUCH_EVERY_MS) {
      e.touchedAt = nowMs;
      this.#map.delete(key);
      this.#map.set(key, e);
    }
    return e.value;
  }

  /** `expiresAt`: when the token stops being valid (ms); the entry lives until then or maxAgeMs. */
  set(key: string, value: T, nowMs: number, expiresAt: number): void {
    if (this.#max <= 0) return;
    const until = Math.min(expiresAt, nowMs + this.maxAgeMs);
    if (until <= nowMs) return;
    this.#map.delete(key);
    if (this.#map.size >= this.#max) {
      const oldest = this.#map.keys().next();
      if (!oldest.done) this.#map.delete(oldest.value);
    }
    this.#map.set(key, { value, expiresAt: until, touchedAt: nowMs });
  }

  get size(): number {
    return this.#map.size;
  }

  clear(): void {
    this.#map.clear();
  }
}
