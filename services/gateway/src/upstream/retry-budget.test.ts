import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RetryBudget } from './retry-budget.js';

test('retry budget: retries stay within budget_percent of requests (plus one reserve token)', () => {
  const b = new RetryBudget(20);
  let allowed = 0;
  for (let i = 0; i < 1_000; i++) {
    b.deposit();
    if (b.tryWithdraw()) allowed++;
  }
  // 20 % of 1000 requests, plus the starting token.
  assert.equal(allowed, 201);
  assert.equal(b.retries, 201);
  assert.equal(b.refused, 799);
});

test('retry budget: credit from past traffic is capped at the last 100 requests’ worth; 0 % never retries', () => {
  const b = new RetryBudget(10);
  for (let i = 0; i < 10_000; i++) b.deposit();
  assert.equal(b.available, 10);
  let n = 0;
  while (b.tryWithdraw()) n++;
  assert.equal(n, 10);
  const none = new RetryBudget(0);
  for (let i = 0; i < 100; i++) none.deposit();
  assert.equal(none.tryWithdraw(), false);
});
