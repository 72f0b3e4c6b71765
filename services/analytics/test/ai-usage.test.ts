// AI usage in the rollups (migration 5): token, cost and AI call sums in calls_1m / calls_1h, the ai_usage_1h
// rollup behind top-by-model/provider, ranking by cost and tokens, and an upgrade from a version-4 database
// holding data; cached prompt tokens (migration 6) summed the same way, and an upgrade from a version-5
// database. Against both the ClickHouse server (18.16 locally) and embedded chdb, with the same SQL.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TurnpikeError, type CallRecord, type TopFilter, type TopOrder } from '@turnpike/common';
import { testEnv } from '@turnpike/common/testing';
import { aiUsageBackfillQueries, CALL_COLUMNS, MIGRATIONS, ChdbStore, ClickHouseStore, encodeCallRow, migrate, type SqlAnalyticsStore, type SqlRunner } from '../src/index.js';
import { ClickHouseHttpClient } from '../src/clickhouse/http-client.js';
import { openChdbSession } from '../src/stores/chdb-store.js';
import { BASE, call } from './store-contract.js';

type Store = SqlAnalyticsStore & { dropDatabase(): Promise<void> };
const MINUTE = 60_000;
const HOUR = 3_600_000;

interface Engine {
  name: string;
  open(db: string): Promise<Store>;
  /** A bare runner on the same engine, for building an older schema; closed before `open` is called. */
  runner(): { runner: SqlRunner; close(): Promise<void> };
}

const ai = (over: Partial<CallRecord>): CallRecord => call({ service_id: 'svc-ai', route_id: 'route-chat', ...over });

// Minute 0: consumer c1, 3 openai/gpt-4o calls (150 cached prompt tokens) and 1 non-AI call. Minute 1:
// consumer c2, 2 anthropic calls (one a 500; 1600 cached). Hour 1: c1, one more gpt-4o call (4 cached).
function fixture(t0: number): CallRecord[] {
  return [
    ai({ ts: t0 + 1_000, consumer_id: 'c1', ai_provider: 'openai', ai_model: 'gpt-4o', ai_prompt_tokens: 100, ai_completion_tokens: 10, ai_cost_usd: 0.01 }),
    ai({ ts: t0 + 2_000, consumer_id: 'c1', ai_provider: 'openai', ai_model: 'gpt-4o', ai_prompt_tokens: 200, ai_completion_tokens: 20, ai_cached_tokens: 50, ai_cost_usd: 0.02 }),
    ai({ ts: t0 + 3_000, consumer_id: 'c1', ai_provider: 'openai', ai_model: 'gpt-4o', ai_prompt_tokens: 300, ai_completion_tokens: 30, ai_cached_tokens: 100, ai_cost_usd: 0.03 }),
    ai({ ts: t0 + 4_000, consumer_id: 'c1' }),
    ai({ ts: t0 + MINUTE, consumer_id: 'c2', ai_provider: 'anthropic', ai_model: 'claude-3', ai_prompt_tokens: 1_000, ai_completion_tokens: 500, ai_cached_tokens: 800, ai_cost_usd: 0.5 }),
    ai({ ts: t0 + MINUTE + 1, consumer_id: 'c2', status: 500, ai_provider: 'anthropic', ai_model: 'claude-3', ai_prompt_tokens: 1_000, ai_completion_tokens: 500, ai_cached_tokens: 800, ai_cost_usd: 0.5 }),
    ai({ ts: t0 + HOUR + 5_000, consumer_id: 'c1', ai_provider: 'openai', ai_model: 'gpt-4o', ai_prompt_tokens: 7, ai_completion_tokens: 3, ai_cached_tokens: 4, ai_cost_usd: 0.001 }),
  ];
}

/** The INSERT an ingester from before migration 6 sends: no ai_cached_tokens column (and no such key). */
function insertWithoutCachedQuery(db: string, records: readonly CallRecord[]): string {
  const columns = CALL_COLUMNS.filter((c) => c !== 'ai_cached_tokens');
  let body = `INSERT INTO ${db}.calls (${columns.join(', ')}) FORMAT JSONEachRow\n`;
  for (const r of records) {
    const row = JSON.parse(encodeCallRow(r)) as Record<string, unknown>;
    delete row.ai_cached_tokens;
    body += JSON.stringify(row) + '\n';
  }
  return body;
}

