import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Limiter, type LimitSpec, type PendingEntry, type Verdict } from './limiter.js';

const v = (): Verdict => ({ admitted: false, limit: 0, remaining: 0, resetS: 0, retryS: 0 });

/** Sends `n` requests under `key` at time `at`; returns how many were admitted. */
function send(l: Limiter, key: string, at: number, n = 1, weight = 1, peerFactor = 0): number {
  let ok = 0;
  for (let i = 0; i < n; i++) {
    const r = v();
    const s = l.check(key, at, weight, peerFactor, r);
    if (r.admitted) {
      l.take(s, key, at, weight);
      ok++;
    }
  }
  return ok;
}

const bucket = (requests: number, windowMs: number, burst = requests): LimitSpec => ({ algorithm: 'token-bucket', requests, windowMs, burst });
const window = (requests: number, windowMs: number): LimitSpec => ({ algorithm: 'sliding-window', requests, windowMs, burst: requests });

test('token bucket: a full bucket admits a burst of `burst`, then refuses with Retry-After of one token', () => {
  const l = new Limiter('t', bucket(10, 1_000, 5), false);
  const t0 = 1_000_000;
  assert.equal(send(l, 'a', t0, 8), 5, 'the burst');
  const r = v();
  l.check('a', t0, 1, 0, r);
  assert.equal(r.admitted, false);
  assert.equal(r.remaining, 0);
  assert.equal(r.retryS, 1, '100 ms to the next token, rounded up to whole seconds');
  assert.equal(r.limit, 5);
});

test('token bucket: tokens refill at requests / per, never above the burst', () => {
  const l = new Limiter('t', bucket(10, 1_000, 5), false);
  const t0 = 1_000_000;
  send(l, 'a', t0, 5);
  assert.equal(send(l, 'a', t0 + 99), 0, 'not yet a whole token');
  assert.equal(send(l, 'a', t0 + 100), 1, 'one token after 100 ms');
  assert.equal(send(l, 'a', t0 + 400, 10), 3, 'three more by 400 ms');
  assert.equal(send(l, 'a', t0 + 60_000, 10), 5, 'a long pause refills to the burst only');
  const r = v();
  l.check('b', t0, 1, 0, r);
  assert.equal(r.remaining, 4, 'a new key starts full; remaining counts after this request');
  assert.equal(r.resetS, 1, 'full again 100 ms after taking one');
});

test('token bucket: keys are independent', () => {
  const l = new Limiter('t', bucket(2, 60_000), false);
  assert.equal(send(l, 'a', 0, 5), 2);
  assert.equal(send(l, 'b', 0, 5), 2);
  assert.equal(send(l, '', 0, 5), 2, 'the shared key of requests without a value is a key like any other');
});

test('sliding window: at most `requests` in a window, the previous window weighted by its overlap', () => {
  const l = new Limiter('w', window(10, 10_000), false);
  const start = 100 * 10_000; // a window boundary
  assert.equal(send(l, 'a', start + 1_000, 15), 10);
  assert.equal(send(l, 'a', start + 9_999, 1), 0, 'same window: full');
  // Next window at 25 %: the previous 10 count 7.5 → 2 more fit (7.5 + 2 ≤ 10), not 3.
  assert.equal(send(l, 'a', start + 12_500, 5), 2);
  // At 80 %: previous weighs 2, current has 2 → 6 more.
  assert.equal(send(l, 'a', start + 18_000, 10), 6);
  // Two windows later nothing is left of either.
  assert.equal(send(l, 'a', start + 30_000, 20), 10);
});

test('sliding window: exactly at a boundary the previous window counts whole', () => {
  const l = new Limiter('w', window(4, 1_000), false);
  assert.equal(send(l, 'a', 5_999, 4), 4);
  assert.equal(send(l, 'a', 6_000, 1), 0, 'at the boundary the whole previous window is inside the sliding one');
  assert.equal(send(l, 'a', 6_250, 4), 1, '25 % in: previous counts 3');
});

