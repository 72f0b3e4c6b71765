// The dashboard aggregates (time series, top N) over the calls_1m / calls_1h rollups, so a 30-day query
// reads a few rows per hour and route instead of every call. Buckets are selected by their start: a bucket
// is in the answer when its start lies in [from, to). Top error codes come from the raw calls table, as
// the rollups do not keep the error code; top AI models and providers from ai_usage_1h (ai-usage.ts), whose
// buckets are hours whatever the range.
import { TurnpikeError, type TimeseriesFilter, type TimeseriesPoint, type TopEntry, type TopFilter, type TopOrder } from '@turnpike/common';
import { whereClause } from '../queries.js';
import { dateTime, ident, join, sql, type Sql } from './escape.js';
import { AI_USAGE_TABLE } from './ai-usage.js';
import { AI_MERGES, aiUsageFromRow, ROLLUP_1H, ROLLUP_1M } from './rollups.js';

/** At most this many points come back from one time series query (30 days hourly × 100 groups fits). */
export const MAX_TIMESERIES_POINTS = 100_000;

const GROUP_COLUMN = { service: 'service_id', route: 'route_id', consumer: 'consumer_id' } as const;

function rollupWhere(f: { from: number; to: number; service_id?: string; route_id?: string; consumer_id?: string }): Sql {
  const conds: Sql[] = [sql`bucket >= ${dateTime(checkMs('from', f.from))}`, sql`bucket < ${dateTime(checkMs('to', f.to))}`];
  for (const k of ['service_id', 'route_id', 'consumer_id'] as const) {
    const v = f[k];
    if (v === undefined) continue;
    if (typeof v !== 'string') throw invalid(k, 'must be a string');
    conds.push(sql`${ident(k)} = ${v}`);
  }
  return join(conds, ' AND ');
}

export function timeseriesQuery(db: string, f: TimeseriesFilter): string {
  const r = f.interval === 'hour' ? ROLLUP_1H : f.interval === 'minute' ? ROLLUP_1M : undefined;
  if (!r) throw invalid('interval', 'must be minute or hour');
  const col = f.group_by === 'none' ? undefined : GROUP_COLUMN[f.group_by];
  if (f.group_by !== 'none' && !col) throw invalid('group_by', 'must be none, service, route or consumer');
  const key = col ? ident(col) : sql`''`;
  const groupBy = col ? sql`bucket_ms, key` : sql`bucket_ms`;
  // quantilesMerge over every row of a bucket (all routes, consumers, status classes) gives the
  // bucket's percentiles, not an average of percentiles.
  return sql`SELECT toUInt32(bucket) * 1000 AS bucket_ms, ${key} AS key,
  countMerge(requests) AS requests, sumMerge(errors) AS errors, sumMerge(bytes_in) AS bytes_in,
  sumMerge(bytes_out) AS bytes_out, quantilesMerge(0.5, 0.95, 0.99)(latency_quantiles_ms) AS latency_q, ${AI_MERGES}
FROM ${ident(db)}.${ident(r.table)} WHERE ${rollupWhere(f)}
GROUP BY ${groupBy} ORDER BY ${groupBy} LIMIT ${MAX_TIMESERIES_POINTS} FORMAT JSONEachRow`.text;
}

export function timeseriesPointFromRow(row: Record<string, unknown>): TimeseriesPoint {
  const q = (row.latency_q as unknown[]).map(Number);
  return {
    bucket: Number(row.bucket_ms),
    key: String(row.key),
    requests: Number(row.requests),
    errors: Number(row.errors),
    bytes_in: Number(row.bytes_in),
    bytes_out: Number(row.bytes_out),
    latency_p50_ms: q[0] ?? 0,
    latency_p95_ms: q[1] ?? 0,
    latency_p99_ms: q[2] ?? 0,
    ...aiUsageFromRow(row),
  };
}

// ORDER BY expressions over the selected aliases; ties broken by key so the answer is stable.
const TOP_ORDER: Record<TopOrder, Sql> = {
  requests: sql`requests DESC`,
  cost_usd: sql`cost_usd DESC, requests DESC`,
  tokens: sql`prompt_tokens + completion_tokens DESC, requests DESC`,
};

