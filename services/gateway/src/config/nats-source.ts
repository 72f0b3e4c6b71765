// Feeds the ConfigManager from the cluster's KV bucket. Connects forever in the background; on every
// (re)connect a fresh watch delivers a full initial snapshot that replaces the node's config.
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { NatsKvConfigBus, configBucketName, type ConfigWatch } from '@turnpike/common';
import type { ConfigWatchHandlers } from '@turnpike/common';

/** Where a watch's events go: the ConfigManager, or the primary's fan-out to its workers (src/node/). */
export interface WatchTarget {
  newWatchSession(): ConfigWatchHandlers;
}
import { errMessage, log } from '../log.js';

export class NatsConfigSource {
  #nc: NatsConnection | undefined;
  #connected = false;
  #watch: ConfigWatch | null = null;
  #closed = false;
  #watchGen = 0;

  constructor(
    /** One server, or several of one NATS cluster (the client takes any that answers and fails over). */
    readonly url: string | readonly string[],
    readonly cluster: string,
    readonly nodeId: string,
    readonly manager: WatchTarget,
    /** Copies of the config bucket if this node creates it (TP_NATS_REPLICAS). */
    readonly replicas = 1,
  ) {}

  get connection(): NatsConnection | undefined {
    return this.#connected ? this.#nc : undefined;
  }

  get connected(): boolean {
    return this.#connected;
  }

  /** Returns at once; connection and watch happen in the background. */
  start(): void {
    void this.#run();
  }

  async #run(): Promise<void> {
    // Our own first-connect loop (rather than waitOnFirstConnect) so that close() can stop it.
    let nc: NatsConnection | undefined;
    for (let attempt = 0; !this.#closed && !nc; attempt++) {
      try {
        nc = await connect({
          servers: typeof this.url === 'string' ? this.url : [...this.url],
          name: `turnpike-gateway-${this.nodeId}`,
          maxReconnectAttempts: -1,
          reconnectTimeWait: 500,
          pingInterval: 5_000,
          maxPingOut: 2,
          // No stack captured per request: every call-log batch is a JetStream publish (a request), and the
          // capture measured 1.6 % of a proxy thread's CPU at 56,000 cache hits/s. Errors keep their message.
          noAsyncTraces: true,
        });
      } catch (e) {
        if (attempt === 0) log('warn', 'nats.unreachable', { url: this.url, error: errMessage(e), msg: 'retrying in the background' });
        await new Promise((r) => setTimeout(r, Math.min(2_000, 250 * 2 ** Math.min(attempt, 3))));
      }
    }
    if (!nc) return;
    if (this.#closed) {
      await nc.close().catch(() => undefined);
      return;
    }
    this.#nc = nc;
    this.#connected = true;
    log('info', 'nats.connected', { server: nc.getServer() });
    void this.#startWatch();
    void (async () => {
      for await (const s of nc.status()) {
        if (s.type === 'disconnect') {
          this.#connected = false;
          log('warn', 'nats.disconnected', {});
        } else if (s.type === 'reconnect') {
          this.#connected = true;
          log('info', 'nats.reconnected', {});
          void this.#startWatch();
        }
      }
    })().catch(() => undefined);
  }

  async #startWatch(): Promise<void> {
    const gen = ++this.#watchGen;
    const old = this.#watch;
    this.#watch = null;
    if (old) await old.stop().catch(() => undefined);
    for (let attempt = 0; !this.#closed && gen === this.#watchGen; attempt++) {
      const nc = this.#nc;
      if (!nc || !this.#connected) return;
      try {
        const bus = await NatsKvConfigBus.open(nc, configBucketName(this.cluster), { replicas: this.replicas });
        const w = await bus.watch(this.manager.newWatchSession());
        if (gen !== this.#watchGen || this.#closed) {
          await w.stop().catch(() => undefined);
          return;
        }
        this.#watch = w;
        return;
      } catch (e) {
        // JetStream may not be ready right after a server restart.
        log('warn', 'config.watch_failed', { error: errMessage(e), attempt });
        await new Promise((r) => setTimeout(r, Math.min(5_000, 200 * 2 ** attempt)));
      }
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#watchGen++;
    const w = this.#watch;
    this.#watch = null;
    if (w) await w.stop().catch(() => undefined);
    const nc = this.#nc;
    this.#nc = undefined;
    this.#connected = false;
    if (nc) await nc.drain().catch(() => nc.close().catch(() => undefined));
  }
}
