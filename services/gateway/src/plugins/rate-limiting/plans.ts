// Usage-plan rate limits: a consumer's approved subscription to a service under a plan with `rate_limit`
// (`subscriptions.<id>` → plan_id → `plans.<id>`) limits that consumer on that service with a token bucket
// (`requests` per `per`, bursts up to `burst`), cluster-synced like a rate-limiting instance. Rebuilt by the
// config compiler when a subscription or plan changed; the limiters live in the thread's registry, so a
// rebuild with the same plan settings keeps the counts.
import { compileRateLimit, type RateLimitPolicy } from './index.js';
import type { RateLimitRegistry } from './registry.js';

interface PlanRateLimit {
  requests: number;
  per: 'second' | 'minute' | 'hour';
  burst?: number;
}

function planRateLimitOf(data: unknown): PlanRateLimit | null {
  const rl = (data as { rate_limit?: unknown } | null)?.rate_limit as Partial<PlanRateLimit> | null | undefined;
  if (typeof rl !== 'object' || rl === null) return null;
  if (typeof rl.requests !== 'number' || !(rl.requests >= 1) || (rl.per !== 'second' && rl.per !== 'minute' && rl.per !== 'hour')) return null;
  if (rl.burst !== undefined && !(typeof rl.burst === 'number' && rl.burst >= 1)) return null;
  return { requests: rl.requests, per: rl.per, ...(rl.burst !== undefined ? { burst: rl.burst } : {}) };
}

export class PlanRateLimitTable {
  #byPair = new Map<string, RateLimitPolicy>();

  rebuild(subscriptions: Iterable<{ data: unknown }>, plans: Iterable<{ id: string; data: unknown }>, registry: RateLimitRegistry | undefined): void {
    const limits = new Map<string, PlanRateLimit>();
    for (const p of plans) {
      const rl = planRateLimitOf(p.data);
      if (rl !== null) limits.set(p.id.toLowerCase(), rl);
    }
    const next = new Map<string, RateLimitPolicy>();
    // One policy per (plan, service): a consumer subscribed to two services under one plan has a bucket on each.
    const byPlanService = new Map<string, RateLimitPolicy>();
    for (const s of subscriptions) {
      const d = s.data as { consumer_id?: unknown; service_id?: unknown; plan_id?: unknown; status?: unknown };
      if (d.status !== 'approved' || typeof d.plan_id !== 'string' || typeof d.consumer_id !== 'string' || typeof d.service_id !== 'string') continue;
      const plan = d.plan_id.toLowerCase();
      const rl = limits.get(plan);
      if (rl === undefined) continue;
      const service = d.service_id.toLowerCase();
      const ps = `${plan}.${service}`;
      let policy = byPlanService.get(ps);
      if (policy === undefined) {
        policy = compileRateLimit(
          { limits: [{ key: 'consumer', algorithm: 'token-bucket', requests: rl.requests, per: rl.per, ...(rl.burst !== undefined ? { burst: rl.burst } : {}) }], headers: true, sync: 'cluster' },
          `plan:${ps}`,
          registry,
        );
        byPlanService.set(ps, policy);
      }
      next.set(`${d.consumer_id.toLowerCase()}.${service}`, policy);
    }
    this.#byPair = next;
  }

  /** The pair's plan rate limit; undefined when its plan has none (or it has no approved subscription). */
  get(consumerId: string, serviceId: string): RateLimitPolicy | undefined {
    if (this.#byPair.size === 0) return undefined;
    return this.#byPair.get(`${consumerId}.${serviceId}`);
  }

  get size(): number {
    return this.#byPair.size;
  }
}