export function topQuery(db: string, f: TopFilter): string {
  if (!Number.isInteger(f.limit) || f.limit < 1 || f.limit > 1000) throw invalid('limit', 'must be 1..1000');
  const by = f.order_by ?? 'requests';
  if (!Object.hasOwn(TOP_ORDER, by)) throw invalid('order_by', 'must be requests, cost_usd or tokens');
  const order = TOP_ORDER[by];
  if (f.dimension === 'error_code') {
    const where = whereClause({ from: f.from, to: f.to, service_id: f.service_id, route_id: f.route_id, consumer_id: f.consumer_id });
    return sql`SELECT error_code AS key, count() AS requests, count() AS errors, sum(toUInt64(ai_prompt_tokens)) AS prompt_tokens,
  sum(toUInt64(ai_completion_tokens)) AS completion_tokens, sum(toUInt64(ai_cached_tokens)) AS cached_tokens, sum(ai_cost_usd) AS cost_usd
FROM ${ident(db)}.calls FINAL WHERE ${where} AND error_code != ''
GROUP BY key ORDER BY ${order}, key LIMIT ${f.limit} FORMAT JSONEachRow`.text;
  }
  if (f.dimension === 'ai_model' || f.dimension === 'ai_provider') {
    return sql`SELECT ${ident(f.dimension)} AS key, countMerge(requests) AS requests, sumMerge(errors) AS errors,
  sumMerge(prompt_tokens) AS prompt_tokens, sumMerge(completion_tokens) AS completion_tokens, sumMerge(cached_tokens) AS cached_tokens,
  sumMerge(cost_usd) AS cost_usd
FROM ${ident(db)}.${ident(AI_USAGE_TABLE)} WHERE ${rollupWhere(f)}
GROUP BY key ORDER BY ${order}, key LIMIT ${f.limit} FORMAT JSONEachRow`.text;
  }
  const col = Object.hasOwn(GROUP_COLUMN, f.dimension) ? GROUP_COLUMN[f.dimension as keyof typeof GROUP_COLUMN] : undefined;
  if (!col) throw invalid('dimension', 'must be service, route, consumer, error_code, ai_model or ai_provider');
  // Hourly rollups when the range is long or hour-aligned; minute rollups otherwise, for exact bounds.
  const hourly = f.to - f.from > 6 * ROLLUP_1H.bucketMs || (f.from % ROLLUP_1H.bucketMs === 0 && f.to % ROLLUP_1H.bucketMs === 0);
  const r = hourly ? ROLLUP_1H : ROLLUP_1M;
  return sql`SELECT ${ident(col)} AS key, countMerge(requests) AS requests, sumMerge(errors) AS errors,
  sumMerge(prompt_tokens) AS prompt_tokens, sumMerge(completion_tokens) AS completion_tokens, sumMerge(cached_tokens) AS cached_tokens,
  sumMerge(cost_usd) AS cost_usd
FROM ${ident(db)}.${ident(r.table)} WHERE ${rollupWhere(f)}
GROUP BY key ORDER BY ${order}, key LIMIT ${f.limit} FORMAT JSONEachRow`.text;
}

export function topEntryFromRow(row: Record<string, unknown>): TopEntry {
  return {
    key: String(row.key),
    requests: Number(row.requests),
    errors: Number(row.errors),
    prompt_tokens: Number(row.prompt_tokens),
    completion_tokens: Number(row.completion_tokens),
    cached_tokens: Number(row.cached_tokens),
    cost_usd: Number(row.cost_usd),
  };
}

function checkMs(field: string, v: number): number {
  if (!Number.isSafeInteger(v) || v < 0 || v >= 0xffffffff * 1000) throw invalid(field, 'must be epoch milliseconds');
  return v;
}

function invalid(field: string, message: string): TurnpikeError {
  return new TurnpikeError('TP_ERR_VALIDATION', `${field} ${message}`, [{ path: `/${field}`, message }]);
}
