// rate-limiting: admits at most `requests` per `per` for each value of a key (consumer, credential, route,
// service, client IP or a header), with a token bucket or a sliding window, enforced by each node and kept
// cluster-accurate by exchanging counters over NATS (docs/configuration.md, "Rate limiting").
import { Type, type Static } from '@sinclair/typebox';
import type { FieldError } from '../errors.js';
import type { PluginType } from './types.js';

export const RateLimitKey = Type.Union([
  Type.Literal('consumer'),
  Type.Literal('credential'),
  Type.Literal('route'),
  Type.Literal('service'),
  Type.Literal('ip'),
  Type.Literal('header'),
]);
export type RateLimitKey = Static<typeof RateLimitKey>;
export const RateLimitPer = Type.Union([Type.Literal('second'), Type.Literal('minute'), Type.Literal('hour'), Type.Literal('day')]);
export type RateLimitPer = Static<typeof RateLimitPer>;
/** Length of each `per` unit in milliseconds. */
export const RATE_LIMIT_PER_MS: Readonly<Record<RateLimitPer, number>> = { second: 1_000, minute: 60_000, hour: 3_600_000, day: 86_400_000 };

export const RateLimit = Type.Object(
  {
    /**
     * What is counted separately: each consumer, credential, route, service, client address (ip) or value of
     * the `header_name` header. A request without the value (no consumer identified, header absent) is
     * counted under one shared key with the others that lack it.
     */
    key: RateLimitKey,
    /** The request header whose value is the key (key `header`), lower-case. */
    header_name: Type.Optional(Type.String({ minLength: 1, maxLength: 256, pattern: "^[a-z0-9!#$%&'*+.^_`|~-]+$" })),
    /** token-bucket: `requests` per `per` sustained, bursts up to `burst`. sliding-window: at most `requests` in any `per`. */
    algorithm: Type.Union([Type.Literal('token-bucket'), Type.Literal('sliding-window')], { default: 'sliding-window' }),
    requests: Type.Integer({ minimum: 1, maximum: 1_000_000_000 }),
    per: RateLimitPer,
    /** token-bucket only: the bucket's size (default `requests`). */
    burst: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000_000 })),
  },
  { additionalProperties: false },
);
export type RateLimit = Static<typeof RateLimit>;

export const RateLimitingConfig = Type.Object(
  {
    /** Every limit must admit a request; a refused request consumes none of them. */
    limits: Type.Array(RateLimit, { minItems: 1, maxItems: 8 }),
    /** Send RateLimit-Limit / -Remaining / -Reset (draft-ietf-httpapi-ratelimit-headers) for the most restrictive limit. */
    headers: Type.Boolean({ default: true }),
    /**
     * `cluster`: the nodes exchange their counts over NATS so the limit holds for the whole cluster (an even
     * local share while NATS is unreachable). `local`: each node enforces the whole limit by itself.
     */
    sync: Type.Union([Type.Literal('cluster'), Type.Literal('local')], { default: 'cluster' }),
  },
  { additionalProperties: false },
);
export type RateLimitingConfig = Static<typeof RateLimitingConfig>;

export function rateLimitingProblems(cfg: RateLimitingConfig): FieldError[] {
  const out: FieldError[] = [];
  cfg.limits.forEach((l, i) => {
    if (l.key === 'header' && l.header_name === undefined) out.push({ path: `/limits/${i}/header_name`, message: 'is required when key is header' });
    if (l.key !== 'header' && l.header_name !== undefined) out.push({ path: `/limits/${i}/header_name`, message: 'is allowed only when key is header' });
    if (l.algorithm !== 'token-bucket' && l.burst !== undefined) out.push({ path: `/limits/${i}/burst`, message: 'is allowed only with algorithm token-bucket' });
  });
  return out;
}

export const rateLimitingPlugin: PluginType<typeof RateLimitingConfig> = {
  name: 'rate-limiting',
  description:
    'Refuses (429 TP_ERR_RATE_LIMITED, with Retry-After) a request over any of its limits (per consumer, credential, route, service, client IP or header; token bucket or sliding window), cluster-wide.',
  config: RateLimitingConfig,
  // Consumer-scoped instances override the route's (e.g. a higher limit for one consumer).
  scopes: ['global', 'service', 'route', 'consumer'],
  phase: 'access',
  problems: rateLimitingProblems,
};
