// With worker threads, WebSocket API connections live in the workers while the node's NATS connection lives
// in the primary: a worker's management call for a connection it does not hold goes to the primary
// (`WorkerWsApiRemote`), which runs it on the owning worker or forwards it to the owning node; the primary's
// requests to a worker are answered from that worker's registry (`WorkerOps`, kept by the worker pool).
import type { ConnectionOwner } from './connection-id.js';
import type { WsApiOp, WsApiReply } from './cluster.js';

/** Longer than the primary's own NATS wait (5 s): a timeout there comes back as its 504 first. */
const RELAY_TIMEOUT_MS = 6_000;

interface Pending {
  resolve: (r: WsApiReply) => void;
  timer: ReturnType<typeof setTimeout>;
}

/** Request/reply over a MessagePort-like `post`, matched by sequence number, each bounded by a timeout. */
export class RelayRequests<M> {
  #seq = 0;
  readonly #pending = new Map<number, Pending>();

  constructor(readonly post: (id: number, m: M) => boolean | void) {}

  request(m: M): Promise<WsApiReply> {
    const id = ++this.#seq;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        resolve({ status: 504 });
      }, RELAY_TIMEOUT_MS);
      timer.unref();
      this.#pending.set(id, { resolve, timer });
      // The other side is gone (a worker that exited): none of its connections is open.
      if (this.post(id, m) === false) this.deliver(id, { status: 410 });
    });
  }

  deliver(id: number, r: WsApiReply): void {
    const p = this.#pending.get(id);
    if (p === undefined) return;
    this.#pending.delete(id);
    clearTimeout(p.timer);
    p.resolve(r);
  }

  /** Answers everything still waiting (the other side ended). */
  failAll(status: number): void {
    for (const id of [...this.#pending.keys()]) this.deliver(id, { status });
  }
}

/** A worker's way to the primary: the owner and the operation, answered by the primary. */
export type WorkerWsApiRemote = RelayRequests<{ owner: ConnectionOwner; op: WsApiOp }>;
