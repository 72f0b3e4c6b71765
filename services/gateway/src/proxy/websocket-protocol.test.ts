import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeForOtherSide, invalidSubprotocol, offeredSubprotocols, sendableCloseCode, truncateReason, upstreamWsUrl } from './websocket-protocol.js';

const ABNORMAL = { code: 1011, reason: 'lost' };

test('sendable close codes: registered ones but 1004-1006 and 1015, and 3000-4999', () => {
  for (const c of [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 4001, 4999]) assert.ok(sendableCloseCode(c), String(c));
  for (const c of [0, 999, 1004, 1005, 1006, 1015, 1100, 2999, 5000]) assert.ok(!sendableCloseCode(c), String(c));
});

test('a close crosses the proxy as it came; no code stays no code; an abnormal end becomes the caller’s code', () => {
  assert.deepEqual(closeForOtherSide(4001, 'bye', ABNORMAL), { code: 4001, reason: 'bye' });
  assert.deepEqual(closeForOtherSide(1000, '', ABNORMAL), { code: 1000, reason: '' });
  assert.deepEqual(closeForOtherSide(1005, '', ABNORMAL), { code: 0, reason: '' });
  assert.deepEqual(closeForOtherSide(1006, '', ABNORMAL), ABNORMAL);
  assert.deepEqual(closeForOtherSide(1015, 'tls', ABNORMAL), { code: 1011, reason: '' });
});

test('close reasons are cut to 123 bytes without splitting a character', () => {
  assert.equal(truncateReason('short'), 'short');
  assert.equal(Buffer.byteLength(truncateReason('x'.repeat(200))), 123);
  const cut = truncateReason('é'.repeat(100)); // 2 bytes each
  assert.ok(Buffer.byteLength(cut) <= 123);
  assert.ok(!cut.includes('\uFFFD'));
  assert.equal(cut, 'é'.repeat(61));
});

test('offered subprotocols: the client’s order, trimmed, de-duplicated, filtered by the allow-list', () => {
  assert.deepEqual(offeredSubprotocols('', null), []);
  assert.deepEqual(offeredSubprotocols('a, b ,c,,a', null), ['a', 'b', 'c']);
  assert.deepEqual(offeredSubprotocols('mqtt, chat.v2, chat.v1', new Set(['chat.v1', 'chat.v2'])), ['chat.v2', 'chat.v1']);
  assert.deepEqual(offeredSubprotocols('mqtt', new Set(['chat.v1'])), []);
  assert.equal(invalidSubprotocol(['ok', 'has space', 'x']), 'has space');
  assert.equal(invalidSubprotocol(['graphql-transport-ws']), null);
});

test('the upstream URL swaps http(s) for ws(s)', () => {
  assert.equal(upstreamWsUrl('http://127.0.0.1:8080', '/a?b=1'), 'ws://127.0.0.1:8080/a?b=1');
  assert.equal(upstreamWsUrl('https://[::1]:443', '/'), 'wss://[::1]:443/');
});
