// Quota usage as it travels from the control plane to gateway nodes: one KV entry per consumer and
// service in the cluster's quota bucket, holding the requests counted so far in each current period of
// the subscription's plan. Limits are not in it: nodes read them from the plan (config bucket), so a plan
// change applies at once and this bucket only carries counts.
import type { QuotaPeriodName } from './periods.js';

/** Bucket per cluster: `turnpike_quota_<cluster>` (separate from config: it changes every second under load). */
export function quotaBucketName(cluster: string): string {
  return `turnpike_quota_${cluster}`;
}

/** `<consumer id>.<service id>`, both lower-case (ids are UUIDs: valid KV key tokens). */
export function quotaUsageKey(consumerId: string, serviceId: string): string {
  return `${consumerId.toLowerCase()}.${serviceId.toLowerCase()}`;
}

export interface QuotaPeriodUsage {
  period: QuotaPeriodName;
  /** The period's start, epoch ms UTC (see periodStart). */
  start: number;
  /** Requests counted in it, cluster-wide. */
  requests: number;
}

export interface QuotaUsageSnapshot {
  consumer_id: string;
  service_id: string;
  usage: QuotaPeriodUsage[];
  /** When the control plane wrote it (epoch ms). */
  at: number;
}

const PERIODS: ReadonlySet<string> = new Set(['day', 'week', 'month']);

/** Parses a bucket value; null when it is not a usage snapshot (an entry from a newer control plane is skipped). */
export function parseQuotaUsage(raw: string): QuotaUsageSnapshot | null {
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch {
    return null;
  }
  const o = v as Partial<QuotaUsageSnapshot> | null;
  if (typeof o !== 'object' || o === null || typeof o.consumer_id !== 'string' || typeof o.service_id !== 'string' || !Array.isArray(o.usage)) return null;
  const usage: QuotaPeriodUsage[] = [];
  for (const u of o.usage as unknown[]) {
    const p = u as Partial<QuotaPeriodUsage> | null;
    if (typeof p !== 'object' || p === null || typeof p.period !== 'string' || !PERIODS.has(p.period)) continue;
    if (typeof p.start !== 'number' || typeof p.requests !== 'number' || !(p.requests >= 0)) continue;
    usage.push({ period: p.period as QuotaPeriodName, start: p.start, requests: p.requests });
  }
  return { consumer_id: o.consumer_id.toLowerCase(), service_id: o.service_id.toLowerCase(), usage, at: typeof o.at === 'number' ? o.at : 0 };
}
