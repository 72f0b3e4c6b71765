// Migration 5 (issue 8): AI usage in the rollups.
//
// calls_1m / calls_1h get per-bucket sums of prompt and completion tokens and cost, and a count of AI calls
// (ai_model != ''), keyed as before (bucket, service, route, consumer, status class). Provider and model are
// not added to that key: 18.16 cannot change a table's ORDER BY in place, and every dashboard query would
// read the extra rows. They get their own small rollup instead, ai_usage_1h, which holds AI calls only
// (non-AI traffic adds no row), keyed by (hour, consumer, provider, model, service, route): the service,
// route and consumer stay so that a tenant's queries, which must filter by one of them, can be answered.
//
// 18.16 rejects an INSERT into calls while a view pushes to a table that has columns the view does not
// produce, so each rollup's view is dropped, the table altered and the view re-created, in that order: a
// block inserted into calls between the DROP and the CREATE (a rolling upgrade with old ingesters still
// inserting) reaches calls but not that rollup. History: rows already in the rollups keep every count;
// their AI sums read 0 until aiUsageBackfillQueries is run once by hand.
import { ident, join, sql, type Sql } from './escape.js';
import { columnsOf } from './call-columns.js';
import { AI_ROLLUP_COLUMNS, ROLLUPS, rollupViewStatement, type Rollup } from './rollups.js';
import type { SqlRunner } from './schema.js';

export const AI_USAGE_TABLE = 'ai_usage_1h';
export const AI_USAGE_BUCKET_MS = 3_600_000;

// An AI call is one with a model: the gateway records provider, model, tokens and cost together or not at all.
const AI_CALL = sql`ai_model != ''`;

/** The states of ai_usage_1h over calls, in column order. */
const AI_USAGE_STATES = sql`countState() AS requests,
  sumState(toUInt64(status >= 500 OR error_code != '')) AS errors,
  sumState(toUInt64(ai_prompt_tokens)) AS prompt_tokens,
  sumState(toUInt64(ai_completion_tokens)) AS completion_tokens,
  sumState(ai_cost_usd) AS cost_usd`;

/** CREATE TABLE + view for ai_usage_1h (idempotent). Partitioned by month like calls_1h. */
export function aiUsageStatements(db: string): Sql[] {
  const t = sql`${ident(db)}.${ident(AI_USAGE_TABLE)}`;
  return [
    sql`CREATE TABLE IF NOT EXISTS ${t} (
  bucket DateTime,
  consumer_id String,
  ai_provider String,
  ai_model String,
  service_id String,
  route_id String,
  requests AggregateFunction(count),
  errors AggregateFunction(sum, UInt64),
  prompt_tokens AggregateFunction(sum, UInt64),
  completion_tokens AggregateFunction(sum, UInt64),
  cost_usd AggregateFunction(sum, Float64)
) ENGINE = AggregatingMergeTree()
PARTITION BY toYYYYMM(bucket)
ORDER BY (bucket, consumer_id, ai_provider, ai_model, service_id, route_id)`,
    sql`CREATE MATERIALIZED VIEW IF NOT EXISTS ${ident(db)}.${ident(`${AI_USAGE_TABLE}_mv`)} TO ${t} AS SELECT
  toStartOfHour(ts) AS bucket, consumer_id, ai_provider, ai_model, service_id, route_id,
  ${AI_USAGE_STATES}
FROM ${ident(db)}.calls WHERE ${AI_CALL}
GROUP BY bucket, consumer_id, ai_provider, ai_model, service_id, route_id`,
  ];
}

/** Migration 5: AI columns on both rollups (views re-created), then ai_usage_1h. Re-runnable after a crash. */
export async function addAiUsage(runner: SqlRunner, db: string): Promise<void> {
  for (const r of ROLLUPS) await addAiColumns(runner, db, r);
  for (const s of aiUsageStatements(db)) await runner.exec(s.text);
}

async function addAiColumns(runner: SqlRunner, db: string, r: Rollup): Promise<void> {
  const present = await columnsOf(runner, db, r.table);
  const missing = AI_ROLLUP_COLUMNS.filter(([name]) => !present.has(name));
  // Columns all there and the view already re-created (a re-run, or another process got here first).
  if (missing.length === 0 && (await viewHasAiColumns(runner, db, r))) return;
  await runner.exec(sql`DROP TABLE IF EXISTS ${ident(db)}.${ident(`${r.table}_mv`)}`.text);
  for (const [name, type] of missing) {
    try {
      await runner.exec(sql`ALTER TABLE ${ident(db)}.${ident(r.table)} ADD COLUMN ${ident(name)} ${type}`.text);
    } catch (e) {
      // Lost a race with another migrating process: fine once the column is there.
      if (!(await columnsOf(runner, db, r.table)).has(name)) throw e;
    }
  }
  await runner.exec(rollupViewStatement(db, r).text);
}

/** Whether the rollup's view exists and already produces the AI columns (its stored query names them). */
async function viewHasAiColumns(runner: SqlRunner, db: string, r: Rollup): Promise<boolean> {
  const out = await runner.exec(
    sql`SELECT create_table_query FROM system.tables WHERE database = ${db} AND name = ${`${r.table}_mv`} FORMAT JSONEachRow`.text,
  );
  const line = out.split('\n').find((l) => l.trim() !== '');
  if (line === undefined) return false;
  const query = String((JSON.parse(line) as { create_table_query: unknown }).create_table_query);
  return AI_ROLLUP_COLUMNS.every(([name]) => query.includes(name));
}

/**
 * The one-off backfill of AI usage for calls stored before migration 5, run by hand right after it with
 * `beforeMs` = the time the migration ran (like rollupBackfillQuery). For calls_1m / calls_1h it inserts rows
 * holding only the AI states (the other states default to empty, so request counts are not doubled); for
 * ai_usage_1h, whole rows. Run it once: a second run doubles the AI sums of those buckets.
 */
export function aiUsageBackfillQueries(db: string, beforeMs: number): string[] {
  const names = join(AI_ROLLUP_COLUMNS.map(([name]) => ident(name)), ', ');
  const states = join(AI_ROLLUP_COLUMNS.map(([, , state]) => state), ', ');
  const rollups = ROLLUPS.map(
    (r) => sql`INSERT INTO ${ident(db)}.${ident(r.table)} (bucket, service_id, route_id, consumer_id, status_class, ${names}) SELECT
  ${r.bucket} AS bucket, service_id, route_id, consumer_id, toUInt8(intDiv(status, 100)) AS status_class, ${states}
FROM ${ident(db)}.calls FINAL WHERE ts_ms < ${beforeMs} AND ${AI_CALL}
GROUP BY bucket, service_id, route_id, consumer_id, status_class`.text,
  );
  const usage = sql`INSERT INTO ${ident(db)}.${ident(AI_USAGE_TABLE)} (bucket, consumer_id, ai_provider, ai_model, service_id, route_id,
  requests, errors, prompt_tokens, completion_tokens, cost_usd) SELECT
  toStartOfHour(ts) AS bucket, consumer_id, ai_provider, ai_model, service_id, route_id, ${AI_USAGE_STATES}
FROM ${ident(db)}.calls FINAL WHERE ts_ms < ${beforeMs} AND ${AI_CALL}
GROUP BY bucket, consumer_id, ai_provider, ai_model, service_id, route_id`.text;
  return [...rollups, usage];
}
