// The analytics endpoints over real HTTP, answered by the ClickHouse store (@turnpike/analytics) on the
// ClickHouse server of infra/local, in a database of this test's own.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { ClickHouseStore } from '@turnpike/analytics';
import type { CallRecord } from '@turnpike/common';
import { testEnv, uniqueName } from '@turnpike/common/testing';
import { startHarness, type Harness } from './support.js';

const SERVICE = randomUUID();
const MINUTE = 60_000;
const T0 = Math.floor((Date.now() - 30 * MINUTE) / MINUTE) * MINUTE;

function call(i: number, status: number, service = SERVICE): CallRecord {
  return {
    request_id: randomUUID(),
    ts: T0 + i * 1000,
    node_id: 'n1',
    service_id: service,
    route_id: randomUUID(),
    consumer_id: '',
    method: 'GET',
    path: `/x/${i}`,
    status,
    upstream_latency_ms: 1,
    total_latency_ms: 2,
    bytes_in: 0,
    bytes_out: 10,
    error_code: '',
  };
}

describe('analytics endpoints with ClickHouse', { timeout: 60_000 }, () => {
  let store: ClickHouseStore;
  let h: Harness;
  before(async () => {
    store = await ClickHouseStore.open(testEnv().clickhouseUrl, uniqueName('tp_cp_an'));
    await store.insert([call(1, 200), call(2, 200), call(3, 404), call(4, 502), call(5, 200, randomUUID())]);
    h = await startHarness({ analytics: store });
  });
  after(async () => {
    await h?.close();
    await store?.dropDatabase().catch(() => undefined);
    await store?.close();
  });

  it('calls filters by service, status and status class; times as ms or ISO', async () => {
    const all = await h.rest('GET', `/v1/analytics/calls?service_id=${SERVICE}&from=${T0}&to=${new Date(T0 + MINUTE).toISOString()}`);
    assert.equal(all.status, 200);
    assert.equal(all.json.data.length, 4);
    assert.ok(all.json.data.every((c: CallRecord) => c.service_id === SERVICE));

    const notFound = await h.rest('GET', `/v1/analytics/calls?service_id=${SERVICE}&status=404`);
    assert.deepEqual(notFound.json.data.map((c: CallRecord) => c.status), [404]);
    const fives = await h.rest('GET', `/v1/analytics/calls?service_id=${SERVICE}&status_class=5xx`);
    assert.deepEqual(fives.json.data.map((c: CallRecord) => c.status), [502]);
    const limited = await h.rest('GET', `/v1/analytics/calls?service_id=${SERVICE}&limit=2`);
    assert.equal(limited.json.data.length, 2);
  });

  it('trend counts per minute by status class', async () => {
    const r = await h.rest('GET', `/v1/analytics/trend?service_id=${SERVICE}&from=${T0 - MINUTE}&to=${T0 + 2 * MINUTE}`);
    assert.equal(r.status, 200);
    const total = r.json.data.reduce((n: number, p: { total: number }) => n + p.total, 0);
    const s2 = r.json.data.reduce((n: number, p: { s2xx: number }) => n + p.s2xx, 0);
    assert.equal(total, 4);
    assert.equal(s2, 2);
  });
});
