// Weighted random: a uniform draw over the cumulative weights, found by binary search.

import type { Balancer } from './balancer.js';

export class WeightedRandom<T> implements Balancer<T> {
  readonly #items: T[];
  /** Running totals of the weights: item i owns [cumulative[i-1], cumulative[i]). */
  readonly #cumulative: Float64Array;
  readonly #total: number;

  constructor(entries: readonly { item: T; weight: number }[], private readonly random: () => number = Math.random) {
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
    if (n <= 1) return this.#items[0];
    const x = this.random() * this.#total;
    const c = this.#cumulative;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((c[mid] as number) > x) hi = mid;
      else lo = mid + 1;
    }
    return this.#items[lo];
  }
}
