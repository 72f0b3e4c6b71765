// Request coalescing: while one request fetches a key from the upstream (the fill), other misses for that
// key wait for its outcome instead of fetching too. Waiting is bounded: a fill that has not finished within
// its timeout releases its waiters (they go to the upstream) and lets the next miss start a new fill.
import type { CacheEntry } from './store.js';

type Waiter = (e: CacheEntry | null) => void;

export interface Fill {
  readonly key: string;
  waiters: Waiter[];
  timer: NodeJS.Timeout | null;
  done: boolean;
}

export class Coalescer {
  readonly #fills = new Map<string, Fill>();

  /** Starts a fill for `key`; null when one is already running (wait for it instead). */
  begin(key: string, timeoutMs: number): Fill | null {
    if (this.#fills.has(key)) return null;
    const fill: Fill = { key, waiters: [], timer: null, done: false };
    fill.timer = setTimeout(() => this.finish(fill, null), timeoutMs);
    fill.timer.unref();
    this.#fills.set(key, fill);
    return fill;
  }

  /** Resolves with the fill's stored entry, or null (not stored, failed, timed out); null when no fill runs. */
  wait(key: string): Promise<CacheEntry | null> | null {
    const fill = this.#fills.get(key);
    if (fill === undefined) return null;
    return new Promise((resolve) => fill.waiters.push(resolve));
  }

  /** The fill's outcome (once; later calls do nothing): every waiter hears it. */
  finish(fill: Fill, entry: CacheEntry | null): void {
    if (fill.done) return;
    fill.done = true;
    if (fill.timer !== null) clearTimeout(fill.timer);
    if (this.#fills.get(fill.key) === fill) this.#fills.delete(fill.key);
    const waiters = fill.waiters;
    fill.waiters = [];
    for (const w of waiters) w(entry);
  }

  get size(): number {
    return this.#fills.size;
  }
}
