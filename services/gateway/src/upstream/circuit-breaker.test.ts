import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CircuitBreaker } from './circuit-breaker.js';
import { TargetHealth } from './target-health.js';

const policy = { failure_threshold: 3, window_ms: 10_000, open_ms: 5_000, half_open_requests: 2 };

test('breaker: closed → open after failure_threshold failures within window_ms; older failures do not count', () => {
  const b = new CircuitBreaker(policy);
  b.onFailure(0);
  b.onFailure(1_000);
  // 15 s later the first two have left the window: this one alone does not open it.
  b.onFailure(16_000);
  assert.equal(b.state, 'closed');
  b.onFailure(16_500);
  assert.equal(b.state, 'closed');
  b.onFailure(17_000);
  assert.equal(b.state, 'open');
  assert.equal(b.allows(), false);
  assert.equal(b.opens, 1);
  assert.equal(b.openUntil, 22_000);
});

test('breaker: open → half-open after open_ms; half_open_requests trials, all succeeding, close it', () => {
  const b = new CircuitBreaker(policy);
  for (let i = 0; i < 3; i++) b.onFailure(100 * i);
  assert.equal(b.tick(4_000), false, 'still open before open_ms');
  assert.equal(b.tick(5_200), true);
  assert.equal(b.state, 'half-open');
  assert.equal(b.allows(), true);
  b.acquire();
  b.acquire();
  assert.equal(b.allows(), false, 'both trial slots taken');
  b.onSuccess();
  assert.equal(b.state, 'half-open');
  b.onSuccess();
  assert.equal(b.state, 'closed');
  assert.equal(b.allows(), true);
  // Closed again with a clean window: two failures do not reopen it.
  b.onFailure(6_000);
  b.onFailure(6_001);
  assert.equal(b.state, 'closed');
});

test('breaker: a failure while half-open re-opens it for another open_ms; a released trial frees its slot', () => {
  const b = new CircuitBreaker(policy);
  for (let i = 0; i < 3; i++) b.onFailure(i);
  b.tick(6_000);
  b.acquire();
  b.release();
  b.acquire();
  b.acquire();
  assert.equal(b.allows(), false);
  b.onFailure(6_100);
  assert.equal(b.state, 'open');
  assert.equal(b.openUntil, 11_100);
  assert.equal(b.opens, 2);
  // Answers to requests sent before it opened change nothing.
  b.onSuccess();
  b.onFailure(6_200);
  assert.equal(b.state, 'open');
  assert.equal(b.openUntil, 11_100);
});

test('target health: the breaker takes the target out and its timer brings it back half-open (real timer)', async () => {
  let now = 1_000_000;
  const h = new TargetHealth(null, { failure_threshold: 2, window_ms: 10_000, open_ms: 1_000, half_open_requests: 1 }, () => now);
  h.failure();
  assert.equal(h.available, true);
  h.failure();
  assert.equal(h.available, false);
  assert.equal(h.breakerState, 'open');
  now += 1_000;
  await new Promise((r) => setTimeout(r, 1_100));
  assert.equal(h.breakerState, 'half-open');
  assert.equal(h.available, true);
  h.acquire();
  assert.equal(h.available, false, 'the one trial is out');
  h.success();
  assert.equal(h.breakerState, 'closed');
  assert.equal(h.available, true);
  h.close();
});
