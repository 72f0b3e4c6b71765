// The usage snapshot of one consumer/service pair as nodes get it (quota bucket, key quotaUsageKey): the
// requests counted in each current period of its plan. Read back from quota_usage after the counts commit,
// so a snapshot is never ahead of PostgreSQL.
import type { Sql } from 'postgres';
import { periodStart, quotaUsageKey, type ConfigBus, type QuotaPeriodName, type QuotaUsageSnapshot } from '@turnpike/common';
import type { Pair } from './aggregate.js';

export async function usageSnapshot(sql: Sql, pair: Pair, nowMs = Date.now()): Promise<QuotaUsageSnapshot> {
  // The oldest current period is a month's: nothing older can be current.
  const since = new Date(periodStart('month', nowMs));
  const rows = await sql<{ period: QuotaPeriodName; period_start: Date; requests: string }[]>`
    SELECT period, period_start, requests FROM quota_usage
     WHERE consumer_id = ${pair.consumer_id} AND service_id = ${pair.service_id} AND period_start >= LEAST(${since}, ${new Date(periodStart('week', nowMs))})`;
  const usage = rows
    .filter((r) => r.period_start.getTime() === periodStart(r.period, nowMs))
    .map((r) => ({ period: r.period, start: r.period_start.getTime(), requests: Number(r.requests) }));
  return { consumer_id: pair.consumer_id, service_id: pair.service_id, usage, at: nowMs };
}

/** Writes the pairs' snapshots to the quota bucket; returns the pairs whose write failed (retried later). */
export async function publishSnapshots(sql: Sql, bus: ConfigBus, pairs: Iterable<Pair>, nowMs = Date.now()): Promise<Pair[]> {
  const failed: Pair[] = [];
  for (const pair of pairs) {
    try {
      const snap = await usageSnapshot(sql, pair, nowMs);
      await bus.put(quotaUsageKey(pair.consumer_id, pair.service_id), JSON.stringify(snap));
    } catch {
      failed.push(pair);
    }
  }
  return failed;
}

/**
 * The pairs with usage in a current period (any period starting this month or week): what an in-process
 * quota bucket, empty at every start unlike the KV bucket, must be given before its node serves.
 */
export async function pairsWithCurrentUsage(sql: Sql, nowMs = Date.now()): Promise<Pair[]> {
  return await sql<Pair[]>`
    SELECT DISTINCT consumer_id, service_id FROM quota_usage
     WHERE period_start >= LEAST(${new Date(periodStart('month', nowMs))}, ${new Date(periodStart('week', nowMs))})`;
}
