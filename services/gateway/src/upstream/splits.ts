// Canary and weighted splits of a service over upstreams, compiled off the hot path. A request whose header
// equals a split's value goes to that split's upstream (first match wins); the others are spread by
// percentage with smooth weighted round-robin, so every 100 requests split exactly by the weights
// (the service's own upstream takes 100 − their sum).
import { SmoothWeightedRoundRobin } from './balancer.js';

export interface HeaderSplit<U> {
  /** Lowercase header name. */
  name: string;
  value: string;
  upstream: U;
}

export class CompiledSplits<U> {
  readonly #headers: readonly HeaderSplit<U>[];
  readonly #weighted: SmoothWeightedRoundRobin<U> | null;

  /** `own`: the service's upstream; `splits` in the order configured. */
  constructor(own: U, splits: readonly { upstream: U; weight: number; header: { name: string; value: string } | null }[]) {
    this.#headers = splits.filter((s) => s.header !== null).map((s) => ({ name: s.header!.name.toLowerCase(), value: s.header!.value, upstream: s.upstream }));
    const sum = splits.reduce((a, s) => a + s.weight, 0);
    this.#weighted =
      sum === 0
        ? null
        : new SmoothWeightedRoundRobin([{ item: own, weight: 100 - sum }, ...splits.filter((s) => s.weight > 0).map((s) => ({ item: s.upstream, weight: s.weight }))]);
  }

  /** The upstream for one request; `req.getHeader` reads a header by lowercase name ('' when absent: uWS). */
  pick(own: U, req: { getHeader(name: string): string }): U {
    const hs = this.#headers;
    for (let i = 0; i < hs.length; i++) {
      const h = hs[i] as HeaderSplit<U>;
      if (req.getHeader(h.name) === h.value) return h.upstream;
    }
    return this.#weighted === null ? own : (this.#weighted.pick() ?? own);
  }
}
