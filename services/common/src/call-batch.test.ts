import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeCallBatch, encodeCallBatch } from './call-batch.js';
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
  test('format 2 round-trips every field, with optional columns only when some record has them', () => {
    const plain = [base, { ...base, request_id: '01JABD', status: 502, error_code: 'TP_ERR_UPSTREAM_UNAVAILABLE' }];
    const text = encodeCallBatch(plain);
    const parsed = JSON.parse(text) as { v: number; f: string[]; r: unknown[][] };
    assert.equal(parsed.v, 2);
    assert.ok(!parsed.f.includes('ai_model') && !parsed.f.includes('captured'), 'no AI or capture columns in a batch without them');
    assert.deepEqual(decodeCallBatch(text), plain);

    const ai: CallRecord = { ...base, request_id: '01JAI', ai_provider: 'p', ai_model: 'm', ai_prompt_tokens: 3, ai_completion_tokens: 4, ai_cached_tokens: 1, ai_cost_usd: 1e-6 };
    const captured: CallRecord = { ...base, request_id: '01JCAP', captured: '{"request":{}}' };
    const mixed = [base, ai, captured];
    const decoded = decodeCallBatch(encodeCallBatch(mixed));
    assert.deepEqual(decoded, mixed, 'absent optional fields stay absent (null on the wire), present ones come back');
  });

  test('format 2 is about half the bytes of format 1', () => {
    const batch = Array.from({ length: 100 }, (_, i) => ({ ...base, request_id: `01J${i}` }));
    assert.ok(Buffer.byteLength(encodeCallBatch(batch)) < 0.6 * Buffer.byteLength(JSON.stringify(batch)));
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
    assert.match(decodeCallBatch('{"v":3,"f":[],"r":[]}') as string, /unknown call batch format 3/);
    assert.match(decodeCallBatch('{"v":2,"f":["a"],"r":[["x","y"]]}') as string, /row 0/);
    assert.match(decodeCallBatch('{"v":2,"f":[1],"r":[]}') as string, /field names/);
  });
});
