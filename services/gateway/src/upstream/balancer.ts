// Target selection per upstream algorithm. Every balancer is built once per config snapshot, off the hot
// path; `pick` is a table walk or a binary search, never an allocation. An upstream with health checks or a
// circuit breaker gets balancers built with a `guard` (the target's `available` flag): picks skip targets
// that are down. Without one, `pick` is the unguarded walk behind a single branch.
import { ConsistentHashRing } from './hash-ring.js';
import { LeastConnections } from './least-connections.js';
import { WeightedRandom } from './weighted-random.js';

export interface Balancer<T> {
  /** Targets with a positive weight (the only ones ever picked). */
  readonly size: number;
  /**
   * The next target; undefined when none has a positive weight. `key` is the request's hash key for
   * consistent hashing (other algorithms ignore it; a request without one is balanced round-robin).
   */
  pick(key?: string): T | undefined;
}

/** What least-connections reads: the proxy counts the requests in flight on each target here. */
export interface CountsInFlight {
  inFlight: number;
}

export type Algorithm = 'round-robin' | 'least-connections' | 'consistent-hash' | 'random';

/** Whether a target may be picked now; null: every target always may. Must not allocate. */
export type Guard<T> = ((item: T) => boolean) | null;

/**
 * `id` identifies a target on the hash ring (its origin), so that a target keeps its place across changes.
 * `guard`: see Guard; picks return undefined when no target passes it.
 */
export function createBalancer<T extends CountsInFlight>(
  algorithm: Algorithm,
  entries: readonly { item: T; weight: number; id: string }[],
  guard: Guard<T> = null,
): Balancer<T> {
  switch (algorithm) {
    case 'least-connections':
      return new LeastConnections(entries, guard);
    case 'consistent-hash':
      return new ConsistentHashRing(entries, new SmoothWeightedRoundRobin(entries, guard), guard);
    case 'random':
      return new WeightedRandom(entries, Math.random, guard);
    default:
      return new SmoothWeightedRoundRobin(entries, guard);
  }
}

// Smooth weighted round-robin (nginx's algorithm): each pick adds every weight to its running score,
// takes the highest score, and subtracts the total from it. Spreads picks evenly: weights 5,1,1 give
// a a b a c a a, not a a a a a b c.

export class SmoothWeightedRoundRobin<T> implements Balancer<T> {
  readonly #items: T[];
  readonly #weights: Int32Array;
  readonly #current: Int32Array;
  readonly #total: number;

  constructor(
    entries: readonly { item: T; weight: number }[],
    private readonly guard: Guard<T> = null,
  ) {
    const live = entries.filter((e) => e.weight > 0);
    this.#items = live.map((e) => e.item);
    this.#weights = Int32Array.from(live.map((e) => e.weight));
    this.#current = new Int32Array(live.length);
    this.#total = live.reduce((s, e) => s + e.weight, 0);
  }

  get size(): number {
    return this.#items.length;
  }

  /** Undefined when no item has a positive weight. */
  pick(): T | undefined {
    if (this.guard !== null) return this.#pickGuarded(this.guard);
    const n = this.#items.length;
    if (n === 1) return this.#items[0];
    let best = -1;
    let bestScore = 0;
    const cur = this.#current;
    for (let i = 0; i < n; i++) {
      const score = (cur[i] as number) + (this.#weights[i] as number);
      cur[i] = score;
      if (best === -1 || score > bestScore) {
        best = i;
        bestScore = score;
      }
    }
    if (best === -1) return undefined;
    cur[best] = bestScore - this.#total;
    return this.#items[best];
  }

  /** nginx's walk over the eligible peers only: the total is the sum of the weights of those that passed. */
  #pickGuarded(guard: (item: T) => boolean): T | undefined {
    const n = this.#items.length;
    const items = this.#items;
    const cur = this.#current;
    let best = -1;
    let bestScore = 0;
    let total = 0;
    for (let i = 0; i < n; i++) {
      if (!guard(items[i] as T)) continue;
      const w = this.#weights[i] as number;
      const score = (cur[i] as number) + w;
      cur[i] = score;
      total += w;
      if (best === -1 || score > bestScore) {
        best = i;
        bestScore = score;
      }
    }
    if (best === -1) return undefined;
    cur[best] = bestScore - total;
    return items[best];
  }
}
