import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RecentIds } from './recent-ids.js';

test('RecentIds remembers the newest ids up to its capacity', () => {
  const r = new RecentIds(3);
  for (const id of ['a', 'b', 'c']) r.add(id);
  assert.ok(r.has('a') && r.has('b') && r.has('c'));
  r.add('b'); // already there: does not evict anything
  assert.equal(r.size, 3);
  r.add('d');
  assert.equal(r.has('a'), false);
  assert.ok(r.has('b') && r.has('c') && r.has('d'));
  assert.equal(r.size, 3);
});
