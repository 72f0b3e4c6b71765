// request-size-limiting: a per-route body-size limit, with per-consumer overrides looked up once the consumer
// is known. The proxy enforces the limit it returns on Content-Length up front and on bytes while streaming
// (413 TP_ERR_BODY_TOO_LARGE); the node's own limit (TP_MAX_BODY_BYTES) always applies too.
import type { RequestSizeLimitingConfig } from '@turnpike/common';

export interface SizeLimitPolicy {
  /** Limit for callers without a consumer-specific one; Infinity when only consumer-scoped instances exist. */
  maxBodyBytes: number;
  /** Consumer id → limit (consumer-scoped instances, most specific already chosen); null for none. */
  byConsumer: ReadonlyMap<string, number> | null;
}

export function compileSizeLimit(cfg: RequestSizeLimitingConfig): SizeLimitPolicy {
  return { maxBodyBytes: cfg.max_body_bytes, byConsumer: null };
}

/** The body limit for one request: one map lookup at most. `consumerId` is '' before/without authentication. */
export function bodyLimitFor(policy: SizeLimitPolicy, consumerId: string, nodeMax: number): number {
  let limit = policy.maxBodyBytes;
  if (policy.byConsumer !== null && consumerId !== '') {
    const own = policy.byConsumer.get(consumerId);
    if (own !== undefined) limit = own;
  }
  return limit < nodeMax ? limit : nodeMax;
}
