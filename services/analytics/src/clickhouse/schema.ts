// The analytics schema as ordered migrations, recorded in `<db>.schema_migrations`. Every statement is
// valid on ClickHouse 18.16 (Debian) and on current ClickHouse/chdb: no LowCardinality, no TTL, no
// Nullable keys. Statements are idempotent (IF NOT EXISTS), so two processes migrating at once is harmless.
import { ident, sql, type Sql } from './escape.js';
import { ROLLUP_1H, ROLLUP_1M, rollupStatements } from './rollups.js';
import { addFullRecordColumns } from './call-columns.js';
import { addAiUsage } from './ai-usage.js';
import { addCachedTokens } from './cached-tokens.js';

export interface Migration {
  version: number;
  name: string;
  statements(db: string): Sql[];
  /** Runs after `statements`, for a step that must read the schema first (call-columns.ts). */
  apply?(runner: SqlRunner, db: string): Promise<void>;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'calls',
    statements: (db) => [
      // ReplacingMergeTree collapses rows with the same sorting key on merge. A redelivered record has the
      // same ts and request_id, hence the same key; reads still use FINAL because merges are eventual.
      // ts (seconds) drives partitioning and the primary key; ts_ms keeps the exact time for answers.
      sql`CREATE TABLE IF NOT EXISTS ${ident(db)}.calls (
  request_id String,
  ts DateTime,
  ts_ms UInt64,
  node_id String,
  service_id String,
  route_id String,
  consumer_id String,
  method String,
  path String,
  status UInt16,
  upstream_latency_ms Float64,
  total_latency_ms Float64,
  bytes_in UInt64,
  bytes_out UInt64,
  error_code String
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(ts)
ORDER BY (toStartOfHour(ts), request_id)`,
    ],
  },
  // Rollups (see rollups.ts): per-minute and per-hour aggregates fed by materialized views on calls.
  { version: 2, name: 'calls_1m rollup', statements: (db) => rollupStatements(db, ROLLUP_1M) },
  { version: 3, name: 'calls_1h rollup', statements: (db) => rollupStatements(db, ROLLUP_1H) },
  // The full call record (call-columns.ts): credential, plan, client, timings, AI usage, capture.
  { version: 4, name: 'calls full record', statements: () => [], apply: addFullRecordColumns },
  // AI tokens, cost and AI call count in calls_1m / calls_1h (views re-created), and the ai_usage_1h rollup.
  { version: 5, name: 'ai usage rollups', statements: () => [], apply: addAiUsage },
  // Cached prompt tokens: calls.ai_cached_tokens and its sum in calls_1m / calls_1h / ai_usage_1h (views re-created).
  { version: 6, name: 'ai cached tokens', statements: () => [], apply: addCachedTokens },
];

/** What a store needs from its transport: run one statement, get the response text. */
export interface SqlRunner {
  exec(text: string): Promise<string>;
  /** An INSERT whose data is binary (`… FORMAT RowBinary`): the statement apart from the bytes. Optional. */
  insert?(statement: string, data: Buffer): Promise<void>;
}

/**
 * Creates the database and applies the migrations not yet recorded, up to version `upTo` (default: all;
 * a lower one builds an older schema, for upgrade tests). Returns the versions applied now.
 */
export async function migrate(runner: SqlRunner, db: string, upTo = Infinity): Promise<number[]> {
  const d = ident(db);
  await runner.exec(sql`CREATE DATABASE IF NOT EXISTS ${d}`.text);
  await runner.exec(
    sql`CREATE TABLE IF NOT EXISTS ${d}.schema_migrations (version UInt32, name String, applied_at DateTime) ENGINE = MergeTree() ORDER BY version`.text,
  );
  const out = await runner.exec(sql`SELECT DISTINCT version FROM ${d}.schema_migrations FORMAT JSONEachRow`.text);
  const applied = new Set(
    out
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => Number((JSON.parse(l) as { version: number | string }).version)),
  );
  const done: number[] = [];
  for (const m of MIGRATIONS) {
    if (applied.has(m.version) || m.version > upTo) continue;
    for (const s of m.statements(db)) await runner.exec(s.text);
    if (m.apply !== undefined) await m.apply(runner, db);
    await runner.exec(
      sql`INSERT INTO ${d}.schema_migrations (version, name, applied_at) VALUES (${m.version}, ${m.name}, ${sql`now()`})`.text,
    );
    done.push(m.version);
  }
  return done;
}
