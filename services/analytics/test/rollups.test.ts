// Rollups (calls_1m / calls_1h via materialized views) and partition-drop retention, against both the
// ClickHouse server (18.16 locally) and embedded chdb (current ClickHouse), with the same SQL.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TurnpikeError, type CallRecord } from '@turnpike/common';
import { testEnv } from '@turnpike/common/testing';
import { ChdbStore, ClickHouseStore, type SqlAnalyticsStore } from '../src/index.js';
import { BASE, call } from './store-contract.js';

type Store = SqlAnalyticsStore & { dropDatabase(): Promise<void> };
const DAY = 86_400_000;

function rollupSuite(name: string, open: (db: string) => Promise<Store>): void {
  const withStore = async (fn: (s: Store) => Promise<void>): Promise<void> => {
    const s = await open(`tp_test_rollup_${Date.now().toString(36)}_${process.pid}_${Math.floor(Math.random() * 1e6)}`);
    try {
      await fn(s);
    } finally {
      await s.dropDatabase().catch(() => undefined);
      await s.close();
    }
  };

  test(`${name}: per-minute and per-hour rollups count, sum and give latency quantiles`, { timeout: 60_000 }, () =>
    withStore(async (s) => {
      // Minute 0: 100 calls of svc-1 with latencies 1..100 ms, every 10th a 503.
      // Minute 1: 3 calls of svc-2, one 429 tagged with an error code.
      const recs: CallRecord[] = [];
      for (let i = 1; i <= 100; i++) {
        recs.push(call({ ts: BASE + i * 100, service_id: 'svc-1', total_latency_ms: i, bytes_in: 10, bytes_out: 100, status: i % 10 === 0 ? 503 : 200 }));
      }
      recs.push(call({ ts: BASE + 60_000, service_id: 'svc-2', status: 200, total_latency_ms: 5 }));
      recs.push(call({ ts: BASE + 61_000, service_id: 'svc-2', status: 200, total_latency_ms: 7 }));
      recs.push(call({ ts: BASE + 62_000, service_id: 'svc-2', status: 429, error_code: 'TP_ERR_RATE_LIMITED', total_latency_ms: 1 }));
      await s.insert(recs.slice(0, 50));
      await s.insert(recs.slice(50));

      const minutes = await s.rollup('minute', { from: BASE, to: BASE + 3_600_000 });
      const key = (p: { bucket: number; service_id: string; status_class: number }): string => `${p.bucket - BASE}/${p.service_id}/${p.status_class}xx`;
      assert.deepEqual(minutes.map(key), ['0/svc-1/2xx', '0/svc-1/5xx', '60000/svc-2/2xx', '60000/svc-2/4xx']);
      const [ok1, err1, ok2, err2] = minutes as [(typeof minutes)[0], (typeof minutes)[0], (typeof minutes)[0], (typeof minutes)[0]];
      assert.equal(ok1.requests, 90);
      assert.equal(ok1.errors, 0);
      assert.equal(err1.requests, 10);
      assert.equal(err1.errors, 10);
      assert.equal(err1.bytes_out, 1_000);
      assert.equal(ok1.bytes_in, 900);
      assert.equal(ok2.requests, 2);
      assert.equal(err2.errors, 1, 'a 429 with an error code is an error');
      assert.equal(ok2.latency_avg_ms, 6);
      // svc-1 2xx latencies: 1..99 without multiples of 10 (90 values).
      assert.ok(Math.abs(ok1.latency_p50_ms - 50) <= 2, `p50 ${ok1.latency_p50_ms}`);
      assert.ok(Math.abs(ok1.latency_p95_ms - 94) <= 2, `p95 ${ok1.latency_p95_ms}`);
      assert.ok(Math.abs(ok1.latency_p99_ms - 98) <= 2, `p99 ${ok1.latency_p99_ms}`);

      const hours = await s.rollup('hour', { from: BASE, to: BASE + 3_600_000, service_id: 'svc-1' });
      assert.deepEqual(hours.map((h) => [h.bucket, h.status_class, h.requests]), [
        [BASE, 2, 90],
        [BASE, 5, 10],
      ]);
      const all = await s.rollup('hour', { from: BASE, to: BASE + 3_600_000 });
      assert.equal(all.reduce((a, h) => a + h.requests, 0), 103);
      // Merged across both inserts: the hourly p50 over all 103 calls, not one per block.
      const only5xx = await s.rollup('minute', { status_class: 5, from: BASE, to: BASE + 120_000 });
      assert.equal(only5xx.length, 1);
      assert.equal(only5xx[0]?.latency_avg_ms, 55);
    }),
  );

  test(`${name}: retention drops expired partitions of calls and rollups, keeps the rest`, { timeout: 60_000 }, () =>
    withStore(async (s) => {
      const old = call({ ts: BASE - 90 * DAY });
      const fresh = call({ ts: BASE });
      await s.insert([old, fresh]);
      const before = await s.rollup('minute', {});
      assert.equal(before.length, 2);
      // Nothing is older than 120 days: nothing dropped.
      assert.deepEqual(await s.dropExpired({ rawDays: 120, rollupDays: 120 }, BASE), []);
      const dropped = await s.dropExpired({ rawDays: 30, rollupDays: 30 }, BASE);
      assert.deepEqual(dropped.map((d) => d.table).sort(), ['calls', 'calls_1h', 'calls_1m']);
      assert.deepEqual((await s.calls({})).map((r) => r.request_id), [fresh.request_id]);
      assert.deepEqual((await s.rollup('minute', {})).map((p) => p.bucket), [BASE]);
      assert.deepEqual((await s.rollup('hour', {})).map((p) => p.bucket), [BASE]);
      // 0 days means keep everything.
      assert.deepEqual(await s.dropExpired({ rawDays: 0, rollupDays: 0 }, BASE + 10_000 * DAY), []);
      assert.equal((await s.calls({})).length, 1);
    }),
  );

  test(`${name}: invalid rollup filters are refused with TP_ERR_VALIDATION`, { timeout: 30_000 }, () =>
    withStore(async (s) => {
      for (const f of [{ status_class: 7 }, { from: -1 }, { service_id: 5 as unknown as string }]) {
        await assert.rejects(s.rollup('minute', f), (e: unknown) => e instanceof TurnpikeError && e.code === 'TP_ERR_VALIDATION');
      }
    }),
  );
}

describe('rollups and retention', { timeout: 240_000 }, () => {
  rollupSuite('ClickHouseStore', async (db) => await ClickHouseStore.open(testEnv().clickhouseUrl, db));
  const dir = mkdtempSync(join(tmpdir(), 'tp-chdb-rollup-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  rollupSuite('ChdbStore', async (db) => await ChdbStore.open(dir, db));
});
