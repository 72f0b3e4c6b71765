// Events in a sliding time window, counted in ten buckets (Hystrix's rolling window): fixed memory whatever
// the threshold, and an add is an index and an increment. The count covers the last window_ms, give or take
// one bucket (a tenth of the window).
const BUCKETS = 10;

export class WindowCounter {
  readonly #bucketMs: number;
  readonly #counts = new Int32Array(BUCKETS);
  /** The bucket number (time / bucketMs) each slot holds; -1 for none. */
  readonly #epochs = new Float64Array(BUCKETS).fill(-1);

  constructor(windowMs: number) {
    this.#bucketMs = Math.max(1, windowMs / BUCKETS);
  }

  /** Records one event at `now` (ms) and returns the count within the window, this one included. */
  add(now: number): number {
    const epoch = Math.floor(now / this.#bucketMs);
    const slot = epoch % BUCKETS;
    if (this.#epochs[slot] !== epoch) {
      this.#epochs[slot] = epoch;
      this.#counts[slot] = 0;
    }
    this.#counts[slot]!++;
    return this.count(now);
  }

  count(now: number): number {
    const epoch = Math.floor(now / this.#bucketMs);
    let n = 0;
    for (let i = 0; i < BUCKETS; i++) if (epoch - (this.#epochs[i] as number) < BUCKETS) n += this.#counts[i] as number;
    return n;
  }

  reset(): void {
    this.#counts.fill(0);
    this.#epochs.fill(-1);
  }
}
