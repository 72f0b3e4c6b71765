import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connectionTokens, dropRequestHeader, filterResponseHeaders, hostWithoutPort, removeConnectionListed, validRequestId } from './headers.js';

test('hop-by-hop and gateway-owned request headers are dropped, end-to-end ones kept', () => {
  for (const h of ['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'host', 'x-forwarded-for', 'x-request-id', 'x-consumer-id', 'expect']) {
    assert.equal(dropRequestHeader(h), true, h);
  }
  for (const h of ['content-type', 'content-length', 'authorization', 'accept', 'x-custom']) assert.equal(dropRequestHeader(h), false, h);
});

test('headers named in Connection are removed too', () => {
  assert.deepEqual(connectionTokens(' close, X-Secret ,,x-other'), ['close', 'x-secret', 'x-other']);
  const flat = ['x-secret', '1', 'accept', '*/*', 'x-other', '2'];
  assert.deepEqual(removeConnectionListed(flat, 'close, X-Secret, x-other'), ['accept', '*/*']);
});

test('response filtering drops hop-by-hop, Connection-listed, date and content-length (reported separately)', () => {
  const raw = ['Content-Type', 'text/plain', 'Connection', 'keep-alive, X-Hop', 'Keep-Alive', 'timeout=5', 'X-Hop', 'h', 'Content-Length', '12', 'Date', 'x', 'Transfer-Encoding', 'chunked', 'Set-Cookie', 'a=1', 'Set-Cookie', 'b=2'].map((s) =>
    Buffer.from(s),
  );
  const r = filterResponseHeaders(raw);
  assert.equal(r.contentLength, 12);
  assert.deepEqual(
    r.pairs.map((x) => x.toString()),
    ['Content-Type', 'text/plain', 'Set-Cookie', 'a=1', 'Set-Cookie', 'b=2'],
  );
  assert.equal(filterResponseHeaders(['content-length', 'abc']).contentLength, -1);
});

test('request ids: plain ones kept, odd ones replaced', () => {
  assert.equal(validRequestId('abc-123_x.y:z'), true);
  assert.equal(validRequestId(''), false);
  assert.equal(validRequestId('a b'), false);
  assert.equal(validRequestId('x'.repeat(129)), false);
});

test('host without port', () => {
  assert.equal(hostWithoutPort('example.com:8000'), 'example.com');
  assert.equal(hostWithoutPort('example.com'), 'example.com');
  assert.equal(hostWithoutPort('[::1]:8000'), '::1');
});
