import { test } from 'node:test';
import assert from 'node:assert/strict';
import { periodStart, quotaUsageKey } from '@turnpike/common';
import { checkQuota } from './check.js';
import { QuotaPlanTable } from './plans.js';
import { QuotaUsageTable } from './usage-table.js';

const C = '0b7c7f5e-6a57-4c5e-9d0a-1f1f1f1f1f1f';
const S = '5e1d0c3b-2a19-4f08-8e7d-6c5b4a392817';
const P = '9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d';
const NOW = Date.parse('2026-12-06T12:00:00Z');

function plans(quotas: unknown[], status = 'approved'): QuotaPlanTable {
  const t = new QuotaPlanTable();
  t.rebuild([{ data: { consumer_id: C, service_id: S, plan_id: P, status } }], [{ id: P, data: { quotas } }]);
  return t;
}

function snapshot(requests: number, at = NOW, period: 'day' | 'month' = 'day'): string {
  return JSON.stringify({ consumer_id: C, service_id: S, usage: [{ period, start: periodStart(period, at), requests }], at });
}

test('only approved subscriptions whose plan limits requests have quotas', () => {
  assert.equal(plans([{ period: 'day', requests: 5 }]).get(C, S)?.quotas.length, 1);
  assert.equal(plans([{ period: 'day', requests: 5 }], 'pending').get(C, S), undefined);
  assert.equal(plans([{ period: 'day', ai_tokens: 1000 }]).get(C, S), undefined);
});

test('a single node refuses the request past the limit on its local count alone, with quota headers', () => {
  const q = plans([{ period: 'day', requests: 3 }]).get(C, S)!;
  const usage = new QuotaUsageTable();
  const remaining: string[] = [];
  for (let i = 0; i < 3; i++) {
    const v = checkQuota(q, usage, NOW);
    assert.equal(v.ok, true);
    remaining.push(v.headers[3]!);
  }
  assert.deepEqual(remaining, ['2', '1', '0']);
  const denied = checkQuota(q, usage, NOW);
  assert.equal(denied.ok, false);
  assert.deepEqual(denied.headers.slice(0, 4), ['x-quota-limit', '3', 'x-quota-remaining', '0']);
  // Noon to midnight: 12 hours until the day's quota resets.
  assert.equal(denied.headers[5], String(12 * 3600));
  assert.equal(denied.headers[7], String(12 * 3600));
});

test("a snapshot replaces the local count; another period's snapshot counts nothing", () => {
  const q = plans([{ period: 'day', requests: 10 }]).get(C, S)!;
  const usage = new QuotaUsageTable();
  const key = quotaUsageKey(C, S);
  checkQuota(q, usage, NOW);
  checkQuota(q, usage, NOW);
  assert.equal(usage.used(key, 'day', periodStart('day', NOW), NOW), 2);
  usage.apply({ op: 'put', key, value: snapshot(9), revision: 1 });
  assert.equal(usage.used(key, 'day', periodStart('day', NOW), NOW), 9);
  assert.equal(checkQuota(q, usage, NOW).ok, true); // the 10th
  assert.equal(checkQuota(q, usage, NOW).ok, false);
  // Yesterday's count does not hold today back.
  usage.apply({ op: 'put', key, value: snapshot(50, NOW - 86_400_000), revision: 2 });
  assert.equal(checkQuota(q, usage, NOW).ok, true);
});

test('the tightest of several quotas is the one reported', () => {
  const q = plans([{ period: 'month', requests: 100 }, { period: 'day', requests: 10 }]).get(C, S)!;
  const usage = new QuotaUsageTable();
  usage.apply({ op: 'put', key: quotaUsageKey(C, S), value: snapshot(95, NOW, 'month'), revision: 1 });
  const v = checkQuota(q, usage, NOW);
  assert.equal(v.ok, true);
  assert.deepEqual(v.headers.slice(0, 4), ['x-quota-limit', '100', 'x-quota-remaining', '4']);
});
