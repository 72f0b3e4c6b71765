// In-process cache invalidation channel for the embedded all-in-one: the gateway and the control plane share it.
import type { CacheInvalidation, CacheInvalidationChannel, CacheInvalidationRequest, CacheInvalidationSubscription } from '../cache-invalidation.js';

export class InProcessCacheInvalidationChannel implements CacheInvalidationChannel {
  readonly #subscribers = new Set<(inv: CacheInvalidation) => void>();

  constructor(readonly cluster = 'default') {}

  async publish(inv: CacheInvalidationRequest): Promise<void> {
    // Delivered asynchronously and as a copy, like a message off the wire.
    const text = JSON.stringify({ ...inv, cluster: this.cluster } satisfies CacheInvalidation);
    queueMicrotask(() => {
      for (const cb of this.#subscribers) {
        try {
          cb(JSON.parse(text) as CacheInvalidation);
        } catch {
          // One subscriber's failure must not stop delivery to the others.
        }
      }
    });
  }

  subscribe(cb: (inv: CacheInvalidation) => void): CacheInvalidationSubscription {
    this.#subscribers.add(cb);
    return { stop: () => void this.#subscribers.delete(cb) };
  }
}
