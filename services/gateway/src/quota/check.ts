// The per-request quota check: over every request quota of the pair's plan, refuse (429
// TP_ERR_QUOTA_EXCEEDED) when one is used up, else admit, count and say how much of the tightest one is
// left. Headers (docs/configuration.md): X-Quota-Limit, X-Quota-Remaining (after this request),
// X-Quota-Reset (seconds until the period ends), and Retry-After on the 429.
import type { PairQuotas } from './plans.js';
import { currentPeriod, type QuotaUsageTable } from './usage-table.js';

export type QuotaVerdict =
  | { ok: true; headers: string[] }
  | { ok: false; headers: string[]; message: string };

export function checkQuota(q: PairQuotas, usage: QuotaUsageTable, nowMs: number): QuotaVerdict {
  let tightest = -1;
  let limit = 0;
  let remaining = Infinity;
  let resetS = 0;
  for (let i = 0; i < q.quotas.length; i++) {
    const quota = q.quotas[i]!;
    const p = currentPeriod(quota.period, nowMs);
    const used = usage.used(q.key, quota.period, p.start, nowMs);
    const reset = Math.max(1, Math.ceil((p.end - nowMs) / 1000));
    if (used >= quota.requests) {
      const r = String(reset);
      return {
        ok: false,
        headers: ['x-quota-limit', String(quota.requests), 'x-quota-remaining', '0', 'x-quota-reset', r, 'retry-after', r],
        message: `quota exceeded: ${quota.requests} requests per ${quota.period} (resets in ${r} s)`,
      };
    }
    const left = quota.requests - used - 1;
    if (left < remaining) {
      tightest = i;
      remaining = left;
      limit = quota.requests;
      resetS = reset;
    }
  }
  usage.admit(q.key, nowMs);
  if (tightest < 0) return { ok: true, headers: [] };
  return { ok: true, headers: ['x-quota-limit', String(limit), 'x-quota-remaining', String(remaining), 'x-quota-reset', String(resetS)] };
}
