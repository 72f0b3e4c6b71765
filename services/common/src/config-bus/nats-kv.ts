// ConfigBus over a NATS JetStream KV bucket (one bucket per cluster, history 1: last value per key).
import { Kvm, type KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import type { ConfigBus, ConfigWatch, ConfigWatchHandlers } from './types.js';

/** How the config and quota buckets are created: the last value per key, on `replicas` servers. */
export function kvBucketOptions(replicas = 1): { history: number; replicas: number } {
  return { history: 1, replicas };
}

export class NatsKvConfigBus implements ConfigBus {
  readonly #kv: KV;

  private constructor(kv: KV) {
    this.#kv = kv;
  }

  /**
   * Opens the bucket, creating it when absent with `replicas` copies (TP_NATS_REPLICAS; default 1). An
   * existing bucket is opened as it is, whatever its replicas.
   */
  static async open(nc: NatsConnection, bucket: string, opts: { replicas?: number } = {}): Promise<NatsKvConfigBus> {
    const kv = await new Kvm(nc).create(bucket, kvBucketOptions(opts.replicas));
    return new NatsKvConfigBus(kv);
  }

  async put(key: string, value: string): Promise<void> {
    await this.#kv.put(key, value);
  }

  async delete(key: string): Promise<void> {
    await this.#kv.delete(key);
  }

  async get(key: string): Promise<string | null> {
    const e = await this.#kv.get(key);
    if (!e || e.operation !== 'PUT') return null;
    return e.string();
  }

  async keys(): Promise<string[]> {
    const out: string[] = [];
    for await (const k of await this.#kv.keys()) out.push(k);
    return out;
  }

  async watch(handlers: ConfigWatchHandlers): Promise<ConfigWatch> {
    // The watcher marks the last initial value (and every later one) `isUpdate`; an empty bucket yields
    // nothing at all, so its emptiness is read first from the stream state.
    const status = await this.#kv.status();
    const iter = await this.#kv.watch();
    let initialDone = false;
    const done = (): void => {
      if (initialDone) return;
      initialDone = true;
      handlers.onInitialDone();
    };
    if (status.values === 0) queueMicrotask(done);
    const pump = (async () => {
      for await (const e of iter) {
        try {
          if (e.operation === 'PUT') handlers.onEvent({ op: 'put', key: e.key, value: e.string(), revision: e.revision });
          else handlers.onEvent({ op: 'del', key: e.key, revision: e.revision });
        } catch {
          // A handler's failure must not stop the watch.
        }
        if (e.isUpdate) done();
      }
    })();
    return {
      stop: async () => {
        iter.stop();
        await pump.catch(() => undefined);
      },
    };
  }

  async close(): Promise<void> {
    // The connection belongs to the caller.
  }
}
