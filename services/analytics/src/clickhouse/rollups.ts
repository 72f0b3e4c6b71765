// Per-minute and per-hour rollups of the calls table. Each is an AggregatingMergeTree keyed by (bucket,
// service, route, consumer, status class), fed by a materialized view on every INSERT into calls, so
// dashboards read a few rows per bucket instead of scanning raw calls. All columns are AggregateFunction
// states (18.16 has no SimpleAggregateFunction); reads combine them with the -Merge combinators.
//
// Migration 5 (ai-usage.ts) added per-bucket AI usage (token and cost sums, AI call count) to both rollups
// and re-created their views with rollupViewStatement; migration 6 (cached-tokens.ts) added the cached prompt
// token sum the same way. rollupStatements stays the shape migrations 2 and 3 created, and migration 5 builds
// its own shape (AI_ROLLUP_COLUMNS_V5), so a fresh database goes through the same steps as an upgraded one.
// On 18.16 a materialized view must produce every column of its TO table ("Expected column …: while pushing
// to view"), so a column added to a rollup needs the view re-created with it.
//
// The views see inserted blocks, not the de-duplicated table: a record inserted twice is counted twice
// here even though calls FINAL counts it once. The ingester skips ids it inserted recently (RecentIds), so
// this only happens for a redelivery older than that memory; exact answers come from calls FINAL.
import { TurnpikeError } from '@turnpike/common';
import { dateTime, ident, join, sql, type Sql } from './escape.js';

export interface Rollup {
  /** Target table (`<db>.<table>`) and its view (`<table>_mv`). */
  table: 'calls_1m' | 'calls_1h';
  /** Bucket width in milliseconds. */
  bucketMs: number;
  /** The bucket expression over calls.ts (server time zone; whole-hour zones give aligned buckets). */
  bucket: Sql;
  /** Partition expression; retention drops whole partitions (18.16 has no TTL). */
  partition: Sql;
}

export const ROLLUP_1M: Rollup = {
  table: 'calls_1m',
  bucketMs: 60_000,
  bucket: sql`toStartOfMinute(ts)`,
  partition: sql`toYYYYMMDD(bucket)`,
};
export const ROLLUP_1H: Rollup = {
  table: 'calls_1h',
  bucketMs: 3_600_000,
  bucket: sql`toStartOfHour(ts)`,
  partition: sql`toYYYYMM(bucket)`,
};
export const ROLLUPS: readonly Rollup[] = [ROLLUP_1M, ROLLUP_1H];

/** Quantile levels kept in the rollups' latency state, in the order the merged array returns them. */
export const LATENCY_QUANTILES = [0.5, 0.95, 0.99] as const;

// Literal text: quantiles' levels are parameters, which must be constants in the type and the call.
const Q_LEVELS = sql`0.5, 0.95, 0.99`;

/** An AI usage state of a rollup: column name, type (static text) and the state over calls. */
export type AiRollupColumn = readonly [string, Sql, Sql];

/** The AI usage states added by migration 5 (kept as they were: migration 5 builds this shape). */
export const AI_ROLLUP_COLUMNS_V5: readonly AiRollupColumn[] = [
  ['prompt_tokens', sql`AggregateFunction(sum, UInt64)`, sql`sumState(toUInt64(ai_prompt_tokens))`],
  ['completion_tokens', sql`AggregateFunction(sum, UInt64)`, sql`sumState(toUInt64(ai_completion_tokens))`],
  ['cost_usd', sql`AggregateFunction(sum, Float64)`, sql`sumState(ai_cost_usd)`],
  ['ai_calls', sql`AggregateFunction(sum, UInt64)`, sql`sumState(toUInt64(ai_model != ''))`],
];

/** Migration 6: prompt tokens served from the provider's prompt cache (calls.ai_cached_tokens). */
export const CACHED_TOKENS_ROLLUP_COLUMN: AiRollupColumn = [
  'cached_tokens',
  sql`AggregateFunction(sum, UInt64)`,
  sql`sumState(toUInt64(ai_cached_tokens))`,
];

/** The AI usage states the rollups hold now (migration 6 on). */
export const AI_ROLLUP_COLUMNS: readonly AiRollupColumn[] = [...AI_ROLLUP_COLUMNS_V5, CACHED_TOKENS_ROLLUP_COLUMN];

/** sumMerge of each AI usage state, named as the column: for SELECTs over calls_1m / calls_1h. */
export const AI_MERGES = join(
  AI_ROLLUP_COLUMNS.map(([name]) => sql`sumMerge(${ident(name)}) AS ${ident(name)}`),
  ', ',
);

