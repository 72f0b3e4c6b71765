// End to end: gateway call-log batcher → JetStream → ingester → ClickHouse → store queries.
// A private nats-server per file (the calls stream name is fixed) and a private ClickHouse database.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { CALL_BATCH_FORMAT, callsSubject, TurnpikeError, type AnalyticsStore, type CallRecord } from '@turnpike/common';
import { startPrivateNats, TcpRelay, testEnv, waitFor, type PrivateNats } from '@turnpike/common/testing';
import { ClickHouseStore, startIngester, type Ingester } from '../src/index.js';
import { BASE, call, legacyCall } from './store-contract.js';
import { loadGatewayCallLog, type GatewayCallLog } from './gateway-call-log.js';

const sortIds = (rs: readonly { request_id: string }[]): string[] => rs.map((r) => r.request_id).sort();

describe('ingester', { timeout: 120_000 }, () => {
  let nats: PrivateNats;
  let nc: NatsConnection;
  let store: ClickHouseStore;
  let gw: GatewayCallLog;
  const ingesters: Ingester[] = [];
  const start = async (): Promise<Ingester> => {
    const i = await startIngester({ nc, store, durableName: 'it', flushMs: 1_000, nakDelayMs: 200 });
    ingesters.push(i);
    return i;
  };

  before(async () => {
    gw = await loadGatewayCallLog();
    nats = await startPrivateNats();
    nc = await connect({ servers: nats.url, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
    store = await ClickHouseStore.open(testEnv().clickhouseUrl, `tp_test_ing_${Date.now().toString(36)}_${process.pid}`);
  });
  after(async () => {
    for (const i of ingesters) await i.close();
    await store?.dropDatabase().catch(() => undefined);
    await store?.close();
    await nc?.close();
    await nats?.destroy();
  });

  test('records published by the gateway batcher land in ClickHouse with every field', { timeout: 40_000 }, async () => {
    const ing = await start();
    const sink = new gw.JetStreamLogSink(() => nc, 'node-e2e');
    const batcher = new gw.CallLogBatcher(sink, { maxBatch: 100, flushIntervalMs: 20 });
    const recs = Array.from({ length: 250 }, (_, i) =>
      call({ ts: BASE + i * 1_000, node_id: 'node-e2e', status: [200, 404, 503][i % 3] as number, path: `/e2e/${i}` }),
    );
    for (const r of recs) batcher.record(r);
    await batcher.close();
    assert.equal(batcher.stats().sent, 250);
    const stored = await waitFor('records in ClickHouse', async () => {
      const got = await store.calls({ limit: 1_000, from: BASE, to: BASE + 250_000 });
      return got.length === 250 ? got : null;
    }, 20_000, 100);
    const byId = new Map(recs.map((r) => [r.request_id, r]));
    for (const g of stored) assert.deepEqual(g, byId.get(g.request_id));
    const trend = await store.trend({ from: BASE, to: BASE + 250_000 });
    assert.equal(trend.reduce((a, p) => a + p.total, 0), 250);
    assert.equal(trend.reduce((a, p) => a + p.s5xx, 0), 83);
    await waitFor('acks counted', () => ing.stats().messages >= 3, 5_000);
    await ing.close();
  });

  test('AI usage sent by the gateway batcher is summed per bucket in timeseries, top and the consumer totals', { timeout: 40_000 }, async () => {
    const ing = await start();
    const sink = new gw.JetStreamLogSink(() => nc, 'node-ai');
    const batcher = new gw.CallLogBatcher(sink, { maxBatch: 50, flushIntervalMs: 20 });
    // Hour-aligned and before BASE (other tests read open-ended ranges after it): 120 calls over 2 minutes, every 3rd one non-AI;
    // AI calls alternate between two models of two providers (claude with twice the completion tokens).
    const T0 = BASE - 20 * 3_600_000;
    const recs = Array.from({ length: 120 }, (_, i) => {
      const base = { ts: T0 + i * 1_000, node_id: 'node-ai', service_id: 'svc-ai-e2e', consumer_id: `cons-${i % 2}` };
      if (i % 3 === 0) return call(base);
      const [ai_provider, ai_model] = i % 2 === 0 ? ['openai', 'gpt-4o-mini'] : ['anthropic', 'claude-3-haiku'];
      return call({ ...base, ai_provider, ai_model, ai_prompt_tokens: 10 + i, ai_completion_tokens: i * (1 + (i % 2)), ai_cost_usd: (i + 1) / 1_000 });
    });
    for (const r of recs) batcher.record(r);
    await batcher.close();
    assert.equal(batcher.stats().sent, 120);
    const aiRecs = recs.filter((r) => r.ai_model !== '');
    const sum = (rs: readonly CallRecord[], k: 'ai_prompt_tokens' | 'ai_completion_tokens' | 'ai_cost_usd'): number => rs.reduce((n, r) => n + (r[k] ?? 0), 0);
    const range = { from: T0, to: T0 + 3_600_000, service_id: 'svc-ai-e2e' };
    const points = await waitFor('AI calls in the rollups', async () => {
      const p = await store.timeseries({ ...range, interval: 'minute', group_by: 'none' });
      return p.reduce((n, x) => n + x.requests, 0) === 120 ? p : null;
    }, 20_000, 100);
    // Per minute: exactly the sums of the records whose ts falls in it.
    for (const p of points) {
      const inBucket = aiRecs.filter((r) => r.ts >= p.bucket && r.ts < p.bucket + 60_000);
      assert.equal(p.ai_calls, inBucket.length);
      assert.equal(p.prompt_tokens, sum(inBucket, 'ai_prompt_tokens'));
      assert.equal(p.completion_tokens, sum(inBucket, 'ai_completion_tokens'));
      assert.ok(Math.abs(p.cost_usd - sum(inBucket, 'ai_cost_usd')) < 1e-9, `cost ${p.cost_usd}`);
    }
    assert.deepEqual(points.map((p) => p.bucket), [T0, T0 + 60_000]);
    assert.equal(aiRecs.length, 80);

    const models = await store.top({ ...range, dimension: 'ai_model', order_by: 'tokens', limit: 10 });
    const expected = (model: string): [string, number, number, number] => {
      const rs = aiRecs.filter((r) => r.ai_model === model);
      return [model, rs.length, sum(rs, 'ai_prompt_tokens'), sum(rs, 'ai_completion_tokens')];
    };
    assert.deepEqual(models.map((m) => [m.key, m.requests, m.prompt_tokens, m.completion_tokens]), [expected('claude-3-haiku'), expected('gpt-4o-mini')]);
    const providers = await store.top({ ...range, dimension: 'ai_provider', order_by: 'cost_usd', limit: 10 });
    assert.deepEqual(providers.map((p) => p.key).sort(), ['anthropic', 'openai']);
    assert.ok(providers[0]!.cost_usd >= providers[1]!.cost_usd);
    // A consumer's totals (what /v1/analytics/consumers/{id} sums): consumer 0 made the gpt-4o-mini calls.
    const c0 = await store.timeseries({ ...range, interval: 'hour', group_by: 'consumer' });
    const mine = aiRecs.filter((r) => r.consumer_id === 'cons-0');
    const row = c0.find((p) => p.key === 'cons-0')!;
    assert.deepEqual([row.requests, row.ai_calls, row.prompt_tokens, row.completion_tokens], [60, mine.length, sum(mine, 'ai_prompt_tokens'), sum(mine, 'ai_completion_tokens')]);
    await ing.close();
  });

  test('a redelivered batch (same records published twice) is counted once', { timeout: 40_000 }, async () => {
    const ing = await start();
    const js = jetstream(nc);
    const batch = Array.from({ length: 20 }, (_, i) => call({ ts: BASE + 1_000_000 + i }));
    // Two different msgIDs, so JetStream keeps both: the ingester and the store must de-duplicate.
    await js.publish(callsSubject('dup'), JSON.stringify(batch), { msgID: 'dup-1' });
    await js.publish(callsSubject('dup'), JSON.stringify(batch.slice(5)), { msgID: 'dup-2' });
    await waitFor('both messages acked', () => ing.stats().messages >= 2, 15_000, 50);
    const got = await store.calls({ from: BASE + 1_000_000, to: BASE + 2_000_000 });
    assert.deepEqual(sortIds(got), sortIds(batch));
    assert.equal(ing.stats().duplicates, 15);
    // Even without the ingester's memory (a restarted ingester), the store counts them once.
    await store.insert(batch);
    assert.equal((await store.calls({ from: BASE + 1_000_000, to: BASE + 2_000_000 })).length, 20);
    const t = await store.trend({ from: BASE + 1_000_000, to: BASE + 2_000_000 });
    assert.equal(t.reduce((a, p) => a + p.total, 0), 20);
    await ing.close();
  });

  test('one JetStream message mixing an older node\'s records (no full-record fields) and full ones: all ingested, defaults filled', { timeout: 40_000 }, async () => {
    const ing = await start();
    const js = jetstream(nc);
    const old = legacyCall({ ts: BASE + 4_500_000, upstream_latency_ms: 3, total_latency_ms: 4 });
    const full = call({ ts: BASE + 4_500_001, ai_provider: 'anthropic', ai_model: 'claude-x', ai_prompt_tokens: 10, ai_completion_tokens: 20, ai_cost_usd: 0.0015 });
    await js.publish(callsSubject('mixed'), JSON.stringify([old, full]), { msgID: 'mixed-1' });
    const got = await waitFor('both stored', async () => {
      const rs = await store.calls({ from: BASE + 4_500_000, to: BASE + 4_500_002 });
      return rs.length === 2 ? rs : null;
    }, 15_000, 100);
    assert.deepEqual(got[0], full);
    assert.equal(got[1]!.request_id, old.request_id);
    assert.equal(got[1]!.client_ip, '');
    assert.equal(got[1]!.plan_id, '');
    assert.equal(got[1]!.ai_prompt_tokens, 0);
    assert.equal(got[1]!.gateway_latency_ms, 1);
    await ing.close();
  });

  test('malformed messages are terminated and counted, good ones still stored', { timeout: 40_000 }, async () => {
    const ing = await start();
    const js = jetstream(nc);
    const good = [call({ ts: BASE + 3_000_000 })];
    await js.publish(callsSubject('bad'), 'not json{', { msgID: 'bad-1' });
    await js.publish(callsSubject('bad'), JSON.stringify({ not: 'an array' }), { msgID: 'bad-2' });
    await js.publish(callsSubject('bad'), JSON.stringify([{ ...call(), status: 'x' }]), { msgID: 'bad-3' });
    await js.publish(callsSubject('bad'), JSON.stringify(good), { msgID: 'good-1' });
    await waitFor('processed', () => ing.stats().malformed === 3 && ing.stats().messages >= 1, 15_000, 50);
    assert.deepEqual(sortIds(await store.calls({ from: BASE + 3_000_000, to: BASE + 4_000_000 })), sortIds(good));
    await ing.close();
  });

  test('a batch in a newer format than the ingester reads is left in the stream (nak), not terminated as malformed', { timeout: 40_000 }, async () => {
    // A rolling upgrade that reached a gateway node before this ingester: the records are good, only not
    // readable here. Redelivered (so an upgraded ingester gets it), never counted as malformed.
    const ing = await startIngester({ nc, store, durableName: 'it', flushMs: 1_000, nakDelayMs: 200, nakMaxDelayMs: 300 });
    ingesters.push(ing);
    const js = jetstream(nc);
    await js.publish(callsSubject('future'), JSON.stringify({ v: CALL_BATCH_FORMAT + 1, f: ['request_id'], r: [['x']] }), { msgID: 'future-1' });
    await waitFor('delivered twice', () => ing.stats().newerFormat >= 2, 15_000, 50);
    assert.equal(ing.stats().malformed, 0);
    await ing.close();
  });

  test('records published while the ingester is stopped are ingested when it starts again', { timeout: 60_000 }, async () => {
    const sink = new gw.JetStreamLogSink(() => nc, 'node-offline');
    const batcher = new gw.CallLogBatcher(sink, { maxBatch: 50, flushIntervalMs: 20 });
    const recs = Array.from({ length: 300 }, (_, i) => call({ ts: BASE + 5_000_000 + i }));
    for (const r of recs.slice(0, 100)) batcher.record(r);
    let ing = await start();
    await waitFor('first part stored', async () => (await store.calls({ from: BASE + 5_000_000, limit: 1_000 })).length === 100, 20_000, 100);
    await ing.close();
    for (const r of recs.slice(100)) batcher.record(r);
    await batcher.close();
    assert.equal(batcher.stats().sent, 300);
    // Nothing is consumed while no ingester runs.
    await new Promise((r) => setTimeout(r, 300));
    assert.equal((await store.calls({ from: BASE + 5_000_000, limit: 1_000 })).length, 100);
    ing = await start();
    const got = await waitFor('everything stored', async () => {
      const rows = await store.calls({ from: BASE + 5_000_000, limit: 1_000 });
      return rows.length === 300 ? rows : null;
    }, 20_000, 100);
    assert.deepEqual(sortIds(got), sortIds(recs));
    await ing.close();
  });

  test('an insert that fails is retried (nak) and the records arrive once the store is back', { timeout: 60_000 }, async () => {
    // ClickHouse behind a TCP relay this test can take down and bring back on the same port: inserts fail with
    // connection refused, as in a real outage. (Dropping the table instead made ClickHouse 18.16 segfault when
    // the retried INSERTs raced the table's re-creation.)
    const relay = new TcpRelay(new URL(testEnv().clickhouseUrl));
    const port = await relay.up(0);
    const db = `tp_test_ingfail_${Date.now().toString(36)}_${process.pid}`;
    const flaky = await ClickHouseStore.open(`http://127.0.0.1:${port}`, db);
    try {
      await relay.down();
      const ing = await startIngester({ nc, store: flaky, durableName: 'it-fail', flushMs: 1_000, nakDelayMs: 200 });
      ingesters.push(ing);
      const recs: CallRecord[] = Array.from({ length: 10 }, (_, i) => call({ ts: BASE + 7_000_000 + i }));
      const sink = new gw.JetStreamLogSink(() => nc, 'node-fail');
      await sink.write(recs);
      await waitFor('a failed insert', () => ing.stats().insertFailures >= 1, 15_000, 50);
      assert.equal((await flaky.calls({ from: BASE + 7_000_000, to: BASE + 8_000_000 }).catch(() => null)), null, 'the store is down');
      await relay.up(port);
      const got = await waitFor('records after recovery', async () => {
        const rows = await flaky.calls({ from: BASE + 7_000_000, to: BASE + 8_000_000 }).catch(() => []);
        return rows.length === 10 ? rows : null;
      }, 20_000, 100);
      assert.deepEqual(sortIds(got), sortIds(recs));
      await ing.close();
    } finally {
      await relay.up(port).catch(() => undefined);
      await flaky.dropDatabase().catch(() => undefined);
      await flaky.close();
      await relay.down();
    }
  });
  test('the ingester rides out a NATS restart and keeps ingesting', { timeout: 60_000 }, async () => {
    const ing = await start();
    const sink = new gw.JetStreamLogSink(() => nc, 'node-restart', { publishTimeoutMs: 1_000 });
    const before = Array.from({ length: 30 }, (_, i) => call({ ts: BASE + 9_000_000 + i }));
    await sink.write(before);
    await waitFor('before restart', async () => (await store.calls({ from: BASE + 9_000_000, limit: 1_000 })).length === 30, 20_000, 100);
    await nats.stop();
    await new Promise((r) => setTimeout(r, 1_500));
    await nats.start();
    const afterRestart = Array.from({ length: 30 }, (_, i) => call({ ts: BASE + 9_100_000 + i }));
    await waitFor('publish after restart', async () => {
      try {
        await sink.write(afterRestart);
        return true;
      } catch {
        return false;
      }
    }, 20_000, 200);
    const got = await waitFor('after restart stored', async () => {
      const rows = await store.calls({ from: BASE + 9_000_000, limit: 1_000 });
      return rows.length === 60 ? rows : null;
    }, 30_000, 100);
    assert.deepEqual(sortIds(got), sortIds([...before, ...afterRestart]));
    await ing.close();
  });
  test('a message the store refuses is retried alone; the messages around it are stored', { timeout: 60_000 }, async () => {
    // A real store in front of which one request id is refused, as ClickHouse would refuse a bad row.
    let refuse = true;
    const poison = call({ ts: BASE + 11_000_000 });
    const guarded: AnalyticsStore = {
      insert: async (rs) => {
        if (refuse && rs.some((r) => r.request_id === poison.request_id)) throw new TurnpikeError('TP_ERR_INTERNAL', 'refused');
        await store.insert(rs);
      },
      calls: (f) => store.calls(f),
      trend: (f) => store.trend(f),
      timeseries: (f) => store.timeseries(f),
      top: (f) => store.top(f),
      close: async () => undefined,
    };
    const js = jetstream(nc);
    const good1 = [call({ ts: BASE + 11_000_001 })];
    const good2 = [call({ ts: BASE + 11_000_002 })];
    await js.publish(callsSubject('poison'), JSON.stringify(good1), { msgID: 'p-good-1' });
    await js.publish(callsSubject('poison'), JSON.stringify([poison]), { msgID: 'p-bad' });
    await js.publish(callsSubject('poison'), JSON.stringify(good2), { msgID: 'p-good-2' });
    const ing = await startIngester({ nc, store: guarded, durableName: 'it-poison', flushMs: 1_000, nakDelayMs: 200 });
    ingesters.push(ing);
    const range = { from: BASE + 11_000_000, to: BASE + 12_000_000 };
    await waitFor('good messages stored', async () => (await store.calls(range)).length === 2, 20_000, 100);
    assert.deepEqual(sortIds(await store.calls(range)), sortIds([...good1, ...good2]));
    assert.ok(ing.stats().insertFailures >= 2);
    refuse = false;
    await waitFor('refused message stored once accepted', async () => (await store.calls(range)).length === 3, 20_000, 100);
    await ing.close();
  });
});
