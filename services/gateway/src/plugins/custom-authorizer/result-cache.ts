// The authorizer's answers by identity (the identity sources' values), each for the configured TTL, bounded in
// entries (oldest dropped first), plus the calls in flight so concurrent requests with one identity share one.
import { createHash } from 'node:crypto';

export const DEFAULT_CACHE_ENTRIES = 10_000;

export class ResultCache<V> {
  readonly #entries = new Map<string, { value: V; expiresAt: number }>();
  readonly #inflight = new Map<string, Promise<unknown>>();
  readonly #max: number;

  constructor(maxEntries = DEFAULT_CACHE_ENTRIES) {
    this.#max = maxEntries;
  }

  /**
   * A fixed-size key for identity values (tokens can be kilobytes): SHA-256 of each value's length and text,
   * so ['a,b'] and ['a','b'] differ.
   */
  static keyOf(values: readonly string[]): string {
    const h = createHash('sha256');
    for (const v of values) h.update(`${v.length}:`).update(v);
    return h.digest('base64url');
  }

  get(key: string, nowMs: number): V | undefined {
    const e = this.#entries.get(key);
    if (e === undefined) return undefined;
    if (e.expiresAt <= nowMs) {
      this.#entries.delete(key);
      return undefined;
    }
    return e.value;
  }

  set(key: string, value: V, nowMs: number, ttlMs: number): void {
    if (ttlMs <= 0) return;
    this.#entries.delete(key);
    if (this.#entries.size >= this.#max) this.#entries.delete(this.#entries.keys().next().value!);
    this.#entries.set(key, { value, expiresAt: nowMs + ttlMs });
  }

  get size(): number {
    return this.#entries.size;
  }

  /** The call in flight for `key`, or a new one from `start` (removed from the in-flight table once settled). */
  shared<T>(key: string, start: () => Promise<T>): Promise<T> {
    const running = this.#inflight.get(key) as Promise<T> | undefined;
    if (running !== undefined) return running;
    const p = start().finally(() => this.#inflight.delete(key));
    this.#inflight.set(key, p);
    return p;
  }
}
