// The request quotas of each consumer/service pair, compiled from config: an approved subscription's plan
// (`subscriptions.<id>` → plan_id → `plans.<id>` quotas). Rebuilt when a subscription or plan changes (the
// caller tracks that); only pairs whose plan limits requests are kept, so the table stays small.
import type { QuotaPeriodName } from '@turnpike/common';

export interface CompiledQuota {
  readonly period: QuotaPeriodName;
  /** Requests admitted per period. */
  readonly requests: number;
}

export interface PairQuotas {
  /** quotaUsageKey(consumer, service): where the pair's usage is kept. */
  readonly key: string;
  readonly quotas: readonly CompiledQuota[];
}

export class QuotaPlanTable {
  #byPair = new Map<string, PairQuotas>();

  /** `subscriptions`, `plans`: the parsed config entries (data objects as the control plane published them). */
  rebuild(subscriptions: Iterable<{ data: unknown }>, plans: Iterable<{ id: string; data: unknown }>): void {
    const planQuotas = new Map<string, CompiledQuota[]>();
    for (const p of plans) {
      const quotas = (p.data as { quotas?: unknown }).quotas;
      if (!Array.isArray(quotas)) continue;
      const list: CompiledQuota[] = [];
      for (const q of quotas as { period?: unknown; requests?: unknown }[]) {
        if ((q.period === 'day' || q.period === 'week' || q.period === 'month') && typeof q.requests === 'number' && q.requests > 0) list.push(Object.freeze({ period: q.period, requests: q.requests }));
      }
      if (list.length > 0) planQuotas.set(p.id.toLowerCase(), list);
    }
    const next = new Map<string, PairQuotas>();
    for (const s of subscriptions) {
      const d = s.data as { consumer_id?: unknown; service_id?: unknown; plan_id?: unknown; status?: unknown };
      if (d.status !== 'approved' || typeof d.plan_id !== 'string' || typeof d.consumer_id !== 'string' || typeof d.service_id !== 'string') continue;
      const quotas = planQuotas.get(d.plan_id.toLowerCase());
      if (quotas === undefined) continue;
      const consumer = d.consumer_id.toLowerCase();
      const service = d.service_id.toLowerCase();
      const pair = `${consumer}.${service}`;
      if (!next.has(pair)) next.set(pair, Object.freeze({ key: pair, quotas: Object.freeze(quotas) }));
    }
    this.#byPair = next;
  }

  /** The pair's quotas; undefined when its plan has no request quota (or it has no approved subscription). */
  get(consumerId: string, serviceId: string): PairQuotas | undefined {
    if (this.#byPair.size === 0) return undefined;
    return this.#byPair.get(`${consumerId}.${serviceId}`);
  }

  get size(): number {
    return this.#byPair.size;
  }
}
