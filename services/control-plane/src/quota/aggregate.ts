// Counts call-log batches into quota_usage, exactly once per batch: the batch ids and the counts are
// written in one transaction, and a batch whose id is already in quota_batches (a redelivery after a crash
// between commit and ack, a node's spool replayed) adds nothing. Only calls the gateway let through count:
// those it did not refuse itself (no error code, or a 5xx of the upstream exchange).
import type { Sql } from 'postgres';
import { periodStart, type CallRecord, type QuotaPeriodName } from '@turnpike/common';
import { quotaSubscriptions } from './plans.js';

export interface Pair {
  consumer_id: string;
  service_id: string;
}

/** Whether a call counts against its consumer's quota. */
export function countsAgainstQuota(r: CallRecord): boolean {
  return r.consumer_id !== '' && r.service_id !== '' && (r.error_code === '' || r.status >= 500);
}

const DAY_MS = 86_400_000;

/**
 * Applies the batches not applied before; returns the consumer/service pairs whose counts changed. Batches
 * may repeat within the call (the same id twice): counted once.
 */
export async function applyCallBatches(sql: Sql, batches: readonly { id: string; records: readonly CallRecord[] }[], nowMs = Date.now()): Promise<Pair[]> {
  if (batches.length === 0) return [];
  return await sql.begin(async (tx) => {
    const ids = [...new Set(batches.map((b) => b.id))];
    const fresh = await tx<{ batch_id: string }[]>`
      INSERT INTO quota_batches (batch_id) SELECT unnest(${ids}::text[]) ON CONFLICT DO NOTHING RETURNING batch_id`;
    if (fresh.length === 0) return [];
    const freshIds = new Set(fresh.map((r) => r.batch_id));
    // consumer \0 service \0 UTC day start → calls (every period boundary is a day boundary).
    const perDay = new Map<string, number>();
    const consumers = new Set<string>();
    for (const b of batches) {
      if (!freshIds.delete(b.id)) continue; // not fresh, or a repeat of a fresh one within this call
      for (const r of b.records) {
        if (!countsAgainstQuota(r)) continue;
        const k = `${r.consumer_id.toLowerCase()}\0${r.service_id.toLowerCase()}\0${Math.floor(r.ts / DAY_MS) * DAY_MS}`;
        perDay.set(k, (perDay.get(k) ?? 0) + 1);
        consumers.add(r.consumer_id.toLowerCase());
      }
    }
    if (perDay.size === 0) return [];
    const subs = new Map((await quotaSubscriptions(tx as unknown as Sql, [...consumers])).map((s) => [`${s.consumer_id}\0${s.service_id}`, s]));
    // (pair, period, period start) → requests; the row carries the tenant and plan.
    const rows = new Map<string, { consumer_id: string; service_id: string; period: QuotaPeriodName; period_start: Date; tenant_id: string; plan_id: string; requests: number; updated_at: Date }>();
    const touched = new Map<string, Pair>();
    const now = new Date(nowMs);
    for (const [k, n] of perDay) {
      const [consumer, service, day] = k.split('\0') as [string, string, string];
      const sub = subs.get(`${consumer}\0${service}`);
      if (sub === undefined) continue; // no approved subscription with quotas: nothing to count against
      for (const period of new Set(sub.quotas.map((q) => q.period))) {
        const start = periodStart(period, Number(day));
        const rk = `${consumer}\0${service}\0${period}\0${start}`;
        const row = rows.get(rk);
        if (row) row.requests += n;
        else rows.set(rk, { consumer_id: consumer, service_id: service, period, period_start: new Date(start), tenant_id: sub.tenant_id, plan_id: sub.plan_id, requests: n, updated_at: now });
      }
      touched.set(`${consumer}\0${service}`, { consumer_id: consumer, service_id: service });
    }
    if (rows.size === 0) return [];
    await tx`
      INSERT INTO quota_usage ${tx([...rows.values()], 'consumer_id', 'service_id', 'period', 'period_start', 'tenant_id', 'plan_id', 'requests', 'updated_at')}
      ON CONFLICT (consumer_id, service_id, period, period_start) DO UPDATE
        SET requests = quota_usage.requests + EXCLUDED.requests, plan_id = EXCLUDED.plan_id, updated_at = EXCLUDED.updated_at`;
    return [...touched.values()];
  });
}

/** Drops batch ids older than the calls stream keeps messages (plus a day): they can no longer come back. */
export async function pruneQuotaBatches(sql: Sql, olderThanMs: number): Promise<number> {
  const r = await sql`DELETE FROM quota_batches WHERE applied_at < now() - ${olderThanMs / 1000} * interval '1 second'`;
  return r.count;
}
