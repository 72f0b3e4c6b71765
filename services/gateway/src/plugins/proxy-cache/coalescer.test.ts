import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Coalescer } from './coalescer.js';
import type { CacheEntry } from './store.js';

const e = { key: 'k' } as CacheEntry;

test('one fill per key: the others wait and all hear its entry; the key is free again after it', async () => {
  const c = new Coalescer();
  const fill = c.begin('k', 5_000);
  assert.ok(fill);
  assert.equal(c.begin('k', 5_000), null);
  const waits = [c.wait('k'), c.wait('k'), c.wait('k')];
  assert.equal(c.wait('other'), null);
  c.finish(fill!, e);
  assert.deepEqual(await Promise.all(waits), [e, e, e]);
  assert.equal(c.size, 0);
  assert.ok(c.begin('k', 5_000));
});

test('waiting is bounded: a fill that does not finish in time releases its waiters with null', async () => {
  const c = new Coalescer();
  const fill = c.begin('k', 30)!;
  const started = Date.now();
  // The fill's timer does not hold the process open (unref): this one does, for the test.
  const keep = setTimeout(() => undefined, 5_000);
  assert.equal(await c.wait('k'), null);
  clearTimeout(keep);
  assert.ok(Date.now() - started < 2_000);
  // Its late outcome changes nothing, and a new fill may start.
  c.finish(fill, e);
  assert.ok(c.begin('k', 30));
});
