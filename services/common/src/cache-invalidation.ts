// Cache invalidations: the control plane asks every gateway node to drop proxy-cache entries of a service,
// a route, or under a path prefix. Core NATS pub/sub carries them in a cluster (a node that misses one was
// not running, so it holds no entries to drop: nothing is persisted), an in-process channel in the embedded
// `turnpike up`.

/** What to drop; exactly one of service_id, route_id, prefix. */
export interface CacheInvalidation {
  /** Random id, for logs. */
  id: string;
  cluster: string;
  service_id?: string;
  route_id?: string;
  /** Path prefix (`/v1/products`): entries whose request path starts with it. */
  prefix?: string;
  /**
   * With `prefix`: the services of the tenant that asked; entries of other tenants' services are kept (the
   * gateway knows no tenants, the control plane resolves them).
   */
  service_ids?: string[];
}

export interface CacheInvalidationSubscription {
  stop(): void;
}

/** What a publisher sends: the channel stamps its cluster. */
export type CacheInvalidationRequest = Omit<CacheInvalidation, 'cluster'>;

export interface CacheInvalidationChannel {
  /** Resolves once the server has the message; rejects (TP_ERR_UNAVAILABLE) when it cannot be sent (NATS down). */
  publish(inv: CacheInvalidationRequest): Promise<void>;
  /** Only well-formed invalidations of this channel's cluster reach `cb`. */
  subscribe(cb: (inv: CacheInvalidation) => void): CacheInvalidationSubscription;
}

export function cacheInvalidationSubject(cluster: string): string {
  return `turnpike.cache.${cluster}.invalidate`;
}

const MAX_SERVICE_IDS = 100_000;
const isId = (v: unknown): v is string => typeof v === 'string' && v.length > 0 && v.length <= 64;

/** An invalidation from the wire, checked field by field; null when anything is off (it is then ignored). */
export function parseCacheInvalidation(v: unknown): CacheInvalidation | null {
  if (typeof v !== 'object' || v === null) return null;
  const o = v as Record<string, unknown>;
  if (!isId(o.id) || typeof o.cluster !== 'string' || o.cluster === '') return null;
  const out: CacheInvalidation = { id: o.id, cluster: o.cluster };
  let targets = 0;
  if (o.service_id !== undefined) {
    if (!isId(o.service_id)) return null;
    out.service_id = o.service_id;
    targets++;
  }
  if (o.route_id !== undefined) {
    if (!isId(o.route_id)) return null;
    out.route_id = o.route_id;
    targets++;
  }
  if (o.prefix !== undefined) {
    if (typeof o.prefix !== 'string' || !o.prefix.startsWith('/') || o.prefix.length > 2048) return null;
    out.prefix = o.prefix;
    targets++;
    if (o.service_ids !== undefined) {
      if (!Array.isArray(o.service_ids) || o.service_ids.length > MAX_SERVICE_IDS || !o.service_ids.every(isId)) return null;
      out.service_ids = o.service_ids as string[];
    }
  }
  return targets === 1 ? out : null;
}

export { InProcessCacheInvalidationChannel } from './cache-invalidation/in-process.js';
export { NatsCacheInvalidationChannel } from './cache-invalidation/nats.js';
