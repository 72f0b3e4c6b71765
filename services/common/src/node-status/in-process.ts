// In-process heartbeat channel for the embedded all-in-one: the gateway and the control plane share it.
import type { HeartbeatChannel, HeartbeatSubscription, NodeHeartbeat } from '../node-status.js';

export class InProcessHeartbeatChannel implements HeartbeatChannel {
  readonly #subscribers = new Set<(hb: NodeHeartbeat) => void>();

  publish(hb: NodeHeartbeat): void {
    // Delivered asynchronously and as a copy, like a message off the wire: a subscriber never runs
    // inside the publisher's call and cannot change what the publisher holds.
    const copy = { ...hb };
    queueMicrotask(() => {
      for (const cb of this.#subscribers) {
        try {
          cb({ ...copy });
        } catch {
          // One subscriber's failure must not stop delivery to the others.
        }
      }
    });
  }

  subscribe(cb: (hb: NodeHeartbeat) => void): HeartbeatSubscription {
    this.#subscribers.add(cb);
    return { stop: () => void this.#subscribers.delete(cb) };
  }
}
