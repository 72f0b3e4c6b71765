// Publishes this node's heartbeat: on a timer, right after each config swap (beat()), and a last one with
// ready:false when the node closes. It only reads state the node already keeps; nothing on the hot path.
import type { HeartbeatChannel, NodeHeartbeat } from '@turnpike/common';

export interface HeartbeatReporterOptions {
  channel: HeartbeatChannel;
  /** The node's current state, read at each beat. */
  read: () => Omit<NodeHeartbeat, 'ts' | 'interval_ms'>;
  /** Period of the timer; 0 sends only the swap and close beats. */
  intervalMs: number;
  now?: () => number;
}

export class HeartbeatReporter {
  readonly #o: HeartbeatReporterOptions;
  #timer: NodeJS.Timeout | null = null;
  #stopped = false;

  constructor(o: HeartbeatReporterOptions) {
    this.#o = o;
    if (o.intervalMs > 0) {
      this.#timer = setInterval(() => this.beat(), o.intervalMs);
      this.#timer.unref();
    }
  }

  /** Sends the current state now. */
  beat(): void {
    if (this.#stopped) return;
    this.#send({});
  }

  /** Stops the timer and sends a final heartbeat that says the node is no longer ready. */
  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    this.#send({ ready: false });
  }

  #send(override: Partial<NodeHeartbeat>): void {
    let hb: NodeHeartbeat;
    try {
      hb = { ...this.#o.read(), ts: (this.#o.now ?? Date.now)(), interval_ms: this.#o.intervalMs, ...override };
    } catch {
      return; // Reporting must never disturb the node.
    }
    this.#o.channel.publish(hb);
  }
}
