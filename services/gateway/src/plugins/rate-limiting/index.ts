// rate-limiting: a compiled instance's limits (each a Limiter of the thread's RateLimitRegistry, so counts
// survive recompiles and are shared with the cluster's other nodes) and the check the access step runs.
// The step runs after authentication, so `consumer` / `credential` keys see the identified caller. A request
// without the key's value (no consumer identified, the header absent) is counted under the shared key '':
// anonymous callers share one budget rather than going unlimited.
import { RATE_LIMIT_PER_MS, type RateLimitingConfig, type RateLimitKey } from '@turnpike/common';
import { deny, type Denial } from '../pipeline.js';
import type { RequestContext } from '../request-context.js';
import { KeyState, type Limiter, type LimitSpec, type Verdict } from './limiter.js';
import { RateLimitRegistry, type Weighting } from './registry.js';

export { RateLimitRegistry, renderRateLimitMetrics, type RateLimitRegistryOptions, type RateLimitStats } from './registry.js';
export { RateLimitRelay, WorkerSyncChannel } from './relay.js';
export { NatsRateLimitSync, rateLimitSubject, type RateLimitSyncChannel, type RateLimitSyncMessage } from './sync.js';

interface CompiledLimit {
  readonly limiter: Limiter;
  readonly key: RateLimitKey;
  readonly headerName: string;
  /** For messages: "100 per minute by consumer". */
  readonly text: string;
}

export interface RateLimitPolicy {
  readonly limits: readonly CompiledLimit[];
  readonly headers: boolean;
  readonly weighting: Weighting;
  readonly registry: RateLimitRegistry;
}

/**
 * A route's rate limiting: its instance (route > service > global; null for none) and, when consumer-scoped
 * instances exist, the one that replaces it for an identified consumer (consumer + route > consumer +
 * service > consumer).
 */
export interface RateLimitSelection {
  readonly base: RateLimitPolicy | null;
  readonly forConsumer: ((consumerId: string) => RateLimitPolicy | undefined) | null;
}

/** Limiters of policies compiled without a node registry (unit compiles, config tests): local only. */
let fallbackRegistry: RateLimitRegistry | null = null;
export function defaultRateLimitRegistry(): RateLimitRegistry {
  return (fallbackRegistry ??= new RateLimitRegistry({ nodeId: 'local' }));
}

export function compileRateLimit(cfg: RateLimitingConfig, pluginId: string, registry: RateLimitRegistry = defaultRateLimitRegistry()): RateLimitPolicy {
  const synced = cfg.sync !== 'local';
  const limits = cfg.limits.map((l, i): CompiledLimit => {
    const spec: LimitSpec = {
      algorithm: l.algorithm,
      requests: l.requests,
      windowMs: RATE_LIMIT_PER_MS[l.per],
      burst: l.algorithm === 'token-bucket' ? (l.burst ?? l.requests) : l.requests,
    };
    // The settings are part of the id: a changed limit starts afresh (on every node alike), an unchanged one
    // keeps its counts across recompiles.
    const id = `${pluginId}/${i}/${l.key}:${l.header_name ?? ''}/${spec.algorithm}/${spec.requests}/${l.per}/${spec.burst}/${synced ? 'c' : 'l'}`;
    return {
      limiter: registry.limiter(id, spec, synced),
      key: l.key,
      headerName: l.header_name ?? '',
      text: `${l.requests} per ${l.per} by ${l.key === 'header' ? `header ${l.header_name}` : l.key}`,
    };
  });
  return { limits, headers: cfg.headers, weighting: synced ? registry.cluster : registry.local, registry };
}

function keyOf(l: CompiledLimit, ctx: RequestContext): string {
  switch (l.key) {
    case 'consumer':
      return ctx.consumerId;
    case 'credential':
      // key-auth identifies a consumer without a credential id: its key then counts per consumer.
      return ctx.credentialId !== '' ? ctx.credentialId : ctx.consumerId === '' ? '' : `consumer:${ctx.consumerId}`;
    case 'route':
      return ctx.routeId;
    case 'service':
      return ctx.serviceId;
    case 'ip':
      return ctx.clientIp();
    case 'header':
      return ctx.header(l.headerName);
  }
}

// Scratch space of the one check running at a time (the check is synchronous): no allocation per request.
const MAX_LIMITS = 16;
const verdicts: Verdict[] = Array.from({ length: MAX_LIMITS }, () => ({ admitted: false, limit: 0, remaining: 0, resetS: 0, retryS: 0 }));
const states: KeyState[] = new Array<KeyState>(MAX_LIMITS);
const keys: string[] = new Array<string>(MAX_LIMITS).fill('');

/**
 * Admits the request under every limit of `policy` (taking one from each) or refuses it (taking none): null
 * or the 429. Admitted with `headers`: the most restrictive limit's RateLimit-* headers go on the response.
 */
export function checkRateLimit(policy: RateLimitPolicy, ctx: RequestContext): Denial | null {
  const now = ctx.nowMs;
  const { weight, peerFactor } = policy.weighting;
  const limits = policy.limits;
  let refused = -1;
  let retryS = 0;
  let tightest = 0;
  for (let i = 0; i < limits.length; i++) {
    const l = limits[i]!;
    const key = keyOf(l, ctx);
    keys[i] = key;
    const v = verdicts[i]!;
    states[i] = l.limiter.check(key, now, weight, peerFactor, v);
    if (!v.admitted) {
      if (refused < 0 || v.retryS > retryS) {
        refused = i;
        retryS = v.retryS;
      }
    } else if (v.remaining < verdicts[tightest]!.remaining || (v.remaining === verdicts[tightest]!.remaining && v.limit < verdicts[tightest]!.limit)) tightest = i;
  }
  if (refused >= 0) {
    policy.registry.refused++;
    const v = verdicts[refused]!;
    const retry = String(retryS);
    const headers = policy.headers ? ['retry-after', retry, 'ratelimit-limit', String(v.limit), 'ratelimit-remaining', '0', 'ratelimit-reset', retry] : ['retry-after', retry];
    return deny(429, 'TP_ERR_RATE_LIMITED', `rate limit exceeded (${limits[refused]!.text}); retry in ${retry} s`, headers);
  }
  for (let i = 0; i < limits.length; i++) limits[i]!.limiter.take(states[i]!, keys[i]!, now, weight);
  policy.registry.admitted++;
  if (policy.headers) {
    const v = verdicts[tightest]!;
    ctx.addResponseHeaders(['ratelimit-limit', String(v.limit), 'ratelimit-remaining', String(v.remaining), 'ratelimit-reset', String(v.resetS)]);
  }
  return null;
}
