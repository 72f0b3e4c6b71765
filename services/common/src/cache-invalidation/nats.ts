// Cache invalidations over NATS core pub/sub on `turnpike.cache.<cluster>.invalidate`. The connection comes
// from a getter because its owner (e.g. the gateway's config source) connects and reconnects in the background.
import type { NatsConnection } from '@nats-io/transport-node';
import { subscribeJson } from '../nats-subscription.js';
import { TurnpikeError } from '../errors.js';
import {
  cacheInvalidationSubject,
  parseCacheInvalidation,
  type CacheInvalidation,
  type CacheInvalidationChannel,
  type CacheInvalidationRequest,
  type CacheInvalidationSubscription,
} from '../cache-invalidation.js';

export class NatsCacheInvalidationChannel implements CacheInvalidationChannel {
  readonly #subject: string;

  constructor(
    readonly connection: () => NatsConnection | undefined,
    readonly cluster: string,
  ) {
    this.#subject = cacheInvalidationSubject(cluster);
  }

  async publish(inv: CacheInvalidationRequest): Promise<void> {
    const nc = this.connection();
    // Refused rather than buffered by the client: the caller is told the nodes were not reached.
    if (!nc || nc.isClosed()) throw new TurnpikeError('TP_ERR_UNAVAILABLE', 'the cluster bus (NATS) is not connected: the invalidation was not sent');
    const msg: CacheInvalidation = { ...inv, cluster: this.cluster };
    try {
      nc.publish(this.#subject, JSON.stringify(msg));
      // Flushed: "accepted" means the server has it, not that it sits in a client buffer.
      await nc.flush();
    } catch (e) {
      throw new TurnpikeError('TP_ERR_UNAVAILABLE', `the invalidation could not be sent on the cluster bus (NATS): ${(e as Error).message}`);
    }
  }

  subscribe(cb: (inv: CacheInvalidation) => void): CacheInvalidationSubscription {
    // Attached within 50 ms of the connection: entries cached before it would miss an invalidation.
    return subscribeJson(this.connection, this.#subject, (v) => {
      const inv = parseCacheInvalidation(v);
      return inv && inv.cluster === this.cluster ? inv : null;
    }, cb);
  }

}
