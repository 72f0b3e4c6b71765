// A consumer's quota usage (GET /v1/consumers/{id}/usage): for each approved subscription whose plan has
// quotas, each quota's current period with what was used, the limit, what remains and when it resets.
// Usage is what the control plane has aggregated (src/quota/): calls of the last second or so may not be in it.
import { periodEnd, periodStart, type QuotaPeriodName } from '@turnpike/common';
import { authorize } from './access.js';
import { authOf, type ServiceContext } from './context.js';
import { notFound, requireId } from './ids.js';
import { quotaSubscriptions } from '../quota/plans.js';

export interface QuotaUsageLimit {
  used: number;
  /** The plan's limit; null when the quota has no limit of this kind. */
  limit: number | null;
  /** max(0, limit - used); null without a limit. */
  remaining: number | null;
}

export interface ConsumerQuotaUsage {
  service_id: string;
  subscription_id: string;
  plan_id: string;
  period: QuotaPeriodName;
  period_start: string;
  resets_at: string;
  requests: QuotaUsageLimit;
}

export async function getConsumerUsage(ctx: ServiceContext, consumerId: string, nowMs = Date.now()): Promise<{ data: ConsumerQuotaUsage[] }> {
  const t = authorize(authOf(ctx), 'consumers', 'read');
  const cid = requireId('consumer', consumerId);
  const found = await ctx.sql`SELECT id FROM consumers WHERE id = ${cid} AND tenant_id = ${t}`;
  if (found.length === 0) throw notFound('consumer', consumerId);
  const subs = await quotaSubscriptions(ctx.sql, [cid], t);
  const rows = await ctx.sql<{ service_id: string; period: QuotaPeriodName; period_start: Date; requests: string }[]>`
    SELECT service_id, period, period_start, requests FROM quota_usage
     WHERE consumer_id = ${cid} AND period_start >= ${new Date(Math.min(periodStart('month', nowMs), periodStart('week', nowMs)))}`;
  const used = new Map(rows.map((r) => [`${r.service_id}\0${r.period}\0${r.period_start.getTime()}`, Number(r.requests)]));
  const data: ConsumerQuotaUsage[] = [];
  for (const s of subs) {
    for (const q of s.quotas) {
      const start = periodStart(q.period, nowMs);
      const n = used.get(`${s.service_id}\0${q.period}\0${start}`) ?? 0;
      const limit = q.requests ?? null;
      data.push({
        service_id: s.service_id,
        subscription_id: s.subscription_id,
        plan_id: s.plan_id,
        period: q.period,
        period_start: new Date(start).toISOString(),
        resets_at: new Date(periodEnd(q.period, start)).toISOString(),
        requests: { used: n, limit, remaining: limit === null ? null : Math.max(0, limit - n) },
      });
    }
  }
  return { data };
}