const near = (actual: number, expected: number, what: string): void => assert.ok(Math.abs(actual - expected) < 1e-9, `${what}: ${actual} ≠ ${expected}`);

function aiSuite(e: Engine): void {
  const dbName = (): string => `tp_test_ai_${Date.now().toString(36)}_${process.pid}_${Math.floor(Math.random() * 1e6)}`;
  const withStore = async (fn: (s: Store) => Promise<void>): Promise<void> => {
    const s = await e.open(dbName());
    try {
      await fn(s);
    } finally {
      await s.dropDatabase().catch(() => undefined);
      await s.close();
    }
  };

  test(`${e.name}: per-bucket AI tokens, cost and AI calls in timeseries, rollups and top`, { timeout: 60_000 }, () =>
    withStore(async (s) => {
      const T0 = BASE + 100 * HOUR;
      await s.insert(fixture(T0));
      const ts = await s.timeseries({ from: T0, to: T0 + 2 * HOUR, interval: 'minute', group_by: 'none', service_id: 'svc-ai' });
      assert.deepEqual(
        ts.map((p) => [p.bucket - T0, p.requests, p.ai_calls, p.prompt_tokens, p.completion_tokens, p.cached_tokens]),
        [
          [0, 4, 3, 600, 60, 150],
          [MINUTE, 2, 2, 2_000, 1_000, 1_600],
          [HOUR, 1, 1, 7, 3, 4],
        ],
      );
      near(ts[0]!.cost_usd, 0.06, 'minute 0 cost');
      near(ts[1]!.cost_usd, 1, 'minute 1 cost');

      const hourly = await s.timeseries({ from: T0, to: T0 + 2 * HOUR, interval: 'hour', group_by: 'consumer', service_id: 'svc-ai' });
      assert.deepEqual(
        hourly.map((p) => [p.bucket - T0, p.key, p.ai_calls, p.prompt_tokens + p.completion_tokens, p.cached_tokens]),
        [
          [0, 'c1', 3, 660, 150],
          [0, 'c2', 2, 3_000, 1_600],
          [HOUR, 'c1', 1, 10, 4],
        ],
      );
      const points = await s.rollup('minute', { from: T0, to: T0 + MINUTE, consumer_id: 'c1' });
      assert.equal(points.reduce((n, p) => n + p.ai_calls, 0), 3);
      assert.equal(points.reduce((n, p) => n + p.cached_tokens, 0), 150);
      const hourPoints = await s.rollup('hour', { from: T0, to: T0 + 2 * HOUR });
      assert.equal(hourPoints.reduce((n, p) => n + p.cached_tokens, 0), 1_754);
      const consumers = await s.top({ dimension: 'consumer', from: T0, to: T0 + 2 * HOUR, limit: 10 });
      assert.deepEqual(consumers.map((c) => [c.key, c.cached_tokens]), [['c1', 154], ['c2', 1_600]]);

      const top = async (over: Partial<TopFilter>): Promise<Array<[string, number]>> =>
        (await s.top({ dimension: 'consumer', from: T0, to: T0 + 2 * HOUR, limit: 10, ...over })).map((t) => [t.key, t.requests]);
      // By requests c1 leads (5 calls); by cost and by tokens c2 does.
      assert.deepEqual(await top({}), [['c1', 5], ['c2', 2]]);
      assert.deepEqual(await top({ order_by: 'cost_usd' }), [['c2', 2], ['c1', 5]]);
      assert.deepEqual(await top({ order_by: 'tokens' }), [['c2', 2], ['c1', 5]]);

      const models = await s.top({ dimension: 'ai_model', order_by: 'cost_usd', from: T0, to: T0 + 2 * HOUR, limit: 10 });
      assert.deepEqual(
        models.map((m) => [m.key, m.requests, m.errors, m.prompt_tokens, m.completion_tokens, m.cached_tokens]),
        [
          ['claude-3', 2, 1, 2_000, 1_000, 1_600],
          ['gpt-4o', 4, 0, 607, 63, 154],
        ],
      );
      near(models[1]!.cost_usd, 0.061, 'gpt-4o cost');
      const providers = await s.top({ dimension: 'ai_provider', from: T0, to: T0 + 2 * HOUR, limit: 10 });
      assert.deepEqual(providers.map((p) => [p.key, p.requests]), [['openai', 4], ['anthropic', 2]]);
      // The AI rollup has hour buckets: the first hour only, and one consumer's models only.
      const firstHour = await s.top({ dimension: 'ai_model', from: T0, to: T0 + HOUR, limit: 10, consumer_id: 'c1' });
      assert.deepEqual(firstHour.map((m) => [m.key, m.requests, m.prompt_tokens, m.cached_tokens]), [['gpt-4o', 3, 600, 150]]);
      // Non-AI calls never reach ai_usage_1h.
      const rows = await s.sqlRunner.exec(`SELECT count() AS n FROM ${s.database}.ai_usage_1h WHERE ai_model = '' FORMAT JSONEachRow`);
      assert.equal(Number((JSON.parse(rows) as { n: string }).n), 0);

      for (const bad of [{ order_by: 'bogus' as TopOrder }, { order_by: 'toString' as TopOrder }, { dimension: 'ai_bogus' as TopFilter['dimension'] }]) {
        await assert.rejects(s.top({ dimension: 'consumer', from: T0, to: T0 + HOUR, limit: 10, ...bad }), (x: unknown) => x instanceof TurnpikeError && x.code === 'TP_ERR_VALIDATION');
      }
    }),
  );

  test(`${e.name}: upgrade from schema 4 keeps history, adds AI sums for new calls, backfill fills the old ones`, { timeout: 60_000 }, async () => {
    const db = dbName();
    const T0 = BASE + 200 * HOUR;
    const [before, later] = [fixture(T0).slice(0, 6), fixture(T0).slice(6)];
    const bare = e.runner();
    try {
      assert.deepEqual(await migrate(bare.runner, db, 4), [1, 2, 3, 4]);
      await bare.runner.exec(insertWithoutCachedQuery(db, before));
    } finally {
      await bare.close();
    }
    const migratedAt = T0 + HOUR;
    const s = await e.open(db); // applies migrations 5 and 6
    try {
      const hour0 = async (): Promise<{ requests: number; ai_calls: number; prompt_tokens: number; cached_tokens: number; cost_usd: number }> => {
        const p = await s.timeseries({ from: T0, to: T0 + HOUR, interval: 'hour', group_by: 'none' });
        assert.equal(p.length, 1);
        return p[0]!;
      };
      // History: every count is still there; its AI sums read 0 until the backfill.
      const old = await hour0();
      assert.deepEqual([old.requests, old.ai_calls, old.prompt_tokens, old.cost_usd], [6, 0, 0, 0]);
      assert.deepEqual(await s.top({ dimension: 'ai_model', from: T0, to: T0 + 2 * HOUR, limit: 10 }), []);

      await s.insert(later);
      const h1 = await s.timeseries({ from: T0 + HOUR, to: T0 + 2 * HOUR, interval: 'hour', group_by: 'none' });
      assert.deepEqual(h1.map((p) => [p.requests, p.ai_calls, p.prompt_tokens, p.completion_tokens, p.cached_tokens]), [[1, 1, 7, 3, 4]]);

      for (const q of aiUsageBackfillQueries(db, migratedAt)) await s.sqlRunner.exec(q);
      const filled = await hour0();
      assert.equal(filled.requests, 6, 'the backfill adds AI states only: requests not doubled');
      assert.equal(filled.ai_calls, 5);
      assert.equal(filled.prompt_tokens, 2_600);
      assert.equal(filled.cached_tokens, 0, 'calls stored before migration 6 have no cached tokens');
      near(filled.cost_usd, 1.06, 'backfilled cost');
      const minutes = await s.timeseries({ from: T0, to: T0 + HOUR, interval: 'minute', group_by: 'none' });
      assert.deepEqual(minutes.map((p) => [p.requests, p.ai_calls]), [[4, 3], [2, 2]]);
      const models = await s.top({ dimension: 'ai_model', from: T0, to: T0 + 2 * HOUR, limit: 10 });
      assert.deepEqual(models.map((m) => [m.key, m.requests]), [['gpt-4o', 4], ['claude-3', 2]]);
      // Opening again applies nothing more and leaves the views alone.
      assert.deepEqual(await migrate(s.sqlRunner, db), []);
    } finally {
      await s.dropDatabase().catch(() => undefined);
      await s.close();
    }
  });

  test(`${e.name}: upgrade from schema 5 adds cached tokens: old rows and old ingesters read 0, new calls are summed`, { timeout: 60_000 }, async () => {
    const db = dbName();
    const T0 = BASE + 300 * HOUR;
    const [before, later] = [fixture(T0).slice(0, 6), fixture(T0).slice(6)];
    const bare = e.runner();
    try {
      assert.deepEqual(await migrate(bare.runner, db, 5), [1, 2, 3, 4, 5]);
      await bare.runner.exec(insertWithoutCachedQuery(db, before));
    } finally {
      await bare.close();
    }
    const s = await e.open(db); // applies migration 6
    try {
      // Old rows: every count and migration 5's sums kept, cached tokens 0 in calls and in all three rollups.
      const stored = await s.calls({ from: T0, to: T0 + HOUR });
      assert.equal(stored.length, 6);
      assert.ok(stored.every((r) => r.ai_cached_tokens === 0));
      const h0 = await s.timeseries({ from: T0, to: T0 + HOUR, interval: 'minute', group_by: 'none' });
      assert.deepEqual(h0.map((p) => [p.requests, p.ai_calls, p.prompt_tokens, p.cached_tokens]), [[4, 3, 600, 0], [2, 2, 2_000, 0]]);
      const models0 = await s.top({ dimension: 'ai_model', from: T0, to: T0 + HOUR, limit: 10 });
      assert.deepEqual(models0.map((m) => [m.key, m.requests, m.prompt_tokens, m.cached_tokens]), [['gpt-4o', 3, 600, 0], ['claude-3', 2, 2_000, 0]]);

      // Migration 6 run again (a second ingester starting, or a re-run after a crash) finds it all done.
      const executed: string[] = [];
      await MIGRATIONS.find((m) => m.version === 6)!.apply!({ exec: async (q) => (executed.push(q), await s.sqlRunner.exec(q)) }, db);
      assert.ok(executed.every((q) => q.trimStart().startsWith('SELECT')), `only reads: ${executed.join('; ')}`);

      // A new call reaches calls and every rollup with its cached tokens; one from an ingester that predates
      // migration 6 (no ai_cached_tokens in its INSERT) is still accepted, with 0.
      await s.insert(later);
      await s.sqlRunner.exec(insertWithoutCachedQuery(db, [ai({ ts: T0 + HOUR + 6_000, consumer_id: 'c1', ai_provider: 'openai', ai_model: 'gpt-4o', ai_prompt_tokens: 9, ai_completion_tokens: 1, ai_cached_tokens: 5, ai_cost_usd: 0.001 })]));
      const h1 = await s.timeseries({ from: T0 + HOUR, to: T0 + 2 * HOUR, interval: 'hour', group_by: 'none' });
      assert.deepEqual(h1.map((p) => [p.requests, p.ai_calls, p.prompt_tokens, p.cached_tokens]), [[2, 2, 16, 4]]);
      const m1 = await s.timeseries({ from: T0 + HOUR, to: T0 + 2 * HOUR, interval: 'minute', group_by: 'none' });
      assert.deepEqual(m1.map((p) => [p.requests, p.cached_tokens]), [[2, 4]]);
      const models1 = await s.top({ dimension: 'ai_model', from: T0 + HOUR, to: T0 + 2 * HOUR, limit: 10 });
      assert.deepEqual(models1.map((m) => [m.key, m.requests, m.prompt_tokens, m.cached_tokens]), [['gpt-4o', 2, 16, 4]]);
      const newest = await s.calls({ from: T0 + HOUR, to: T0 + 2 * HOUR });
      assert.deepEqual(newest.map((r) => r.ai_cached_tokens), [0, 4]);
      assert.deepEqual(await migrate(s.sqlRunner, db), []);
    } finally {
      await s.dropDatabase().catch(() => undefined);
      await s.close();
    }
  });
}

describe('AI usage rollups', { timeout: 240_000 }, () => {
  const url = testEnv().clickhouseUrl;
  aiSuite({
    name: 'ClickHouseStore',
    open: async (db) => await ClickHouseStore.open(url, db),
    runner: () => {
      const c = new ClickHouseHttpClient(url);
      return { runner: c, close: () => c.close() };
    },
  });
  const dir = mkdtempSync(join(tmpdir(), 'tp-chdb-ai-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  aiSuite({
    name: 'ChdbStore',
    open: async (db) => await ChdbStore.open(dir, db),
    runner: () => {
      const session = openChdbSession(dir);
      return { runner: { exec: async (text) => (await session.queryAsync(text)).text() }, close: async () => session.close() };
    },
  });
});
