// Migration 4 (issue 8): the full call record's columns, added to `calls` with a DEFAULT: rows written
// before read back as ''/0, and an INSERT that omits them stores the defaults. ClickHouse 18.16 has no
// ADD COLUMN IF NOT EXISTS, so the columns present are read from system.columns first and only the
// missing ones are added: a migration cut half-way, or run by two processes, completes on the next run.
import { ident, sql, type Sql } from './escape.js';
import type { SqlRunner } from './schema.js';

/** A column added to calls: name and SQL type with its default (static text, never a value). */
export type CallColumn = readonly [string, Sql];

/** The columns migration 4 adds, in order. */
const COLUMNS: readonly CallColumn[] = [
  ['credential_id', sql`String DEFAULT ''`],
  ['plan_id', sql`String DEFAULT ''`],
  ['client_ip', sql`String DEFAULT ''`],
  ['user_agent', sql`String DEFAULT ''`],
  ['host', sql`String DEFAULT ''`],
  ['gateway_latency_ms', sql`Float64 DEFAULT 0`],
  ['upstream_connect_ms', sql`Float64 DEFAULT 0`],
  ['upstream_ttfb_ms', sql`Float64 DEFAULT 0`],
  ['upstream_addr', sql`String DEFAULT ''`],
  ['ai_provider', sql`String DEFAULT ''`],
  ['ai_model', sql`String DEFAULT ''`],
  ['ai_prompt_tokens', sql`UInt32 DEFAULT 0`],
  ['ai_completion_tokens', sql`UInt32 DEFAULT 0`],
  ['ai_cost_usd', sql`Float64 DEFAULT 0`],
  ['captured', sql`String DEFAULT ''`],
];

/** Names of the columns migration 4 adds. */
export const FULL_RECORD_COLUMNS: readonly string[] = COLUMNS.map(([name]) => name);

/** Migration 6 (cached-tokens.ts): prompt tokens served from the provider's prompt cache. */
export const CACHED_TOKENS_COLUMN: CallColumn = ['ai_cached_tokens', sql`UInt32 DEFAULT 0`];

/** Migration 4: adds the full record's missing columns. */
export async function addFullRecordColumns(runner: SqlRunner, db: string): Promise<void> {
  await addCallColumns(runner, db, COLUMNS);
}

/** Adds the missing columns to calls, one ALTER each; a column another process added meanwhile is not an error. */
export async function addCallColumns(runner: SqlRunner, db: string, columns: readonly CallColumn[]): Promise<void> {
  const present = await columnsOf(runner, db, 'calls');
  for (const [name, type] of columns) {
    if (present.has(name)) continue;
    try {
      await runner.exec(sql`ALTER TABLE ${ident(db)}.calls ADD COLUMN ${ident(name)} ${type}`.text);
    } catch (e) {
      // Lost a race with another migrating process: fine once the column is there.
      if (!(await columnsOf(runner, db, 'calls')).has(name)) throw e;
    }
  }
}

/** The column names of `db.table` (18.16 has no ADD COLUMN IF NOT EXISTS: migrations check first). */
export async function columnsOf(runner: SqlRunner, db: string, table: string): Promise<Set<string>> {
  const out = await runner.exec(sql`SELECT name FROM system.columns WHERE database = ${db} AND table = ${table} FORMAT JSONEachRow`.text);
  const names = new Set<string>();
  for (const line of out.split('\n')) if (line.trim() !== '') names.add(String((JSON.parse(line) as { name: unknown }).name));
  return names;
}
