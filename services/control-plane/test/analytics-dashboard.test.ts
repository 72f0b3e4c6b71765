// The dashboard analytics endpoints (time series, top N, consumer summary, paged search, CSV export) over
// real HTTP, answered from the rollups and the calls table of the local ClickHouse server.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { ClickHouseStore } from '@turnpike/analytics';
import type { CallRecord } from '@turnpike/common';
import { hourlyRollupsSql, testEnv, uniqueName } from '@turnpike/common/testing';
import { startHarness, type Harness } from './support.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const T0 = Math.floor((Date.now() - 3 * HOUR) / HOUR) * HOUR;
const SERVICE = randomUUID();
const R1 = randomUUID();
const R2 = randomUUID();
const C1 = randomUUID();
const C2 = randomUUID();

function call(at: number, route: string, consumer: string, status: number, latency: number, extra: Partial<CallRecord> = {}): CallRecord {
  return {
    request_id: randomUUID(),
    ts: at,
    node_id: 'n1',
    service_id: SERVICE,
    route_id: route,
    consumer_id: consumer,
    method: 'GET',
    path: '/p',
    status,
    upstream_latency_ms: latency,
    total_latency_ms: latency,
    bytes_in: 10,
    bytes_out: 100,
    error_code: '',
    ...extra,
  };
}

// Minute T0: 6 calls on R1/C1, 3 on R2/C2 (one 500, one 429 tagged by rate limiting); minute T0+1: 1 on R1/C1.
const CALLS: CallRecord[] = [
  ...[10, 20, 30, 40, 50, 1000].map((l, i) => call(T0 + i * 1000, R1, C1, 200, l)),
  call(T0 + 10_000, R2, C2, 200, 5, { user_agent: 'agent, "quoted"\nnext' }),
  call(T0 + 11_000, R2, C2, 500, 7),
  call(T0 + 12_000, R2, C2, 429, 1, { error_code: 'TP_ERR_RATE_LIMITED' }),
  call(T0 + MINUTE + 1000, R1, C1, 200, 15),
];

// AI usage on its own service (so the counts above stay as they are), minute T0+5: consumer C3 makes two
// gpt-4o calls and one non-AI call, C4 one claude call.
const AI_SERVICE = randomUUID();
const C3 = randomUUID();
const C4 = randomUUID();
const aiCall = (consumer: string, extra: Partial<CallRecord> = {}): CallRecord => ({ ...call(T0 + 5 * MINUTE, R1, consumer, 200, 20, extra), service_id: AI_SERVICE });
const AI_CALLS: CallRecord[] = [
  aiCall(C3, { ai_provider: 'openai', ai_model: 'gpt-4o', ai_prompt_tokens: 100, ai_completion_tokens: 50, ai_cost_usd: 0.25 }),
  aiCall(C3, { ai_provider: 'openai', ai_model: 'gpt-4o', ai_prompt_tokens: 200, ai_completion_tokens: 60, ai_cached_tokens: 150, ai_cost_usd: 0.5 }),
  aiCall(C3),
  aiCall(C4, { ai_provider: 'anthropic', ai_model: 'claude-3-5-sonnet', ai_prompt_tokens: 1000, ai_completion_tokens: 10, ai_cached_tokens: 600, ai_cost_usd: 2 }),
];

