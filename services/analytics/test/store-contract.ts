// The AnalyticsStore contract, run against every implementation (ClickHouse server, chdb) so both
// answer the same questions the same way.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { TurnpikeError, type AnalyticsStore, type CallRecord } from '@turnpike/common';

export interface StoreUnderTest extends AnalyticsStore {
  dropDatabase(): Promise<void>;
}

export type OpenStore = (database: string) => Promise<StoreUnderTest>;

// 2026-01-01T10:00:00Z: a fixed minute boundary so trend buckets are predictable.
export const BASE = Date.UTC(2026, 0, 1, 10, 0, 0);

let seq = 0;
export function call(over: Partial<CallRecord> = {}): CallRecord {
  seq++;
  return {
    request_id: `req-${randomBytes(6).toString('hex')}-${seq}`,
    ts: BASE,
    node_id: 'node-a',
    service_id: 'svc-1',
    route_id: 'route-1',
    consumer_id: 'cons-1',
    method: 'GET',
    path: '/v1/things',
    status: 200,
    upstream_latency_ms: 12.5,
    total_latency_ms: 14.25,
    bytes_in: 0,
    bytes_out: 512,
    error_code: '',
    credential_id: 'cred-1',
    plan_id: 'plan-gold',
    client_ip: '203.0.113.7',
    user_agent: 'curl/8.5.0',
    host: 'api.example.com:8000',
    gateway_latency_ms: 1.75,
    upstream_connect_ms: 0.5,
    upstream_ttfb_ms: 12.5,
    upstream_addr: '10.0.0.5:8080',
    ai_provider: '',
    ai_model: '',
    ai_prompt_tokens: 0,
    ai_completion_tokens: 0,
    ai_cached_tokens: 0,
    ai_cost_usd: 0,
    captured: '',
    ...over,
  };
}

/** A record as a node before issue 8 sent it: none of the full-record fields. */
export function legacyCall(over: Partial<CallRecord> = {}): CallRecord {
  const { request_id, ts, node_id, service_id, route_id, consumer_id, method, path, status, upstream_latency_ms, total_latency_ms, bytes_in, bytes_out, error_code } = call(over);
  return { request_id, ts, node_id, service_id, route_id, consumer_id, method, path, status, upstream_latency_ms, total_latency_ms, bytes_in, bytes_out, error_code };
}

const ids = (rs: CallRecord[]): string[] => rs.map((r) => r.request_id).sort();

