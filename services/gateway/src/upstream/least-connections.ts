// Least connections, weighted: the target with the fewest requests in flight per unit of weight. Ties go to
// the first tied target after the last pick, so idle targets share the load instead of the first taking all.

import type { Balancer, CountsInFlight, Guard } from './balancer.js';

export class LeastConnections<T extends CountsInFlight> implements Balancer<T> {
  readonly #items: T[];
  readonly #weights: Int32Array;
  #next = 0;

  constructor(
    entries: readonly { item: T; weight: number }[],
    private readonly guard: Guard<T> = null,
  ) {
    const live = entries.filter((e) => e.weight > 0);
    this.#items = live.map((e) => e.item);
    this.#weights = Int32Array.from(live.map((e) => e.weight));
  }

  get size(): number {
    return this.#items.length;
  }

  pick(): T | undefined {
    if (this.guard !== null) return this.#pickGuarded(this.guard);
    const n = this.#items.length;
    if (n <= 1) return this.#items[0];
    const items = this.#items;
    const w = this.#weights;
    const start = this.#next;
    let best = start;
    for (let k = 1; k < n; k++) {
      const i = (start + k) % n;
      // active_i / w_i < active_best / w_best, without division.
      if ((items[i] as T).inFlight * (w[best] as number) < (items[best] as T).inFlight * (w[i] as number)) best = i;
    }
    this.#next = (best + 1) % n;
    return items[best];
  }

  #pickGuarded(guard: (item: T) => boolean): T | undefined {
    const n = this.#items.length;
    const items = this.#items;
    const w = this.#weights;
    const start = this.#next;
    let best = -1;
    for (let k = 0; k < n; k++) {
      const i = (start + k) % n;
      if (!guard(items[i] as T)) continue;
      if (best === -1 || (items[i] as T).inFlight * (w[best] as number) < (items[best] as T).inFlight * (w[i] as number)) best = i;
    }
    if (best === -1) return undefined;
    this.#next = (best + 1) % n;
    return items[best];
  }
}
