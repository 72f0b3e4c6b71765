// In-process ConfigBus for the embedded all-in-one (`turnpike up`): same semantics as the KV bucket.
import type { ConfigBus, ConfigEvent, ConfigWatch, ConfigWatchHandlers } from './types.js';

export class InProcessConfigBus implements ConfigBus {
  #values = new Map<string, string>();
  #watchers = new Set<ConfigWatchHandlers>();
  #seq = 0;

  async put(key: string, value: string): Promise<void> {
    this.#values.set(key, value);
    this.#emit({ op: 'put', key, value, revision: ++this.#seq });
  }

  async delete(key: string): Promise<void> {
    if (!this.#values.delete(key)) return;
    this.#emit({ op: 'del', key, revision: ++this.#seq });
  }

  async get(key: string): Promise<string | null> {
    return this.#values.get(key) ?? null;
  }

  async keys(): Promise<string[]> {
    return [...this.#values.keys()];
  }

  async watch(handlers: ConfigWatchHandlers): Promise<ConfigWatch> {
    // Deliver initial values asynchronously, as the NATS watcher does, then live events.
    const snapshot = [...this.#values];
    queueMicrotask(() => {
      for (const [key, value] of snapshot) handlers.onEvent({ op: 'put', key, value, revision: this.#seq });
      handlers.onInitialDone();
      this.#watchers.add(handlers);
    });
    return {
      stop: async () => {
        this.#watchers.delete(handlers);
      },
    };
  }

  async close(): Promise<void> {
    this.#watchers.clear();
  }

  #emit(ev: ConfigEvent): void {
    for (const w of this.#watchers) {
      try {
        w.onEvent(ev);
      } catch {
        // A watcher's failure is its own; it must not stop delivery to others.
      }
    }
  }
}
