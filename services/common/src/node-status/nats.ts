// Heartbeats over NATS core pub/sub on `turnpike.nodes.<cluster>.heartbeat`. The connection comes from a
// getter because its owner (e.g. the gateway's config source) connects and reconnects in the background.
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import { nodeHeartbeatSubject, parseHeartbeat, type HeartbeatChannel, type HeartbeatSubscription, type NodeHeartbeat } from '../node-status.js';

/** How often subscribe() looks again for a connection that is not there yet. */
const RETRY_SUBSCRIBE_MS = 1_000;

export class NatsHeartbeatChannel implements HeartbeatChannel {
  readonly #subject: string;

  constructor(
    readonly connection: () => NatsConnection | undefined,
    readonly cluster: string,
  ) {
    this.#subject = nodeHeartbeatSubject(cluster);
  }

  publish(hb: NodeHeartbeat): void {
    const nc = this.connection();
    // While disconnected the beat is skipped rather than buffered: a stale beat replayed later says
    // nothing true, and the next one follows within one interval.
    if (!nc || nc.isClosed()) return;
    try {
      nc.publish(this.#subject, JSON.stringify(hb));
    } catch {
      // Connection closing under us: same as disconnected.
    }
  }

  subscribe(cb: (hb: NodeHeartbeat) => void): HeartbeatSubscription {
    let sub: Subscription | null = null;
    let timer: NodeJS.Timeout | null = null;
    let stopped = false;
    const attach = (): void => {
      timer = null;
      if (stopped) return;
      const nc = this.connection();
      if (!nc || nc.isClosed()) {
        timer = setTimeout(attach, RETRY_SUBSCRIBE_MS);
        timer.unref();
        return;
      }
      // A core subscription is re-established by the client on every reconnect.
      sub = nc.subscribe(this.#subject, {
        callback: (err, msg) => {
          if (err) return;
          let hb: NodeHeartbeat | null;
          try {
            hb = parseHeartbeat(JSON.parse(msg.string()));
          } catch {
            return;
          }
          if (hb && hb.cluster === this.cluster) cb(hb);
        },
      });
    };
    attach();
    return {
      stop: () => {
        stopped = true;
        if (timer) clearTimeout(timer);
        try {
          sub?.unsubscribe();
        } catch {
          // Already closed with its connection.
        }
      },
    };
  }
}
