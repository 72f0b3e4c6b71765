import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CacheStore, entrySize, type CacheEntry } from './store.js';

function entry(key: string, bodyBytes: number, o: Partial<CacheEntry> = {}): CacheEntry {
  const body = Buffer.alloc(bodyBytes, 1);
  const headers = ['content-type', 'text/plain'];
  return {
    key,
    primary: o.primary ?? key,
    routeId: 'r',
    serviceId: 's',
    path: '/p',
    status: 200,
    headers,
    body,
    storedAt: 0,
    expiresAt: o.expiresAt ?? 1_000,
    staleUntil: o.staleUntil ?? o.expiresAt ?? 1_000,
    size: entrySize(key, headers, body),
    refreshUntil: 0,
    ...o,
  };
}

test('the store evicts least recently used entries once the total bytes pass its bound', () => {
  const one = entry('a', 1000).size;
  const store = new CacheStore(one * 3);
  for (const k of ['a', 'b', 'c']) assert.equal(store.set(entry(k, 1000), []), true);
  // A read makes `a` the most recent: `b` is the least recently used now.
  assert.ok(store.get('a', 0));
  store.set(entry('d', 1000), []);
  assert.equal(store.get('b', 0), undefined);
  assert.ok(store.get('a', 0) && store.get('c', 0) && store.get('d', 0));
  assert.equal(store.stats().entries, 3);
  assert.ok(store.stats().bytes <= one * 3);
  assert.equal(store.stats().evictions, 1);
  // One entry the size of two pushes out the two least recently used.
  const bigBytes = 2000 + (2 * one - entry('big', 2000).size);
  assert.equal(entry('big', bigBytes).size, 2 * one);
  store.set(entry('big', bigBytes), []);
  assert.deepEqual(
    ['a', 'c', 'd', 'big'].map((k) => store.get(k, 0) !== undefined),
    [false, false, true, true],
  );
});

test('an entry larger than the whole store is refused; replacing a key does not double-count it', () => {
  const store = new CacheStore(2000);
  assert.equal(store.set(entry('huge', 5000), []), false);
  assert.equal(store.stats().bytes, 0);
  store.set(entry('k', 100), []);
  store.set(entry('k', 100), []);
  assert.equal(store.stats().entries, 1);
  assert.equal(store.stats().bytes, entry('k', 100).size);
  store.resize(10);
  assert.equal(store.stats().entries, 0);
});

test('entries past staleUntil are dropped on read; stale ones within it are returned', () => {
  const store = new CacheStore(1 << 20);
  store.set(entry('k', 10, { expiresAt: 100, staleUntil: 200 }), []);
  assert.ok(store.get('k', 150));
  assert.equal(store.get('k', 200), undefined);
  assert.equal(store.stats().entries, 0);
});

test('Vary names are remembered per primary key while it has entries; invalidate drops what matches', () => {
  const store = new CacheStore(1 << 20);
  store.set(entry('p\nvary\naccept:a', 10, { primary: 'p', path: '/v1/x' }), ['accept']);
  store.set(entry('p\nvary\naccept:b', 10, { primary: 'p', path: '/v1/x' }), ['accept']);
  store.set(entry('q', 10, { primary: 'q', path: '/v2/y', serviceId: 'other' }), []);
  assert.deepEqual(store.varyOf('p'), ['accept']);
  assert.equal(store.invalidate((e) => e.path.startsWith('/v1/')), 2);
  assert.equal(store.varyOf('p'), undefined);
  assert.deepEqual(store.varyOf('q'), []);
});
