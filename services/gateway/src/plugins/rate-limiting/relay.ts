// Rate-limit sync with proxy worker threads (TP_WORKERS > 1): each worker keeps its own limiters and takes
// part in the cluster's exchange as a node of its own (`<node id>/w<index>`), its messages relayed by the
// primary thread, which holds the NATS connection: a worker's message goes to NATS and to the node's other
// workers; a peer's message from NATS goes to every worker. The primary also tells the workers whether its
// channel is up, so that they fall back to the local share as a single-threaded node would.
import type { RateLimitSyncChannel, RateLimitSyncMessage, SyncSubscription } from './sync.js';

/** How often the primary tells the workers whether the channel is up. */
const LINK_PERIOD_MS = 250;

/** The worker's side: a sync channel over the worker's MessagePort. */
export class WorkerSyncChannel implements RateLimitSyncChannel {
  #up = true;
  #cb: ((m: RateLimitSyncMessage) => void) | null = null;
  constructor(readonly send: (m: RateLimitSyncMessage) => void) {}

  connected(): boolean {
    return this.#up;
  }

  publish(m: RateLimitSyncMessage): boolean {
    if (!this.#up) return false;
    this.send(m);
    return true;
  }

  subscribe(cb: (m: RateLimitSyncMessage) => void): SyncSubscription {
    this.#cb = cb;
    return { stop: () => void (this.#cb = null) };
  }

  /** A message the primary relayed. */
  deliver(m: RateLimitSyncMessage): void {
    this.#cb?.(m);
  }

  /** The primary's channel went up or down. */
  link(up: boolean): void {
    this.#up = up;
  }
}

export interface RelayTargets {
  /** Posts `m` to every worker but `except` (-1: all). */
  toWorkers(m: RateLimitSyncMessage, except: number): void;
  /** Posts the channel's state to every worker. */
  link(up: boolean): void;
}

/** The primary's side. */
export class RateLimitRelay {
  readonly #channel: RateLimitSyncChannel | null;
  readonly #workersPrefix: string;
  readonly #to: RelayTargets;
  #sub: SyncSubscription | null = null;
  #timer: NodeJS.Timeout | null = null;

  /** `channel` null: the workers sync among themselves only (embedded mode). */
  constructor(channel: RateLimitSyncChannel | null, nodeId: string, to: RelayTargets) {
    this.#channel = channel;
    this.#workersPrefix = `${nodeId}/`;
    this.#to = to;
  }

  start(): void {
    if (this.#timer) return;
    // NATS echoes this node's publishes: its own workers already had them from fromWorker().
    this.#sub = this.#channel?.subscribe((m) => void (m.n.startsWith(this.#workersPrefix) ? undefined : this.#to.toWorkers(m, -1))) ?? null;
    this.#timer = setInterval(() => this.#to.link(this.#channel === null || this.#channel.connected()), LINK_PERIOD_MS);
    this.#timer.unref();
  }

  fromWorker(worker: number, m: RateLimitSyncMessage): void {
    this.#to.toWorkers(m, worker);
    this.#channel?.publish(m);
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    this.#sub?.stop();
    this.#sub = null;
  }

  /** Worker node ids are `<node id>/w<index>`. */
  static workerNodeId(nodeId: string, index: number): string {
    return `${nodeId}/w${index}`;
  }
}
