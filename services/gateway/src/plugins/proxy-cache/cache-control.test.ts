import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCacheControl, requestMode, responseTtl, varyNames } from './cache-control.js';

test('parseCacheControl reads the directives case-insensitively, quoted numbers included, bad numbers as absent', () => {
  const d = parseCacheControl('Public, MAX-AGE="60", s-maxage=abc, No-Store');
  assert.equal(d.noStore, true);
  assert.equal(d.maxAge, 60);
  assert.equal(d.sMaxage, -1);
  assert.equal(parseCacheControl('private="set-cookie"').private, true);
});

test('requestMode: no-store bypasses, no-cache and max-age=0 ask for a refresh, anything else is normal', () => {
  assert.equal(requestMode(''), 'normal');
  assert.equal(requestMode('no-store'), 'bypass');
  assert.equal(requestMode('no-cache, no-store'), 'bypass');
  assert.equal(requestMode('no-cache'), 'refresh');
  assert.equal(requestMode('max-age=0'), 'refresh');
  assert.equal(requestMode('max-age=10'), 'normal');
  assert.equal(requestMode('only-if-cached'), 'normal');
});

test('responseTtl: s-maxage over max-age over the default; no-store, no-cache, private and zero lifetimes are not stored', () => {
  assert.equal(responseTtl('', 300), 300);
  assert.equal(responseTtl('public', 300), 300);
  assert.equal(responseTtl('max-age=20', 300), 20);
  assert.equal(responseTtl('max-age=20, s-maxage=5', 300), 5);
  assert.equal(responseTtl('max-age=0', 300), 0);
  assert.equal(responseTtl('no-store', 300), 0);
  assert.equal(responseTtl('no-cache', 300), 0);
  assert.equal(responseTtl('private, max-age=60', 300), 0);
});

test('varyNames: lower-case, sorted, de-duplicated across fields; * is not storable', () => {
  assert.deepEqual(varyNames([]), []);
  assert.deepEqual(varyNames(['Accept-Language, accept', 'ACCEPT']), ['accept', 'accept-language']);
  assert.equal(varyNames(['accept, *']), null);
});
