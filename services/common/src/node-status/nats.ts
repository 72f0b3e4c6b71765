// Heartbeats over NATS core pub/sub on `turnpike.nodes.<cluster>.heartbeat`. The connection comes from a
// getter because its owner (e.g. the gateway's config source) connects and reconnects in the background.
import type { NatsConnection } from '@nats-io/transport-node';
import { subscribeJson } from '../nats-subscription.js';
import { nodeHeartbeatSubject, parseHeartbeat, type HeartbeatChannel, type HeartbeatSubscription, type NodeHeartbeat } from '../node-status.js';

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
    return subscribeJson(this.connection, this.#subject, (v) => {
      const hb = parseHeartbeat(v);
      return hb && hb.cluster === this.cluster ? hb : null;
    }, cb);
  }

}
