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
//
// Migration 5 builds the shape it always built (AI_ROLLUP_COLUMNS_V5, aiUsageStatements); migration 6
// (cached-tokens.ts) then adds the cached prompt token sum with the same drop/alter/re-create steps
// (upgradeRollupView), so a fresh database and an upgraded one end in the same schema.
import { ident, join, sql, type Sql } from './escape.js';
import { columnsOf } from './call-columns.js';
import { AI_ROLLUP_COLUMNS, AI_ROLLUP_COLUMNS_V5, CACHED_TOKENS_ROLLUP_COLUMN, ROLLUPS, rollupViewStatement, type AiRollupColumn } from './rollups.js';
import type { SqlRunner } from './schema.js';

export const AI_USAGE_TABLE = 'ai_usage_1h';
export const AI_USAGE_BUCKET_MS = 3_600_000;

// An AI call is one with a model: the gateway records provider, model, tokens and cost together or not at all.
const AI_CALL = sql`ai_model != ''`;

/** The states of ai_usage_1h over calls as migration 5 made them, in column order. */
const AI_USAGE_STATES_V5 = sql`countState() AS requests,
  sumState(toUInt64(status >= 500 OR error_code != '')) AS errors,
  sumState(toUInt64(ai_prompt_tokens)) AS prompt_tokens,
  sumState(toUInt64(ai_completion_tokens)) AS completion_tokens,
  sumState(ai_cost_usd) AS cost_usd`;

/** The states of ai_usage_1h now (migration 6 on): migration 5's plus the cached prompt token sum. */
const AI_USAGE_STATES = sql`${AI_USAGE_STATES_V5},
  ${CACHED_TOKENS_ROLLUP_COLUMN[2]} AS ${ident(CACHED_TOKENS_ROLLUP_COLUMN[0])}`;

function aiUsageView(db: string, states: Sql): Sql {
  return sql`CREATE MATERIALIZED VIEW IF NOT EXISTS ${ident(db)}.${ident(`${AI_USAGE_TABLE}_mv`)} TO ${ident(db)}.${ident(AI_USAGE_TABLE)} AS SELECT
  toStartOfHour(ts) AS bucket, consumer_id, ai_provider, ai_model, service_id, route_id,
  ${states}
FROM ${ident(db)}.calls WHERE ${AI_CALL}
GROUP BY bucket, consumer_id, ai_provider, ai_model, service_id, route_id`;
}

/** ai_usage_1h's view as it is now (migration 6 on). */
export function aiUsageViewStatement(db: string): Sql {
  return aiUsageView(db, AI_USAGE_STATES);
}

/** CREATE TABLE + view for ai_usage_1h as migration 5 made them (idempotent). Partitioned by month like calls_1h. */
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
    aiUsageView(db, AI_USAGE_STATES_V5),
  ];
}

/** Migration 5: AI columns on both rollups (views re-created), then ai_usage_1h. Re-runnable after a crash. */
export async function addAiUsage(runner: SqlRunner, db: string): Promise<void> {
  for (const r of ROLLUPS) await upgradeRollupView(runner, db, r.table, AI_ROLLUP_COLUMNS_V5, rollupViewStatement(db, r, AI_ROLLUP_COLUMNS_V5));
  for (const s of aiUsageStatements(db)) await runner.exec(s.text);
}

/**
 * Adds `columns` to a rollup table and re-creates its view `<table>_mv` as `view` (which must produce them):
 * view dropped, missing columns added, view created, in that order (18.16, see above). Re-runnable after a
 * crash and safe against another process doing the same.
 */
export async function upgradeRollupView(runner: SqlRunner, db: string, table: string, columns: readonly AiRollupColumn[], view: Sql): Promise<void> {
  const present = await columnsOf(runner, db, table);
  const missing = columns.filter(([name]) => !present.has(name));
  // Columns all there and the view already re-created (a re-run, or another process got here first).
  if (missing.length === 0 && (await viewProduces(runner, db, table, columns))) return;
  await runner.exec(sql`DROP TABLE IF EXISTS ${ident(db)}.${ident(`${table}_mv`)}`.text);
  for (const [name, type] of missing) {
    try {
      await runner.exec(sql`ALTER TABLE ${ident(db)}.${ident(table)} ADD COLUMN ${ident(name)} ${type}`.text);
    } catch (e) {
      // Lost a race with another migrating process: fine once the column is there.
      if (!(await columnsOf(runner, db, table)).has(name)) throw e;
    }
  }
  await runner.exec(view.text);
}

/** Whether the table's view exists and already produces the columns (its stored query names them). */
async function viewProduces(runner: SqlRunner, db: string, table: string, columns: readonly AiRollupColumn[]): Promise<boolean> {
  const out = await runner.exec(
    sql`SELECT create_table_query FROM system.tables WHERE database = ${db} AND name = ${`${table}_mv`} FORMAT JSONEachRow`.text,
  );
  const line = out.split('\n').find((l) => l.trim() !== '');
  if (line === undefined) return false;
  const query = String((JSON.parse(line) as { create_table_query: unknown }).create_table_query);
  return columns.every(([name]) => query.includes(name));
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
  requests, errors, prompt_tokens, completion_tokens, cost_usd, cached_tokens) SELECT
  toStartOfHour(ts) AS bucket, consumer_id, ai_provider, ai_model, service_id, route_id, ${AI_USAGE_STATES}
FROM ${ident(db)}.calls FINAL WHERE ts_ms < ${beforeMs} AND ${AI_CALL}
GROUP BY bucket, consumer_id, ai_provider, ai_model, service_id, route_id`.text;
  return [...rollups, usage];
}
