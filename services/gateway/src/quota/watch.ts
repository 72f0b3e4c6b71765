// Follows the cluster's quota bucket (usage snapshots from the control plane) on the node's NATS
// connection: a fresh watch, initial values first, on every connection and reconnection, as the config
// source does. Events go to `deliver` (the node's table, and its workers) in the bucket's order.
import type { NatsConnection } from '@nats-io/transport-node';
import { NatsKvConfigBus, quotaBucketName, type ConfigBus, type ConfigEvent, type ConfigWatch, type ConfigWatchHandlers } from '@turnpike/common';
import { errMessage, log } from '../log.js';

export class QuotaWatch {
  #watch: ConfigWatch | null = null;
  #watched: NatsConnection | undefined;
  #wasConnected = false;
  #timer: NodeJS.Timeout;
  #closed = false;
  #starting = false;
  #initialDone: () => void = () => undefined;
  /** Resolves once the first watch delivered the bucket's values (the node then starts serving with them). */
  readonly initialized = new Promise<void>((r) => (this.#initialDone = r));

  constructor(
    readonly connection: () => NatsConnection | undefined,
    readonly cluster: string,
    readonly deliver: (events: ConfigEvent[]) => void,
    /** Copies of the quota bucket if this node creates it (TP_NATS_REPLICAS). */
    readonly replicas = 1,
  ) {
    // Polls the connection state (the config source owns the connection and its status stream).
    this.#timer = setInterval(() => this.#check(), 100);
    this.#timer.unref();
    this.#check();
  }

  #check(): void {
    if (this.#closed || this.#starting) return;
    const nc = this.connection();
    const connected = nc !== undefined;
    if (connected && (!this.#wasConnected || nc !== this.#watched)) void this.#start(nc);
    this.#wasConnected = connected;
  }

  async #start(nc: NatsConnection): Promise<void> {
    this.#starting = true;
    try {
      await this.#watch?.stop().catch(() => undefined);
      this.#watch = null;
      const bus = await NatsKvConfigBus.open(nc, quotaBucketName(this.cluster), { replicas: this.replicas });
      const w = await bus.watch(batchedHandlers(this.deliver, () => this.#initialDone()));
      if (this.#closed) await w.stop().catch(() => undefined);
      else {
        this.#watch = w;
        this.#watched = nc;
      }
    } catch (e) {
      // Retried by the next check (JetStream may not be ready right after a server restart).
      this.#wasConnected = false;
      log('warn', 'quota.watch_failed', { error: errMessage(e) });
    } finally {
      this.#starting = false;
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#timer);
    await this.#watch?.stop().catch(() => undefined);
    this.#watch = null;
  }
}

/**
 * The embedded all-in-one's counterpart (`turnpike up`): the control plane in the same process writes the
 * snapshots to an in-process bucket, which this follows with the same delivery.
 */
export class BusQuotaWatch {
  #watch: Promise<ConfigWatch>;
  #initialDone: () => void = () => undefined;
  readonly initialized = new Promise<void>((r) => (this.#initialDone = r));

  constructor(bus: ConfigBus, deliver: (events: ConfigEvent[]) => void) {
    this.#watch = bus.watch(batchedHandlers(deliver, () => this.#initialDone()));
    this.#watch.catch((e: unknown) => log('warn', 'quota.watch_failed', { error: errMessage(e) }));
  }

  async close(): Promise<void> {
    await (await this.#watch.catch(() => null))?.stop().catch(() => undefined);
  }
}

/** Watch handlers that hand the events over in batches (one per event-loop turn), in the bucket's order. */
function batchedHandlers(deliver: (events: ConfigEvent[]) => void, initialDone: () => void): ConfigWatchHandlers {
  let batch: ConfigEvent[] = [];
  let scheduled = false;
  return {
    onEvent: (ev) => {
      batch.push(ev);
      if (scheduled) return;
      scheduled = true;
      setImmediate(() => {
        scheduled = false;
        const events = batch;
        batch = [];
        deliver(events);
      });
    },
    // After the initial values' own delivery (scheduled above with setImmediate).
    onInitialDone: () => setImmediate(initialDone),
  };
}