export function storeContract(name: string, open: OpenStore): void {
  const withStore = async (fn: (s: StoreUnderTest) => Promise<void>): Promise<void> => {
    const store = await open(`tp_test_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`);
    try {
      await fn(store);
    } finally {
      await store.dropDatabase().catch(() => undefined);
      await store.close();
    }
  };
  const opts = { timeout: 60_000 };

  test(`${name}: inserted records come back with every field intact, newest first`, opts, () =>
    withStore(async (s) => {
      const a = call({ ts: BASE + 1, status: 201, method: 'POST', bytes_in: 42, upstream_latency_ms: 0.125 });
      const b = call({ ts: BASE + 2_500, status: 502, error_code: 'TP_ERR_UPSTREAM_UNAVAILABLE', upstream_latency_ms: 0 });
      const c = call({ ts: BASE + 61_000, consumer_id: '', bytes_out: 2 ** 40 });
      await s.insert([a, b]);
      await s.insert([c]);
      assert.deepEqual(await s.calls({}), [c, b, a]);
      await s.insert([]);
      assert.equal((await s.calls({})).length, 3);
    }));

  test(`${name}: a record without the full-record fields (older node) is stored with defaults; a full one keeps them all`, opts, () =>
    withStore(async (s) => {
      const old = legacyCall({ ts: BASE + 1, upstream_latency_ms: 10, total_latency_ms: 12.5 });
      const full = call({
        ts: BASE + 2,
        ai_provider: 'openai',
        ai_model: 'gpt-4o-mini',
        ai_prompt_tokens: 1234,
        ai_completion_tokens: 56,
        ai_cached_tokens: 1024,
        ai_cost_usd: 0.000219,
        user_agent: 'ünïcode agent \u{1F600}',
        captured: JSON.stringify({ request_headers: { authorization: '[REDACTED]' }, request_body: '{"a":1}' }),
      });
      await s.insert([old, full]);
      const [gotFull, gotOld] = await s.calls({});
      assert.deepEqual(gotFull, full);
      assert.deepEqual(gotOld, {
        ...old,
        credential_id: '',
        plan_id: '',
        client_ip: '',
        user_agent: '',
        host: '',
        // Derived for an older record: total − upstream.
        gateway_latency_ms: 2.5,
        upstream_connect_ms: 0,
        upstream_ttfb_ms: 0,
        upstream_addr: '',
        ai_provider: '',
        ai_model: '',
        ai_prompt_tokens: 0,
        ai_completion_tokens: 0,
        ai_cached_tokens: 0,
        ai_cost_usd: 0,
        captured: '',
      });
    }));

  test(`${name}: a full-record field of the wrong type is refused`, opts, () =>
    withStore(async (s) => {
      await assert.rejects(s.insert([{ ...call(), ai_prompt_tokens: -1 }]), (e: unknown) => e instanceof TurnpikeError && e.code === 'TP_ERR_VALIDATION');
      await assert.rejects(s.insert([{ ...call(), client_ip: 7 as unknown as string }]), (e: unknown) => e instanceof TurnpikeError && e.code === 'TP_ERR_VALIDATION');
    }));

  test(`${name}: the same request id inserted again (same or later insert) is counted once`, opts, () =>
    withStore(async (s) => {
      const a = call({ ts: BASE + 10 });
      const b = call({ ts: BASE + 20, status: 404 });
      await s.insert([a, a, b]);
      await s.insert([b, a]);
      await s.insert([a]);
      assert.deepEqual(ids(await s.calls({})), ids([a, b]));
      const trend = await s.trend({});
      assert.deepEqual(trend, [{ minute: BASE, s2xx: 1, s3xx: 0, s4xx: 1, s5xx: 0, total: 2 }]);
    }));

  test(`${name}: time filters are inclusive from, exclusive to, at millisecond precision`, opts, () =>
    withStore(async (s) => {
      const r0 = call({ ts: BASE - 1 });
      const r1 = call({ ts: BASE });
      const r2 = call({ ts: BASE + 999 });
      const r3 = call({ ts: BASE + 1_000 });
      const r4 = call({ ts: BASE + 3_600_000 });
      await s.insert([r0, r1, r2, r3, r4]);
      assert.deepEqual(ids(await s.calls({ from: BASE })), ids([r1, r2, r3, r4]));
      assert.deepEqual(ids(await s.calls({ to: BASE + 999 })), ids([r0, r1]));
      assert.deepEqual(ids(await s.calls({ from: BASE, to: BASE + 1_000 })), ids([r1, r2]));
      assert.deepEqual(ids(await s.calls({ from: BASE + 1, to: BASE + 1_001 })), ids([r2, r3]));
      assert.deepEqual(await s.calls({ from: BASE + 10, to: BASE + 10 }), []);
      assert.deepEqual(await s.calls({ to: 0 }), []);
    }));

  test(`${name}: service, route, consumer, status and status class filters; limit`, opts, () =>
    withStore(async (s) => {
      const rs = [
        call({ ts: BASE + 1, service_id: 'svc-1', status: 200 }),
        call({ ts: BASE + 2, service_id: 'svc-1', status: 404, route_id: 'route-2' }),
        call({ ts: BASE + 3, service_id: 'svc-2', status: 500, consumer_id: 'cons-2' }),
        call({ ts: BASE + 4, service_id: 'svc-2', status: 503 }),
        call({ ts: BASE + 5, service_id: 'svc-2', status: 302 }),
      ];
      await s.insert(rs);
      const pick = (...i: number[]): string[] => ids(i.map((x) => rs[x] as CallRecord));
      assert.deepEqual(ids(await s.calls({ service_id: 'svc-1' })), pick(0, 1));
      assert.deepEqual(ids(await s.calls({ route_id: 'route-2' })), pick(1));
      assert.deepEqual(ids(await s.calls({ consumer_id: 'cons-2' })), pick(2));
      assert.deepEqual(ids(await s.calls({ status: 404 })), pick(1));
      assert.deepEqual(ids(await s.calls({ status_class: 5 })), pick(2, 3));
      assert.deepEqual(ids(await s.calls({ status_class: 5, service_id: 'svc-2', status: 503 })), pick(3));
      assert.deepEqual(ids(await s.calls({ status_class: 3 })), pick(4));
      assert.deepEqual(await s.calls({ service_id: 'nope' }), []);
      const limited = await s.calls({ limit: 2 });
      assert.deepEqual(limited.map((r) => r.request_id), [rs[4]?.request_id, rs[3]?.request_id]);
    }));

  test(`${name}: trend counts per minute by status class, honouring filters`, opts, () =>
    withStore(async (s) => {
      const m = 60_000;
      await s.insert([
        call({ ts: BASE + 1, status: 200 }),
        call({ ts: BASE + 59_999, status: 204 }),
        call({ ts: BASE + 30_000, status: 301 }),
        call({ ts: BASE + 40_000, status: 429, service_id: 'svc-2' }),
        call({ ts: BASE + m, status: 500 }),
        call({ ts: BASE + 3 * m + 5, status: 404 }),
        call({ ts: BASE + 3 * m + 6, status: 101 }),
      ]);
      assert.deepEqual(await s.trend({}), [
        { minute: BASE, s2xx: 2, s3xx: 1, s4xx: 1, s5xx: 0, total: 4 },
        { minute: BASE + m, s2xx: 0, s3xx: 0, s4xx: 0, s5xx: 1, total: 1 },
        // A 1xx counts in total only.
        { minute: BASE + 3 * m, s2xx: 0, s3xx: 0, s4xx: 1, s5xx: 0, total: 2 },
      ]);
      assert.deepEqual(await s.trend({ service_id: 'svc-2' }), [{ minute: BASE, s2xx: 0, s3xx: 0, s4xx: 1, s5xx: 0, total: 1 }]);
      assert.deepEqual(await s.trend({ from: BASE + m, to: BASE + 3 * m + 6 }), [
        { minute: BASE + m, s2xx: 0, s3xx: 0, s4xx: 0, s5xx: 1, total: 1 },
        { minute: BASE + 3 * m, s2xx: 0, s3xx: 0, s4xx: 1, s5xx: 0, total: 1 },
      ]);
      assert.deepEqual(await s.trend({ status_class: 2 }), [{ minute: BASE, s2xx: 2, s3xx: 0, s4xx: 0, s5xx: 0, total: 2 }]);
      assert.deepEqual(await s.trend({ from: BASE + 10 * m }), []);
    }));

  test(`${name}: timeseries and top from the rollups; search by request id with offset paging`, opts, () =>
    withStore(async (s) => {
      const m = 60_000;
      const rs = [
        call({ ts: BASE + 1, route_id: 'r-a', total_latency_ms: 10, bytes_out: 5 }),
        call({ ts: BASE + 2, route_id: 'r-a', total_latency_ms: 20, bytes_out: 5 }),
        call({ ts: BASE + 3, route_id: 'r-a', total_latency_ms: 900, status: 502, bytes_out: 5 }),
        call({ ts: BASE + 4, route_id: 'r-b', status: 429, error_code: 'TP_ERR_RATE_LIMITED', bytes_out: 5 }),
        call({ ts: BASE + m + 1, route_id: 'r-b', bytes_out: 5 }),
      ];
      await s.insert(rs);
      const pts = await s.timeseries({ from: BASE, to: BASE + 2 * m, interval: 'minute', group_by: 'none' });
      assert.deepEqual(
        pts.map((p) => [p.bucket, p.key, p.requests, p.errors, p.bytes_out]),
        [
          [BASE, '', 4, 2, 20],
          [BASE + m, '', 1, 0, 5],
        ],
      );
      const p0 = pts[0]!;
      assert.ok(p0.latency_p50_ms <= p0.latency_p95_ms && p0.latency_p95_ms <= p0.latency_p99_ms);
      const byRoute = await s.timeseries({ from: BASE, to: BASE + m, interval: 'minute', group_by: 'route' });
      assert.deepEqual(byRoute.map((p) => [p.key, p.requests]), [['r-a', 3], ['r-b', 1]]);
      const hourly = await s.timeseries({ from: BASE, to: BASE + 60 * m, interval: 'hour', group_by: 'none', route_id: 'r-b' });
      assert.deepEqual(hourly.map((p) => [p.bucket, p.requests]), [[BASE, 2]]);
      const noAi = { prompt_tokens: 0, completion_tokens: 0, cached_tokens: 0, cost_usd: 0 };
      assert.deepEqual(await s.top({ dimension: 'route', from: BASE, to: BASE + 2 * m, limit: 10 }), [
        { key: 'r-a', requests: 3, errors: 1, ...noAi },
        { key: 'r-b', requests: 2, errors: 1, ...noAi },
      ]);
      assert.deepEqual(await s.top({ dimension: 'error_code', from: BASE, to: BASE + 2 * m, limit: 10 }), [
        { key: 'TP_ERR_RATE_LIMITED', requests: 1, errors: 1, ...noAi },
      ]);
      assert.deepEqual(ids(await s.calls({ request_id: rs[2]!.request_id })), [rs[2]!.request_id]);
      const page2 = await s.calls({ limit: 2, offset: 2 });
      assert.deepEqual(page2.map((r) => r.request_id), [rs[2]!.request_id, rs[1]!.request_id]);
    }));

  test(`${name}: hostile strings are stored verbatim and are safe as filter values`, opts, () =>
    withStore(async (s) => {
      const nasty = [
        "x' OR 1=1 --",
        "\\'; DROP TABLE calls; --",
        'back\\slash\\',
        'new\nline\r\ttab\0nul\u0001\u007f',
        'unicode é 😀 中文',
        '"double" `back`',
      ];
      const rs = nasty.map((v, i) => call({ ts: BASE + i, service_id: v, path: v, consumer_id: v }));
      await s.insert(rs);
      for (const r of rs) {
        assert.deepEqual(await s.calls({ service_id: r.service_id }), [r], JSON.stringify(r.service_id));
      }
      assert.equal((await s.calls({ service_id: "' OR '1'='1" })).length, 0);
      // A lone surrogate cannot be stored as UTF-8; it becomes U+FFFD instead of failing the batch.
      const lone = call({ ts: BASE + 100, path: 'a\uD800b' });
      await s.insert([lone]);
      const got = await s.calls({ from: BASE + 100 });
      assert.equal(got[0]?.path, 'a\uFFFDb');
    }));

  test(`${name}: values at the edges of their column types come back intact`, opts, () =>
    withStore(async (s) => {
      // String lengths around the one-, two- and three-byte length prefixes of RowBinary (127/128, 16383/16384
      // bytes), multi-byte characters across them, 64-bit counts past 2^32, a status of 65535, tiny and huge
      // floats, the last representable second.
      const rs = [
        call({ ts: BASE + 1, path: 'p'.repeat(127), user_agent: 'u'.repeat(128), captured: 'c'.repeat(16_383), bytes_out: 2 ** 32 + 5 }),
        call({ ts: BASE + 2, path: 'é'.repeat(64), user_agent: '😀'.repeat(40), captured: 'x'.repeat(16_384), bytes_in: Number.MAX_SAFE_INTEGER, status: 65535 }),
        call({ ts: BASE + 3, upstream_latency_ms: 1e-9, total_latency_ms: 1e12, ai_cost_usd: 0.000001, ai_prompt_tokens: 4_000_000_000, ai_model: 'm'.repeat(300) }),
      ];
      await s.insert(rs);
      const got = await s.calls({ from: BASE, to: BASE + 10 });
      assert.deepEqual(got, [rs[2], rs[1], rs[0]].map((r) => ({ ...r })));
    }));

  test(`${name}: invalid filters and records are refused with TP_ERR_VALIDATION`, opts, () =>
    withStore(async (s) => {
      const isValidation = (e: unknown): boolean => e instanceof TurnpikeError && e.code === 'TP_ERR_VALIDATION';
      await assert.rejects(s.calls({ limit: 0 }), isValidation);
      await assert.rejects(s.calls({ limit: 1.5 }), isValidation);
      await assert.rejects(s.calls({ from: -1 }), isValidation);
      await assert.rejects(s.calls({ from: Number.NaN }), isValidation);
      await assert.rejects(s.trend({ status_class: 7 }), isValidation);
      await assert.rejects(s.calls({ status: 200.5 }), isValidation);
      await assert.rejects(s.insert([call({ status: -1 })]), isValidation);
      await assert.rejects(s.insert([call({ ts: 1.5 })]), isValidation);
      await assert.rejects(s.insert([{ ...call(), service_id: 5 } as unknown as CallRecord]), isValidation);
      assert.deepEqual(await s.calls({}), []);
    }));
}