test('sliding window: Retry-After says when the next request fits', () => {
  const l = new Limiter('w', window(10, 10_000), false);
  const start = 1_000 * 10_000;
  send(l, 'a', start, 10);
  const r = v();
  l.check('a', start + 1_000, 1, 0, r);
  assert.equal(r.admitted, false);
  // Current window full: in the next one the previous 10 must decay to 9 → 10 % into it → start + 11 s.
  assert.equal(r.retryS, 10);
  assert.equal(r.resetS, 9, 'the current window ends in 9 s');
  assert.equal(send(l, 'a', start + 10_999, 1), 0, 'just before: still full');
  assert.equal(send(l, 'a', start + 11_000, 1), 1, 'at the announced time: admitted');
});

test('an own admission weighing `weight` (local share) and assumed peer admissions shrink what is admitted', () => {
  const share = new Limiter('w', window(30, 10_000), false);
  assert.equal(send(share, 'a', 0, 30, 3), 10, 'weight 3: a third of the limit');
  const synced = new Limiter('s', window(30, 10_000), true);
  // Two peers assumed to admit as many as this node since its last publish: a third before the publish.
  assert.equal(send(synced, 'a', 0, 30, 1, 2), 10);
  const out: PendingEntry[] = [];
  synced.drainPending(out);
  assert.deepEqual(out, [['a', 0, 10]]);
  // The peers' admissions arrive: 30 in the window, none left.
  synced.applyRemote('a', 0, 20, 50);
  assert.equal(send(synced, 'a', 100, 5, 1, 2), 0);
});

test('remote counts consume the token bucket, down to one bucket of debt', () => {
  const l = new Limiter('t', bucket(10, 1_000), true);
  l.applyRemote('a', 0, 8, 0);
  assert.equal(send(l, 'a', 0, 5), 2);
  l.applyRemote('a', 0, 100, 0);
  assert.equal(send(l, 'a', 1_000, 5), 0, 'a second of refill pays one bucket of debt');
  assert.equal(send(l, 'a', 1_200, 5), 2);
});

test('pending counts are published once, per window, and a window boundary between publishes keeps both', () => {
  const l = new Limiter('w', window(100, 1_000), true);
  send(l, 'a', 500, 3);
  send(l, 'a', 1_500, 2);
  send(l, 'b', 1_600, 1);
  const out: PendingEntry[] = [];
  l.drainPending(out);
  assert.deepEqual(
    out.sort((x, y) => x[0].localeCompare(y[0]) || x[1] - y[1]),
    [
      ['a', 0, 3],
      ['a', 1, 2],
      ['b', 1, 1],
    ],
  );
  const again: PendingEntry[] = [];
  l.drainPending(again);
  assert.deepEqual(again, []);
  const unsynced = new Limiter('u', window(100, 1_000), false);
  send(unsynced, 'a', 0, 3);
  unsynced.drainPending(again);
  assert.deepEqual(again, [], 'a local limit publishes nothing');
});

test('idle keys are evicted once their state says nothing; the key bound drops the oldest', () => {
  const tb = new Limiter('t', bucket(10, 1_000), false);
  send(tb, 'a', 0, 10);
  send(tb, 'b', 900, 1);
  assert.equal(tb.sweep(999), 0, 'a bucket not yet refilled is kept');
  assert.equal(tb.sweep(1_000), 1, 'a is full again: dropped');
  assert.equal(tb.size, 1);
  const sw = new Limiter('w', window(5, 1_000), false);
  send(sw, 'a', 0, 5);
  assert.equal(sw.sweep(1_999), 0, 'the window still counts in the next one');
  assert.equal(sw.sweep(2_000), 1);
  assert.equal(send(sw, 'a', 2_000, 9), 5, 'a swept key starts afresh, as its state would have said anyway');
  const bounded = new Limiter('b', bucket(1, 60_000), false, 2);
  send(bounded, 'x', 0);
  send(bounded, 'y', 0);
  send(bounded, 'z', 0);
  assert.equal(bounded.size, 2);
  assert.equal(send(bounded, 'y', 0), 0, 'y kept its state');
  assert.equal(send(bounded, 'x', 0), 1, 'x, the oldest, was dropped');
});