/**
 * The rollup's view with the original states plus the AI usage states `ai` (default: as it is now;
 * migration 5 passes its own AI_ROLLUP_COLUMNS_V5).
 */
export function rollupViewStatement(db: string, r: Rollup, ai: readonly AiRollupColumn[] = AI_ROLLUP_COLUMNS): Sql {
  const aiStates = join(
    ai.map(([name, , state]) => sql`${state} AS ${ident(name)}`),
    ', ',
  );
  return sql`CREATE MATERIALIZED VIEW IF NOT EXISTS ${ident(db)}.${ident(`${r.table}_mv`)} TO ${ident(db)}.${ident(r.table)} AS SELECT
  ${r.bucket} AS bucket,
  service_id,
  route_id,
  consumer_id,
  toUInt8(intDiv(status, 100)) AS status_class,
  countState() AS requests,
  sumState(toUInt64(status >= 500 OR error_code != '')) AS errors,
  sumState(bytes_in) AS bytes_in,
  sumState(bytes_out) AS bytes_out,
  sumState(total_latency_ms) AS latency_sum_ms,
  quantilesState(${Q_LEVELS})(total_latency_ms) AS latency_quantiles_ms,
  ${aiStates}
FROM ${ident(db)}.calls
GROUP BY bucket, service_id, route_id, consumer_id, status_class`;
}

/** CREATE TABLE + CREATE MATERIALIZED VIEW … TO for one rollup, as migrations 2 and 3 made them (idempotent). */
export function rollupStatements(db: string, r: Rollup): Sql[] {
  const t = sql`${ident(db)}.${ident(r.table)}`;
  const mv = sql`${ident(db)}.${ident(`${r.table}_mv`)}`;
  return [
    sql`CREATE TABLE IF NOT EXISTS ${t} (
  bucket DateTime,
  service_id String,
  route_id String,
  consumer_id String,
  status_class UInt8,
  requests AggregateFunction(count),
  errors AggregateFunction(sum, UInt64),
  bytes_in AggregateFunction(sum, UInt64),
  bytes_out AggregateFunction(sum, UInt64),
  latency_sum_ms AggregateFunction(sum, Float64),
  latency_quantiles_ms AggregateFunction(quantiles(${Q_LEVELS}), Float64)
) ENGINE = AggregatingMergeTree()
PARTITION BY ${r.partition}
ORDER BY (bucket, service_id, route_id, consumer_id, status_class)`,
    // An error is a 5xx or any call the gateway tagged with an error code (e.g. a 429 from rate limiting).
    sql`CREATE MATERIALIZED VIEW IF NOT EXISTS ${mv} TO ${t} AS SELECT
  ${r.bucket} AS bucket,
  service_id,
  route_id,
  consumer_id,
  toUInt8(intDiv(status, 100)) AS status_class,
  countState() AS requests,
  sumState(toUInt64(status >= 500 OR error_code != '')) AS errors,
  sumState(bytes_in) AS bytes_in,
  sumState(bytes_out) AS bytes_out,
  sumState(total_latency_ms) AS latency_sum_ms,
  quantilesState(${Q_LEVELS})(total_latency_ms) AS latency_quantiles_ms
FROM ${ident(db)}.calls
GROUP BY bucket, service_id, route_id, consumer_id, status_class`,
  ];
}

/**
 * The backfill for calls stored before the rollup existed: run once, by hand, right after the migration,
 * with `beforeMs` = the time the migration ran (rows inserted after it already reached the view).
 */
export function rollupBackfillQuery(db: string, r: Rollup, beforeMs: number): string {
  // Columns named: the table's column order after migration 5's ALTERs is not the view's order.
  return sql`INSERT INTO ${ident(db)}.${ident(r.table)} (bucket, service_id, route_id, consumer_id, status_class, requests, errors,
  bytes_in, bytes_out, latency_sum_ms, latency_quantiles_ms, ${join(AI_ROLLUP_COLUMNS.map(([name]) => ident(name)), ', ')}) SELECT
  ${r.bucket} AS bucket, service_id, route_id, consumer_id, toUInt8(intDiv(status, 100)) AS status_class,
  countState(), sumState(toUInt64(status >= 500 OR error_code != '')), sumState(bytes_in), sumState(bytes_out),
  sumState(total_latency_ms), quantilesState(${Q_LEVELS})(total_latency_ms), ${join(AI_ROLLUP_COLUMNS.map(([, , state]) => state), ', ')}
FROM ${ident(db)}.calls FINAL WHERE ts_ms < ${beforeMs}
GROUP BY bucket, service_id, route_id, consumer_id, status_class`.text;
}

