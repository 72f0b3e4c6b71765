import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InProcessCacheInvalidationChannel, cacheInvalidationSubject, parseCacheInvalidation, type CacheInvalidation } from './cache-invalidation.js';

test('parseCacheInvalidation accepts exactly one target and refuses anything malformed', () => {
  assert.deepEqual(parseCacheInvalidation({ id: 'i', cluster: 'c', route_id: 'r' }), { id: 'i', cluster: 'c', route_id: 'r' });
  assert.deepEqual(parseCacheInvalidation({ id: 'i', cluster: 'c', prefix: '/v1', service_ids: ['a'], extra: 1 }), { id: 'i', cluster: 'c', prefix: '/v1', service_ids: ['a'] });
  for (const bad of [
    null,
    'x',
    { id: 'i', cluster: 'c' },
    { id: 'i', cluster: 'c', route_id: 'r', service_id: 's' },
    { id: 'i', cluster: 'c', prefix: 'v1' },
    { id: 'i', cluster: 'c', prefix: '/v1', service_ids: [1] },
    { id: '', cluster: 'c', route_id: 'r' },
    { id: 'i', route_id: 'r' },
  ]) {
    assert.equal(parseCacheInvalidation(bad), null, JSON.stringify(bad));
  }
  assert.equal(cacheInvalidationSubject('prod'), 'turnpike.cache.prod.invalidate');
});

test('the in-process channel stamps its cluster and delivers a copy to every subscriber, asynchronously', async () => {
  const ch = new InProcessCacheInvalidationChannel('east');
  const got: CacheInvalidation[][] = [[], []];
  const subs = got.map((list) => ch.subscribe((inv) => list.push(inv)));
  const sent = { id: 'i', service_ids: ['a'], prefix: '/x' };
  const published = ch.publish(sent);
  // Not inside the publisher's call.
  assert.equal(got[0]!.length + got[1]!.length, 0);
  await published;
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(got[0], [{ ...sent, cluster: 'east' }]);
  assert.notEqual(got[0]![0]!.service_ids, got[1]![0]!.service_ids);
  subs[0]!.stop();
  await ch.publish(sent);
  await new Promise((r) => setImmediate(r));
  assert.equal(got[0]!.length, 1);
  assert.equal(got[1]!.length, 2);
});
