// Cache invalidations over NATS core pub/sub on `turnpike.cache.<cluster>.invalidate`. The connection comes
// from a getter because its owner (e.g. the gateway's config source) connects and reconnects in the background.
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import { TurnpikeError } from '../errors.js';
import {
  cacheInvalidationSubject,
  parseCacheInvalidation,
  type CacheInvalidation,
  type CacheInvalidationChannel,
  type CacheInvalidationRequest,
  type CacheInvalidationSubscription,
} from '../cache-invalidation.js';

/**
 * How often subscribe() looks again for a connection that is not there yet: short, because entries a node
 * caches before its subscription is attached would miss an invalidation sent meanwhile.
 */
const RETRY_SUBSCRIBE_MS = 50;

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
          let inv: CacheInvalidation | null;
          try {
            inv = parseCacheInvalidation(JSON.parse(msg.string()));
          } catch {
            return;
          }
          if (inv && inv.cluster === this.cluster) cb(inv);
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
