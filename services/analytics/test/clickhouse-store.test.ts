// AnalyticsStore contract against the ClickHouse server started by infra/local (TP_TEST_CLICKHOUSE_URL).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { testEnv } from '@turnpike/common/testing';
import { AnalyticsStoreError, ClickHouseStore } from '../src/index.js';
import { storeContract } from './store-contract.js';

describe('ClickHouseStore', { timeout: 180_000 }, () => {
  const url = testEnv().clickhouseUrl;
  storeContract('ClickHouseStore', async (db) => await ClickHouseStore.open(url, db));

  test('open is idempotent on an existing database', { timeout: 30_000 }, async () => {
    const db = `tp_test_reopen_${Date.now().toString(36)}`;
    const a = await ClickHouseStore.open(url, db);
    try {
      const b = await ClickHouseStore.open(url, db);
      await b.close();
    } finally {
      await a.dropDatabase();
      await a.close();
    }
  });

  test('an unreachable server is reported as TP_ERR_UNAVAILABLE', { timeout: 30_000 }, async () => {
    await assert.rejects(
      ClickHouseStore.open('http://127.0.0.1:1', 'tp_unreachable', { timeoutMs: 2_000 }),
      (e: unknown) => e instanceof AnalyticsStoreError && e.code === 'TP_ERR_UNAVAILABLE',
    );
  });

  test('an invalid database name is refused before any query', { timeout: 10_000 }, async () => {
    await assert.rejects(ClickHouseStore.open(url, 'bad-name; DROP'), /invalid ClickHouse database name/);
  });
});