export interface RollupFilter {
  from?: number;
  to?: number;
  service_id?: string;
  route_id?: string;
  consumer_id?: string;
  status_class?: number;
}

export interface RollupPoint {
  /** Bucket start, epoch ms. */
  bucket: number;
  service_id: string;
  route_id: string;
  consumer_id: string;
  status_class: number;
  requests: number;
  errors: number;
  bytes_in: number;
  bytes_out: number;
  latency_avg_ms: number;
  latency_p50_ms: number;
  latency_p95_ms: number;
  latency_p99_ms: number;
  prompt_tokens: number;
  completion_tokens: number;
  cached_tokens: number;
  cost_usd: number;
  ai_calls: number;
}

/** One row per (bucket, service, route, consumer, status class) in [from, to), oldest first. */
export function rollupQuery(db: string, r: Rollup, f: RollupFilter, limit = 10_000): string {
  const conds: Sql[] = [];
  if (f.from !== undefined) conds.push(sql`bucket >= ${dateTime(checkMs('from', f.from))}`);
  if (f.to !== undefined) conds.push(sql`bucket < ${dateTime(checkMs('to', f.to))}`);
  for (const k of ['service_id', 'route_id', 'consumer_id'] as const) {
    const v = f[k];
    if (v === undefined) continue;
    if (typeof v !== 'string') throw invalid(k, 'must be a string');
    conds.push(sql`${ident(k)} = ${v}`);
  }
  if (f.status_class !== undefined) {
    if (!Number.isInteger(f.status_class) || f.status_class < 1 || f.status_class > 5) throw invalid('status_class', 'must be 1..5');
    conds.push(sql`status_class = ${f.status_class}`);
  }
  if (!Number.isInteger(limit) || limit < 1 || limit > 100_000) throw invalid('limit', 'must be 1..100000');
  const where = conds.length === 0 ? sql`1` : join(conds, ' AND ');
  // toUInt32(bucket) * 1000: epoch ms with no time zone involved in the answer.
  return sql`SELECT toUInt32(bucket) * 1000 AS bucket_ms, service_id, route_id, consumer_id, status_class,
  countMerge(requests) AS requests, sumMerge(errors) AS errors, sumMerge(bytes_in) AS bytes_in,
  sumMerge(bytes_out) AS bytes_out, sumMerge(latency_sum_ms) AS latency_sum_ms,
  quantilesMerge(${Q_LEVELS})(latency_quantiles_ms) AS latency_q, ${AI_MERGES}
FROM ${ident(db)}.${ident(r.table)} WHERE ${where}
GROUP BY bucket_ms, service_id, route_id, consumer_id, status_class
ORDER BY bucket_ms, service_id, route_id, consumer_id, status_class
LIMIT ${limit} FORMAT JSONEachRow`.text;
}

export function rollupPointFromRow(row: Record<string, unknown>): RollupPoint {
  const q = (row.latency_q as unknown[]).map(Number);
  const requests = Number(row.requests);
  return {
    bucket: Number(row.bucket_ms),
    service_id: String(row.service_id),
    route_id: String(row.route_id),
    consumer_id: String(row.consumer_id),
    status_class: Number(row.status_class),
    requests,
    errors: Number(row.errors),
    bytes_in: Number(row.bytes_in),
    bytes_out: Number(row.bytes_out),
    latency_avg_ms: requests === 0 ? 0 : Number(row.latency_sum_ms) / requests,
    latency_p50_ms: q[0] ?? 0,
    latency_p95_ms: q[1] ?? 0,
    latency_p99_ms: q[2] ?? 0,
    ...aiUsageFromRow(row),
  };
}

/** The AI usage fields of a row selected with AI_MERGES (64-bit sums arrive quoted from 18.16). */
export function aiUsageFromRow(row: Record<string, unknown>): {
  prompt_tokens: number;
  completion_tokens: number;
  cached_tokens: number;
  cost_usd: number;
  ai_calls: number;
} {
  return {
    prompt_tokens: Number(row.prompt_tokens ?? 0),
    completion_tokens: Number(row.completion_tokens ?? 0),
    cached_tokens: Number(row.cached_tokens ?? 0),
    cost_usd: Number(row.cost_usd ?? 0),
    ai_calls: Number(row.ai_calls ?? 0),
  };
}

function checkMs(field: string, v: number): number {
  if (!Number.isSafeInteger(v) || v < 0 || v >= 0xffffffff * 1000) throw invalid(field, 'must be epoch milliseconds');
  return v;
}

function invalid(field: string, message: string): TurnpikeError {
  return new TurnpikeError('TP_ERR_VALIDATION', `${field} ${message}`, [{ path: `/${field}`, message }]);
}
