import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cookieValue, requestHashKey } from './hash-key.js';

const src = (headers: Record<string, string>, ip = '10.0.0.1', path = '/p') => ({
  header: (n: string) => headers[n] ?? '',
  clientIp: () => ip,
  path,
});

test('hash key comes from the named header, cookie, client address or path; absent gives undefined', () => {
  assert.equal(requestHashKey({ source: 'header', name: 'x-user' }, src({ 'x-user': 'alice' })), 'alice');
  assert.equal(requestHashKey({ source: 'header', name: 'x-user' }, src({})), undefined);
  assert.equal(requestHashKey({ source: 'cookie', name: 'sid' }, src({ cookie: 'a=1; sid=xyz; b=2' })), 'xyz');
  assert.equal(requestHashKey({ source: 'cookie', name: 'sid' }, src({ cookie: 'a=1' })), undefined);
  assert.equal(requestHashKey({ source: 'client-ip', name: '' }, src({}, '192.0.2.7')), '192.0.2.7');
  assert.equal(requestHashKey({ source: 'path', name: '' }, src({}, '', '/users/7')), '/users/7');
});

test('cookie parsing tolerates spaces, empty values and names that only share a prefix', () => {
  assert.equal(cookieValue('sidx=1;  sid = 2 ', 'sid'), '2');
  assert.equal(cookieValue('sid=', 'sid'), undefined);
  assert.equal(cookieValue('', 'sid'), undefined);
  assert.equal(cookieValue('SID=3', 'sid'), '3');
});
