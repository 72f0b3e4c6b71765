// A bounded set of request ids inserted recently: a redelivered batch is acknowledged without
// re-inserting rows that FINAL would have to collapse anyway. Oldest ids fall out first.
export class RecentIds {
  readonly #set = new Set<string>();
  readonly #ring: (string | undefined)[];
  #next = 0;

  constructor(readonly capacity: number) {
    this.#ring = new Array<string | undefined>(Math.max(1, capacity));
  }

  has(id: string): boolean {
    return this.#set.has(id);
  }

  add(id: string): void {
    if (this.#set.has(id)) return;
    const old = this.#ring[this.#next];
    if (old !== undefined) this.#set.delete(old);
    this.#ring[this.#next] = id;
    this.#next = (this.#next + 1) % this.#ring.length;
    this.#set.add(id);
  }

  get size(): number {
    return this.#set.size;
  }
}
