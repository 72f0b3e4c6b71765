// Which quotas apply to a consumer's calls to a service: the plan of its approved subscription to that
// service (subscriptions and plans are rows of the generic resource store). Read by the aggregation and by
// the usage endpoint, so both agree on what is counted.
import type { Sql } from 'postgres';
import type { QuotaPeriodName } from '@turnpike/common';

export interface PlanQuota {
  period: QuotaPeriodName;
  requests?: number;
  ai_tokens?: number;
  ai_cost_usd?: number;
}

export interface QuotaSubscription {
  tenant_id: string;
  subscription_id: string;
  consumer_id: string;
  service_id: string;
  plan_id: string;
  quotas: PlanQuota[];
}

/**
 * Approved subscriptions whose plan has quotas, for these consumers (`null`: every consumer of `tenantId`).
 * One per consumer and service (the oldest, should an import have left two).
 */
export async function quotaSubscriptions(sql: Sql, consumers: readonly string[] | null, tenantId?: string): Promise<QuotaSubscription[]> {
  const rows = await sql<QuotaSubscription[]>`
    SELECT s.tenant_id, s.id AS subscription_id, s.doc->>'consumer_id' AS consumer_id, s.doc->>'service_id' AS service_id,
           p.id AS plan_id, p.doc->'quotas' AS quotas
      FROM resources s
      JOIN resources p ON p.kind = 'plans' AND p.tenant_id = s.tenant_id AND p.id::text = s.doc->>'plan_id'
     WHERE s.kind = 'subscriptions' AND s.doc->>'status' = 'approved'
       AND jsonb_array_length(COALESCE(p.doc->'quotas', '[]'::jsonb)) > 0
       ${consumers !== null ? sql`AND s.doc->>'consumer_id' = ANY(${consumers as string[]})` : sql``}
       ${tenantId !== undefined ? sql`AND s.tenant_id = ${tenantId}` : sql``}
     ORDER BY s.seq`;
  const seen = new Set<string>();
  const out: QuotaSubscription[] = [];
  for (const r of rows) {
    const pair = `${r.consumer_id}\0${r.service_id}`;
    if (seen.has(pair)) continue;
    seen.add(pair);
    out.push(r);
  }
  return out;
}
