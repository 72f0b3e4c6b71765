// Request/reply between a node's threads over a MessagePort-like `post`: each request gets a sequence number,
// its reply is matched by it, and every request is bounded by a timeout. Used where a worker needs what only the
// primary holds (the budget ledger, the NATS connection) and where the primary asks a worker (WebSocket APIs).

interface Pending<R> {
  resolve: (r: R) => void;
  timer: ReturnType<typeof setTimeout>;
}

export interface RelayOptions<R> {
  timeoutMs: number;
  /** The answer when no reply came within timeoutMs. */
  timedOut: () => R;
  /** The answer when `post` says the other side is gone (returned false). */
  gone: () => R;
}

export class RelayRequests<M, R> {
  #seq = 0;
  readonly #pending = new Map<number, Pending<R>>();

  constructor(
    readonly post: (id: number, m: M) => boolean | void,
    readonly options: RelayOptions<R>,
  ) {}

  request(m: M): Promise<R> {
    const id = ++this.#seq;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        resolve(this.options.timedOut());
      }, this.options.timeoutMs);
      timer.unref();
      this.#pending.set(id, { resolve, timer });
      if (this.post(id, m) === false) this.deliver(id, this.options.gone());
    });
  }

  /** The reply to request `id` (ignored when it timed out already). */
  deliver(id: number, r: R): void {
    const p = this.#pending.get(id);
    if (p === undefined) return;
    this.#pending.delete(id);
    clearTimeout(p.timer);
    p.resolve(r);
  }

  /** Answers everything still waiting with `r` (the other side ended). */
  failAll(r: R): void {
    for (const id of [...this.#pending.keys()]) this.deliver(id, r);
  }
}
