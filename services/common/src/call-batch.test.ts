import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { CALL_BATCH_FORMAT, CallBatchEncoder, decodeCallBatch, encodeCallBatch, encodeCallBatchV2, isNewerFormat } from './call-batch.js';
import type { CallRecord } from './call-log.js';

const base: CallRecord = {
  request_id: '01JABC',
  ts: 1_733_500_000_000,
  node_id: 'n1',
  service_id: 's',
  route_id: 'r',
  consumer_id: '',
  method: 'GET',
  path: '/x',
  status: 200,
  upstream_latency_ms: 0.5,
  total_latency_ms: 0.75,
  bytes_in: 0,
  bytes_out: 100,
  error_code: '',
  credential_id: 'k',
  plan_id: '',
  client_ip: '127.0.0.1',
  user_agent: 'ua "quoted" \u00e9',
  host: 'h:8000',
  gateway_latency_ms: 0.25,
  upstream_connect_ms: 0,
  upstream_ttfb_ms: 0.5,
  upstream_addr: '127.0.0.1:9000',
};

describe('call batch wire format', () => {
  test('format 3 round-trips every field, with optional columns only when some record has them', () => {
    const plain = [base, { ...base, request_id: '01JABD', status: 502, error_code: 'TP_ERR_UPSTREAM_UNAVAILABLE' }];
    const text = encodeCallBatch(plain);
    const parsed = JSON.parse(text) as { v: number; f: string[]; r: unknown[][] };
    assert.equal(parsed.v, 3);
    assert.ok(!parsed.f.includes('ai_model') && !parsed.f.includes('captured'), 'no AI or capture columns in a batch without them');
    assert.deepEqual(decodeCallBatch(text), plain);

    const ai: CallRecord = { ...base, request_id: '01JAI', ai_provider: 'p', ai_model: 'm', ai_prompt_tokens: 3, ai_completion_tokens: 4, ai_cached_tokens: 1, ai_cost_usd: 1e-6 };
    const captured: CallRecord = { ...base, request_id: '01JCAP', captured: '{"request":{}}' };
    const mixed = [base, ai, captured];
    const decoded = decodeCallBatch(encodeCallBatch(mixed));
    assert.deepEqual(decoded, mixed, 'absent optional fields stay absent (null on the wire), present ones come back');
  });

  test('format 3 encoded a slice at a time is the same text as in one go, and as JSON.stringify of the batch object', () => {
    const ua = ['curl/8', 'ua "quoted" \u00e9'];
    const { user_agent: _ua, ...noUa } = base;
    const batch: CallRecord[] = Array.from({ length: 157 }, (_, i) => ({
      ...noUa,
      request_id: `01J${i}`,
      ts: base.ts + i * 3 - 40,
      status: i % 7 === 0 ? 502 : 200,
      ...(i % 3 === 2 ? {} : { user_agent: ua[i % 3]! }),
      upstream_latency_ms: (i * 37) / 1000,
      ...(i === 90 ? { ai_provider: 'p', ai_model: 'm', ai_prompt_tokens: 3 } : {}),
    }));
    const whole = encodeCallBatch(batch);
    // JSON.stringify's own text of the parsed object is the encoder's text: same key order, same numbers.
    assert.equal(JSON.stringify(JSON.parse(whole)), whole);
    assert.deepEqual(decodeCallBatch(whole), batch);
    for (const n of [1, 10, 64, 156, 157, 1000]) {
      const enc = new CallBatchEncoder(batch);
      let steps = 0;
      while (!enc.step(n)) steps++;
      assert.equal(steps, Math.ceil(batch.length / n) - 1, `${n} records a step`);
      assert.equal(enc.text(), whole, `${n} records a step`);
    }
    const partial = new CallBatchEncoder(batch);
    partial.step(20);
    assert.equal(partial.text(), whole, 'text() encodes what the steps left');
    assert.deepEqual((JSON.parse(encodeCallBatch([])) as { r: unknown[] }).r, []);
    assert.deepEqual(decodeCallBatch(encodeCallBatch([])), []);
  });

  test('format 2 is about half the bytes of format 1', () => {
    const batch = Array.from({ length: 100 }, (_, i) => ({ ...base, request_id: `01J${i}` }));
    assert.ok(Buffer.byteLength(encodeCallBatchV2(batch)) < 0.6 * Buffer.byteLength(JSON.stringify(batch)));
  });

  test('format 3: repeated values are sent once per batch, rows carry their index; every value comes back', () => {
    const ids = ['6f1c2a4e-0000-4000-8000-000000000001', '6f1c2a4e-0000-4000-8000-000000000002', '6f1c2a4e-0000-4000-8000-000000000003'];
    const batch: CallRecord[] = Array.from({ length: 300 }, (_, i) => ({
      ...base,
      request_id: `01J${i}`,
      service_id: ids[i % 2]!,
      route_id: ids[i % 3]!,
      consumer_id: i % 5 === 0 ? '' : ids[(i + 1) % 3]!,
      credential_id: i % 7 === 0 ? undefined : ids[i % 3]!,
      method: i % 4 === 0 ? 'POST' : 'GET',
      path: `/items/${i}`,
      user_agent: i % 2 === 0 ? 'k6/0.50' : 'curl/8 "quoted" \u00e9',
      client_ip: `10.0.0.${i % 3}`,
    }));
    const text = encodeCallBatch(batch);
    const parsed = JSON.parse(text) as { v: number; t: number; f: string[]; d: Record<string, string[]>; r: unknown[][] };
    assert.deepEqual(parsed.d.service_id, [ids[0], ids[1]]);
    assert.deepEqual(parsed.d.route_id, ids);
    assert.deepEqual(parsed.d.method, ['POST', 'GET']);
    assert.equal(parsed.r[1]![parsed.f.indexOf('service_id')], 1);
    assert.equal(parsed.r[0]![parsed.f.indexOf('credential_id')], null, 'a record without the field: null, not an entry');
    assert.equal(parsed.r[1]![parsed.f.indexOf('path')], '/items/1', 'unique values stay in the row');
    const plain = batch.map((r) => Object.fromEntries(Object.entries(r).filter(([, v]) => v !== undefined)));
    assert.deepEqual(decodeCallBatch(text), plain);
    // Small integers on the wire: ts as an offset from `t`, latencies in whole µs, back in ms when read.
    assert.equal(parsed.t, base.ts);
    assert.equal(parsed.r[0]![parsed.f.indexOf('ts')], 0);
    assert.equal(parsed.r[0]![parsed.f.indexOf('total_latency_us')], 750);
    assert.ok(!parsed.f.includes('total_latency_ms'));
    assert.ok(Buffer.byteLength(text) < 0.6 * Buffer.byteLength(encodeCallBatchV2(batch)), 'well under format 2 where values repeat');
  });

  test('format 3 latencies: any 3-decimal ms value comes back as the same number; ts offsets may be negative', () => {
    const batch: CallRecord[] = [];
    for (let i = 0; i < 2000; i++) {
      const ms = Math.round(Math.random() * 60_000_000) / 1000; // up to 60 s, rounded to the µs as nodes do
      batch.push({ ...base, request_id: `01J${i}`, ts: base.ts + ((i * 7919) % 5000) - 2500, upstream_latency_ms: ms, total_latency_ms: Math.round((ms + 0.001) * 1000) / 1000, gateway_latency_ms: 0.001, upstream_connect_ms: 0, upstream_ttfb_ms: ms });
    }
    assert.deepEqual(decodeCallBatch(encodeCallBatch(batch)), batch);
  });

  test('format 2, as nodes before format 3 publish it, is still read', () => {
    const batch = [base, { ...base, request_id: '01JABD', credential_id: undefined }];
    const text = encodeCallBatchV2(batch);
    assert.equal((JSON.parse(text) as { v: number }).v, 2);
    assert.deepEqual(decodeCallBatch(text), [base, Object.fromEntries(Object.entries(batch[1]!).filter(([, v]) => v !== undefined))]);
  });

  test('format 1 (a JSON array of records) is read as it is; records missing the newer fields decode without them', () => {
    const old = [{ request_id: 'a', ts: 1, node_id: 'n', service_id: '', route_id: '', consumer_id: '', method: 'GET', path: '/', status: 200, upstream_latency_ms: 0, total_latency_ms: 1, bytes_in: 0, bytes_out: 0, error_code: '' }];
    assert.deepEqual(decodeCallBatch(JSON.stringify(old)), old);
    const text = encodeCallBatch(old as CallRecord[]);
    assert.deepEqual(decodeCallBatch(text), old);
  });

  test('readers key by the names in the message: an unknown column is kept for the parser to ignore, a missing one is absent', () => {
    const text = JSON.stringify({ v: 2, f: ['request_id', 'ts', 'future_field'], r: [['x', 5, 'later']] });
    assert.deepEqual(decodeCallBatch(text), [{ request_id: 'x', ts: 5, future_field: 'later' }]);
  });

  test('what is not a batch says why', () => {
    assert.equal(decodeCallBatch('{nope'), 'not JSON');
    assert.equal(decodeCallBatch('42'), 'not a call batch');
    const newer = decodeCallBatch(`{"v":${CALL_BATCH_FORMAT + 1},"f":[],"r":[]}`) as string;
    assert.match(newer, new RegExp(`unknown call batch format ${CALL_BATCH_FORMAT + 1}`));
    assert.ok(isNewerFormat(newer), 'a newer format is told apart from a malformed batch');
    assert.ok(!isNewerFormat(decodeCallBatch('{"v":0,"f":[],"r":[]}') as string), 'an older unknown version is malformed');
    assert.ok(!isNewerFormat(decodeCallBatch('{"v":"x"}') as string));
    assert.match(decodeCallBatch('{"v":2,"f":["a"],"r":[["x","y"]]}') as string, /row 0/);
    assert.match(decodeCallBatch('{"v":2,"f":[1],"r":[]}') as string, /field names/);
    assert.match(decodeCallBatch('{"v":3,"t":0,"f":["a"],"r":[]}') as string, /dictionaries/);
    assert.match(decodeCallBatch('{"v":3,"f":["a"],"d":{},"r":[]}') as string, /base time/);
    assert.match(decodeCallBatch('{"v":3,"t":0,"f":["a"],"d":{"a":"x"},"r":[]}') as string, /dictionary "a"/);
    assert.match(decodeCallBatch('{"v":3,"t":0,"f":["a"],"d":{"a":["x"]},"r":[[1]]}') as string, /row 0: a index 1/);
    assert.match(decodeCallBatch('{"v":3,"t":0,"f":["a"],"d":{"a":["x"]},"r":[["x"]]}') as string, /row 0: a index "x"/);
  });
});
