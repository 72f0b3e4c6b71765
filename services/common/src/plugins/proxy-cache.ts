// proxy-cache: a per-node response cache in front of the upstream (Kong's proxy-cache as the reference).
// Runs after authentication and access checks: keys may include the consumer, and a forced refresh is
// allowed only to the consumers named in `purge`.
import { Type, type Static } from '@sinclair/typebox';
import { Id } from '../schemas/common.js';
import type { FieldError } from '../errors.js';
import type { PluginType } from './types.js';

const HeaderName = Type.String({ pattern: "^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}$" });
// `type/subtype` without parameters; matched case-insensitively against the response's media type.
const MediaType = Type.String({ pattern: "^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,127}/[!#$%&'*+.^_`|~0-9A-Za-z-]{1,127}$" });

export const ProxyCacheConfig = Type.Object(
  {
    /** Request methods answered from the cache; HEAD shares GET's entries. */
    methods: Type.Array(Type.Union([Type.Literal('GET'), Type.Literal('HEAD')]), { minItems: 1, maxItems: 2, uniqueItems: true, default: ['GET', 'HEAD'] }),
    /** Upstream statuses that are stored. */
    status_codes: Type.Array(Type.Integer({ minimum: 100, maximum: 599 }), { minItems: 1, maxItems: 64, uniqueItems: true, default: [200, 301, 404] }),
    /** Media types that are stored (`application/json`; parameters ignored); empty: any, a response without Content-Type too. */
    content_types: Type.Array(MediaType, { maxItems: 64, default: [] }),
    /** Seconds an entry is fresh, unless the response's Cache-Control says otherwise (see cache_control). */
    ttl_s: Type.Integer({ minimum: 1, maximum: 30 * 86400, default: 300 }),
    /** Request headers whose values are part of the key (besides those the response's Vary names). */
    vary_headers: Type.Array(HeaderName, { maxItems: 32, uniqueItems: true, default: [] }),
    /** The query in the key: every parameter (sorted), only `query_params` (sorted), or none. */
    vary_query: Type.Union([Type.Literal('all'), Type.Literal('listed'), Type.Literal('none')], { default: 'all' }),
    /** The parameters in the key when vary_query is `listed` (names as sent, case-sensitive). */
    query_params: Type.Array(Type.String({ minLength: 1, maxLength: 256 }), { maxItems: 64, uniqueItems: true, default: [] }),
    /** Each identified consumer gets its own entries. */
    per_consumer: Type.Boolean({ default: false }),
    /**
     * Respect Cache-Control: a request's `no-store` is not answered from (nor stored in) the cache; a response's
     * `no-store`, `no-cache`, `private` or `max-age=0` is not stored, and its `s-maxage` / `max-age` set the TTL.
     * false: ttl_s always (a Set-Cookie response is still never stored).
     */
    cache_control: Type.Boolean({ default: true }),
    /** Seconds past expiry during which the stale entry is served (X-Cache: STALE) while one request refreshes it; 0: off. */
    stale_while_revalidate_s: Type.Integer({ minimum: 0, maximum: 86400, default: 0 }),
    /** Largest body stored; a larger response is passed through uncached. */
    max_object_bytes: Type.Integer({ minimum: 1, maximum: 64 * 1024 * 1024, default: 1024 * 1024 }),
    /**
     * Concurrent misses for one key wait up to this long for the first one's response instead of each going to
     * the upstream; past it (or when that response is not stored) they go to the upstream. 0: no coalescing.
     */
    coalesce_timeout_ms: Type.Integer({ minimum: 0, maximum: 60_000, default: 5_000 }),
    /**
     * Who may force a refresh of an entry by sending `Cache-Control: no-cache` or `max-age=0`: these consumers,
     * and the members of these consumer groups. Anyone else's such request is answered from the cache.
     */
    purge: Type.Object(
      {
        consumers: Type.Array(Id, { maxItems: 256, uniqueItems: true, default: [] }),
        consumer_groups: Type.Array(Id, { maxItems: 256, uniqueItems: true, default: [] }),
      },
      { additionalProperties: false, default: {} },
    ),
  },
  { additionalProperties: false },
);
export type ProxyCacheConfig = Static<typeof ProxyCacheConfig>;

export function proxyCacheProblems(cfg: ProxyCacheConfig): FieldError[] {
  const out: FieldError[] = [];
  if (cfg.vary_query === 'listed' && cfg.query_params.length === 0) out.push({ path: '/query_params', message: 'must list at least one parameter when vary_query is "listed"' });
  if (cfg.vary_query !== 'listed' && cfg.query_params.length > 0) out.push({ path: '/query_params', message: 'is used only when vary_query is "listed"' });
  const seen = new Set<string>();
  cfg.vary_headers.forEach((h, i) => {
    const lower = h.toLowerCase();
    if (seen.has(lower)) out.push({ path: `/vary_headers/${i}`, message: 'is listed twice (header names are case-insensitive)' });
    seen.add(lower);
  });
  return out;
}

export const proxyCachePlugin: PluginType<typeof ProxyCacheConfig> = {
  name: 'proxy-cache',
  description:
    'Caches upstream responses per node (LRU bounded by TP_CACHE_MAX_BYTES) and answers repeated requests from it with X-Cache: HIT; ' +
    'respects Cache-Control and Vary, coalesces concurrent misses, optionally serves stale entries while one request refreshes them.',
  config: ProxyCacheConfig,
  // Not per consumer: per_consumer keys entries by consumer instead.
  scopes: ['global', 'service', 'route'],
  phase: 'access',
  problems: proxyCacheProblems,
};
