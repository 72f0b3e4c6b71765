// Weighted random: a uniform draw over the cumulative weights, found by binary search.

import type { Balancer, Guard } from './balancer.js';

export class WeightedRandom<T> implements Balancer<T> {
  readonly #items: T[];
  /** Running totals of the weights: item i owns [cumulative[i-1], cumulative[i]). */
  readonly #cumulative: Float64Array;
  readonly #total: number;

  constructor(
    entries: readonly { item: T; weight: number }[],
    private readonly random: () => number = Math.random,
    private readonly guard: Guard<T> = null,
  ) {
    const live = entries.filter((e) => e.weight > 0);
    this.#items = live.map((e) => e.item);
    this.#cumulative = new Float64Array(live.length);
    let sum = 0;
    live.forEach((e, i) => {
      sum += e.weight;
      this.#cumulative[i] = sum;
    });
    this.#total = sum;
  }

  get size(): number {
    return this.#items.length;
  }

  pick(): T | undefined {
    const n = this.#items.length;
    let item: T | undefined;
    if (n <= 1) item = this.#items[0];
    else {
      const x = this.random() * this.#total;
      const c = this.#cumulative;
      let lo = 0;
      let hi = n - 1;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if ((c[mid] as number) > x) hi = mid;
        else lo = mid + 1;
      }
      item = this.#items[lo];
    }
    if (this.guard === null || item === undefined || this.guard(item)) return item;
    return this.#pickAmongAvailable(this.guard);
  }

  /** The drawn target is down: draw again over the weights of those that are up (a linear walk). */
  #pickAmongAvailable(guard: (item: T) => boolean): T | undefined {
    const items = this.#items;
    const c = this.#cumulative;
    let total = 0;
    for (let i = 0; i < items.length; i++) if (guard(items[i] as T)) total += (c[i] as number) - (i === 0 ? 0 : (c[i - 1] as number));
    if (total === 0) return undefined;
    let x = this.random() * total;
    for (let i = 0; i < items.length; i++) {
      if (!guard(items[i] as T)) continue;
      x -= (c[i] as number) - (i === 0 ? 0 : (c[i - 1] as number));
      if (x < 0) return items[i];
    }
    // Rounding at the top end: the last available one.
    for (let i = items.length - 1; i >= 0; i--) if (guard(items[i] as T)) return items[i];
    return undefined;
  }
}
