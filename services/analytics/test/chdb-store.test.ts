// AnalyticsStore contract against embedded ClickHouse (chdb) in a temporary directory.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ChdbStore, StoreLogSink } from '../src/index.js';
import { call, storeContract } from './store-contract.js';

describe('ChdbStore', { timeout: 180_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'tp-chdb-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  storeContract('ChdbStore', async (db) => await ChdbStore.open(dir, db));

  test('records persist in the directory across close and reopen', { timeout: 60_000 }, async () => {
    const r = call();
    const a = await ChdbStore.open(dir, 'tp_persist');
    await a.insert([r]);
    await a.close();
    const b = await ChdbStore.open(dir, 'tp_persist');
    try {
      assert.deepEqual(await b.calls({}), [r]);
    } finally {
      await b.dropDatabase();
      await b.close();
    }
  });

  test('StoreLogSink writes batches into the store; a repeated batch is counted once', { timeout: 60_000 }, async () => {
    const store = await ChdbStore.open(dir, 'tp_sink');
    try {
      const sink = new StoreLogSink(store);
      const batch = [call(), call({ status: 500 })];
      await sink.write(batch);
      await sink.write(batch);
      await sink.close();
      assert.deepEqual((await store.calls({})).map((r) => r.request_id).sort(), batch.map((r) => r.request_id).sort());
      await assert.rejects(sink.write([{ ...call(), ts: -1 }]), /invalid call record/);
    } finally {
      await store.dropDatabase();
      await store.close();
    }
  });
});