describe('analytics dashboard endpoints with ClickHouse', { timeout: 120_000 }, () => {
  let store: ClickHouseStore;
  let h: Harness;
  before(async () => {
    store = await ClickHouseStore.open(testEnv().clickhouseUrl, uniqueName('tp_cp_dash'));
    await store.insert(CALLS);
    await store.insert(AI_CALLS);
    h = await startHarness({ analytics: store });
  });
  after(async () => {
    await h?.close();
    await store?.dropDatabase().catch(() => undefined);
    await store?.close();
  });

  it('timeseries: per-minute requests, errors, bytes and ordered percentiles', async () => {
    const r = await h.rest('GET', `/v1/analytics/timeseries?service_id=${SERVICE}&from=${T0}&to=${T0 + 2 * MINUTE}`);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.interval, 'minute'); // chosen automatically for a short range
    const pts = r.json.points;
    assert.deepEqual(pts.map((p: { bucket: number }) => p.bucket), [T0, T0 + MINUTE]);
    assert.equal(pts[0].requests, 9);
    assert.equal(pts[0].errors, 2);
    assert.equal(pts[0].bytes_out, 900);
    assert.equal(pts[0].bytes_in, 90);
    assert.ok(pts[0].latency_p50_ms <= pts[0].latency_p95_ms && pts[0].latency_p95_ms <= pts[0].latency_p99_ms, JSON.stringify(pts[0]));
    assert.ok(pts[0].latency_p99_ms > 50, 'p99 reflects the 1000 ms call');
    assert.equal(pts[1].requests, 1);
    assert.equal(pts[1].errors, 0);

    const byRoute = await h.rest('GET', `/v1/analytics/timeseries?service_id=${SERVICE}&from=${T0}&to=${T0 + MINUTE}&group_by=route`);
    const counts = Object.fromEntries(byRoute.json.points.map((p: { key: string; requests: number }) => [p.key, p.requests]));
    assert.deepEqual(counts, { [R1]: 6, [R2]: 3 });

    const hourly = await h.rest('GET', `/v1/analytics/timeseries?service_id=${SERVICE}&from=${T0}&to=${T0 + HOUR}&interval=hour`);
    assert.equal(hourly.json.interval, 'hour');
    assert.equal(hourly.json.points.reduce((n: number, p: { requests: number }) => n + p.requests, 0), 10);
  });

  it('timeseries and top reject bad parameters with field paths', async () => {
    const bad = await h.rest('GET', `/v1/analytics/timeseries?service_id=${SERVICE}&interval=day&group_by=planet`);
    assert.equal(bad.status, 400);
    const paths = bad.json.error.fields.map((d: { path: string }) => d.path);
    assert.deepEqual(paths.sort(), ['/group_by', '/interval']);
    const noDim = await h.rest('GET', `/v1/analytics/top?service_id=${SERVICE}`);
    assert.equal(noDim.status, 400);
    assert.equal(noDim.json.error.fields[0].path, '/dimension');
    const bigLimit = await h.rest('GET', `/v1/analytics/top?service_id=${SERVICE}&dimension=route&limit=1001`);
    assert.equal(bigLimit.status, 400);
    const tooWide = await h.rest('GET', `/v1/analytics/timeseries?service_id=${SERVICE}&from=${T0 - 3 * 24 * HOUR}&to=${T0}&interval=minute`);
    assert.equal(tooWide.status, 400);
  });

  it('top: routes and consumers by requests, error codes from the calls', async () => {
    const range = `from=${T0}&to=${T0 + 2 * MINUTE}`;
    const routes = await h.rest('GET', `/v1/analytics/top?dimension=route&service_id=${SERVICE}&${range}`);
    assert.equal(routes.status, 200, routes.text);
    assert.deepEqual(routes.json.data.map((e: { key: string; requests: number }) => [e.key, e.requests]), [[R1, 7], [R2, 3]]);
    const one = await h.rest('GET', `/v1/analytics/top?dimension=consumer&service_id=${SERVICE}&${range}&limit=1`);
    assert.deepEqual(one.json.data.map((e: { key: string }) => e.key), [C1]);
    const errs = await h.rest('GET', `/v1/analytics/top?dimension=error_code&service_id=${SERVICE}&${range}`);
    assert.deepEqual(errs.json.data, [{ key: 'TP_ERR_RATE_LIMITED', requests: 1, errors: 1, prompt_tokens: 0, completion_tokens: 0, cached_tokens: 0, cost_usd: 0 }]);
  });

  it('AI usage: timeseries sums tokens and cost, top ranks by cost or tokens and groups by model, consumer totals', async () => {
    const range = `service_id=${AI_SERVICE}&from=${T0}&to=${T0 + HOUR}`;
    const ts = await h.rest('GET', `/v1/analytics/timeseries?${range}&interval=hour`);
    assert.equal(ts.status, 200, ts.text);
    assert.deepEqual(
      ts.json.points.map((p: Record<string, number>) => [p.requests, p.ai_calls, p.prompt_tokens, p.completion_tokens, p.cached_tokens, p.cost_usd]),
      [[4, 3, 1300, 120, 750, 2.75]],
    );
    const top = async (q: string): Promise<Array<[string, number]>> => {
      const r = await h.rest('GET', `/v1/analytics/top?${range}&${q}`);
      assert.equal(r.status, 200, r.text);
      return r.json.data.map((e: { key: string; requests: number }) => [e.key, e.requests]);
    };
    assert.deepEqual(await top('dimension=consumer'), [[C3, 3], [C4, 1]]);
    assert.deepEqual(await top('dimension=consumer&order_by=cost_usd'), [[C4, 1], [C3, 3]]);
    assert.deepEqual(await top('dimension=consumer&order_by=tokens'), [[C4, 1], [C3, 3]]);
    const models = await h.rest('GET', `/v1/analytics/top?${range}&dimension=ai_model&order_by=cost_usd`);
    assert.equal(models.json.order_by, 'cost_usd');
    assert.deepEqual(models.json.data, [
      { key: 'claude-3-5-sonnet', requests: 1, errors: 0, prompt_tokens: 1000, completion_tokens: 10, cached_tokens: 600, cost_usd: 2 },
      { key: 'gpt-4o', requests: 2, errors: 0, prompt_tokens: 300, completion_tokens: 110, cached_tokens: 150, cost_usd: 0.75 },
    ]);
    assert.deepEqual(await top('dimension=ai_provider'), [['openai', 2], ['anthropic', 1]]);

    const c3 = await h.rest('GET', `/v1/analytics/consumers/${C3}?from=${T0}&to=${T0 + HOUR}`);
    assert.equal(c3.status, 200, c3.text);
    assert.deepEqual(
      [c3.json.requests, c3.json.ai_calls, c3.json.prompt_tokens, c3.json.completion_tokens, c3.json.cached_tokens, c3.json.cost_usd],
      [3, 2, 300, 110, 150, 0.75],
    );
    assert.deepEqual(c3.json.top_models.map((m: { key: string; cost_usd: number }) => [m.key, m.cost_usd]), [['gpt-4o', 0.75]]);
    const c2 = await h.rest('GET', `/v1/analytics/consumers/${C2}?from=${T0}&to=${T0 + 2 * MINUTE}`);
    assert.deepEqual([c2.json.ai_calls, c2.json.cost_usd, c2.json.top_models], [0, 0, []]);
  });

  it('top refuses an unknown order_by or AI dimension with field paths', async () => {
    const bad = await h.rest('GET', `/v1/analytics/top?service_id=${AI_SERVICE}&dimension=ai_vendor&order_by=price`);
    assert.equal(bad.status, 400, bad.text);
    assert.equal(bad.json.error.code, 'TP_ERR_VALIDATION');
    assert.deepEqual(bad.json.error.fields.map((f: { path: string }) => f.path).sort(), ['/dimension', '/order_by']);
    assert.match(bad.json.error.fields.find((f: { path: string }) => f.path === '/order_by').message, /requests, cost_usd, tokens/);
    const empty = await h.rest('GET', `/v1/analytics/top?service_id=${AI_SERVICE}&dimension=ai_model&order_by=`);
    assert.equal(empty.status, 400);
    assert.equal(empty.json.error.fields[0].path, '/order_by');
  });

  it('consumer summary totals one consumer and lists its routes', async () => {
    const r = await h.rest('GET', `/v1/analytics/consumers/${C2}?from=${T0}&to=${T0 + 2 * MINUTE}`);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.requests, 3);
    assert.equal(r.json.errors, 2);
    assert.deepEqual(r.json.top_routes.map((e: { key: string }) => e.key), [R2]);
  });

  it('search pages with offset/limit, filters by request id, consumer and status class', async () => {
    const base = `/v1/analytics/calls?service_id=${SERVICE}&from=${T0}&to=${T0 + 2 * MINUTE}`;
    const seen: string[] = [];
    let offset: number | null = 0;
    let pages = 0;
    while (offset !== null) {
      const p = await h.rest('GET', `${base}&limit=4&offset=${offset}`);
      assert.equal(p.status, 200, p.text);
      seen.push(...p.json.data.map((c: CallRecord) => c.request_id));
      offset = p.json.next_offset;
      pages++;
    }
    assert.equal(pages, 3);
    assert.deepEqual([...seen].sort(), CALLS.map((c) => c.request_id).sort());

    const byId = await h.rest('GET', `${base}&request_id=${CALLS[3]!.request_id}`);
    assert.deepEqual(byId.json.data.map((c: CallRecord) => c.total_latency_ms), [40]);
    const byConsumer = await h.rest('GET', `${base}&consumer_id=${C2}`);
    assert.equal(byConsumer.json.data.length, 3);
    const fours = await h.rest('GET', `${base}&status_class=4xx`);
    assert.deepEqual(fours.json.data.map((c: CallRecord) => c.status), [429]);
    const tooMany = await h.rest('GET', `${base}&limit=1001`);
    assert.equal(tooMany.status, 400);
    assert.equal(tooMany.json.error.fields[0].path, '/limit');
  });

  it('search exports CSV by format=csv or Accept: text/csv, with RFC 4180 quoting', async () => {
    const q = `/v1/analytics/calls?service_id=${SERVICE}&consumer_id=${C2}&from=${T0}&to=${T0 + 2 * MINUTE}`;
    const r = await h.rest('GET', `${q}&format=csv`);
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type') ?? '', /^text\/csv/);
    const lines = r.text.split('\r\n');
    assert.ok(lines[0]!.startsWith('request_id,ts,node_id,service_id,'));
    assert.equal(lines.length, 1 + 3 + 1); // header, 3 rows, trailing empty
    assert.ok(r.text.includes('"agent, ""quoted""\nnext"'), r.text);
    const viaAccept = await h.rest('GET', q, undefined, { accept: 'text/csv' });
    assert.match(viaAccept.headers.get('content-type') ?? '', /^text\/csv/);
    assert.equal(viaAccept.text, r.text);
  });

  it('a 30-day hourly time series over 50 routes answers in under 200 ms', async () => {
    const svc = randomUUID();
    const start = Math.floor((Date.now() - 30 * 24 * HOUR) / HOUR) * HOUR;
    const hours = 30 * 24;
    const t0 = performance.now();
    await store.sqlRunner.exec(hourlyRollupsSql(store.database, svc, start, hours));
    console.log(`loaded ${hours * 50} hourly rollup rows in ${Math.round(performance.now() - t0)} ms`);
    const url = `/v1/analytics/timeseries?service_id=${svc}&from=${start}&to=${start + hours * HOUR}`;
    const warm = await h.rest('GET', url);
    assert.equal(warm.status, 200, warm.text);
    assert.equal(warm.json.interval, 'hour');
    assert.equal(warm.json.points.length, hours);
    assert.equal(warm.json.points[0].requests, 200);
    assert.equal(warm.json.points[0].errors, 50);
    const t1 = performance.now();
    await h.rest('GET', url);
    const ms = performance.now() - t1;
    console.log(`30-day hourly timeseries (${hours} points from ${hours * 50} rows): ${ms.toFixed(1)} ms`);
    assert.ok(ms < 200, `took ${ms} ms`);
  });
});
