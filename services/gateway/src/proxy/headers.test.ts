import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  connectionTokens,
  dropRequestHeader,
  filterResponseHeaders,
  forwardedWith,
  hostWithoutPort,
  newTraceparent,
  removeConnectionListed,
  validRequestId,
  validTraceparent,
  viaWith,
} from './headers.js';

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

test('Forwarded: one element per hop appended; IPv6 quoted in brackets, hosts with a port quoted', () => {
  assert.equal(forwardedWith('', '203.0.113.7', 'http', 'api.test'), 'for=203.0.113.7;proto=http;host=api.test');
  assert.equal(forwardedWith('', '::1', 'https', 'api.test:8443'), 'for="[::1]";proto=https;host="api.test:8443"');
  assert.equal(forwardedWith('for=192.0.2.60;proto=http', '2001:db8::1', 'http', ''), 'for=192.0.2.60;proto=http, for="[2001:db8::1]";proto=http');
  assert.equal(forwardedWith('', '10.0.0.1', 'http', 'a"b'), 'for=10.0.0.1;proto=http;host="a\\"b"');
});

test('Via: ours appended to the incoming list', () => {
  assert.equal(viaWith(''), '1.1 turnpike');
  assert.equal(viaWith('1.0 fred, 1.1 p.example.net'), '1.0 fred, 1.1 p.example.net, 1.1 turnpike');
});

test('traceparent validation follows W3C Trace Context level 1', () => {
  assert.equal(validTraceparent('00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'), true);
  assert.equal(validTraceparent('01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-more'), true, 'a later version may extend');
  for (const bad of [
    '',
    '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-more', // version 00 has exactly 4 fields
    'ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
    '00-00000000000000000000000000000000-00f067aa0ba902b7-01',
    '00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01',
    '00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01',
    '00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
    '00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01',
    '01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x',
  ]) {
    assert.equal(validTraceparent(bad), false, bad);
  }
});

test('generated traceparents are valid, unsampled and distinct across pool refills', () => {
  const seen = new Set<string>();
  for (let i = 0; i < 1000; i++) {
    const t = newTraceparent();
    assert.equal(validTraceparent(t), true, t);
    assert.match(t, /^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/);
    seen.add(t.slice(3, 35));
  }
  assert.equal(seen.size, 1000);
});
