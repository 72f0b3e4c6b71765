// Migration 6 (issue 9): cached prompt tokens, the prompt tokens a provider served from its prompt cache
// (part of ai_prompt_tokens; billed at the model's cached price).
//
// `calls` gets ai_cached_tokens (UInt32 DEFAULT 0: rows stored before read 0, and an older ingester's INSERT
// that omits it stores 0). calls_1m, calls_1h and ai_usage_1h get the sum `cached_tokens` the way migration 5
// added its sums (ai-usage.ts): each view dropped, the column added, the view re-created with it. The calls
// column comes first: the re-created views read it. Rollup rows written before read 0 (no backfill: the calls
// stored before have no cached counts to sum).
import { addCallColumns, CACHED_TOKENS_COLUMN } from './call-columns.js';
import { AI_USAGE_TABLE, aiUsageViewStatement, upgradeRollupView } from './ai-usage.js';
import { AI_ROLLUP_COLUMNS, CACHED_TOKENS_ROLLUP_COLUMN, ROLLUPS, rollupViewStatement } from './rollups.js';
import type { SqlRunner } from './schema.js';

/** Migration 6. Re-runnable after a crash (every step checks what is there first). */
export async function addCachedTokens(runner: SqlRunner, db: string): Promise<void> {
  await addCallColumns(runner, db, [CACHED_TOKENS_COLUMN]);
  for (const r of ROLLUPS) await upgradeRollupView(runner, db, r.table, AI_ROLLUP_COLUMNS, rollupViewStatement(db, r));
  await upgradeRollupView(runner, db, AI_USAGE_TABLE, [CACHED_TOKENS_ROLLUP_COLUMN], aiUsageViewStatement(db));
}
