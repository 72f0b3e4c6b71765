// Budget index: published ai_budgets entries → budgets by API key, consumer and tenant.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { compileBudgets } from './budget-index.js';

const KEY = '11111111-1111-4111-8111-111111111111';
const CONSUMER = '22222222-2222-4222-8222-222222222222';
const TENANT = '00000000-0000-4000-8000-000000000001';

const entry = (id: string, type: string, scopeId: string, extra: Record<string, unknown> = {}) => ({
  id,
  name: `b-${id}`,
  scope: { type, id: scopeId },
  period: 'minute',
  limits: { tokens: 1000 },
  enabled: true,
  tags: [],
  ...extra,
});

describe('compileBudgets', () => {
  const index = compileBudgets([
    entry('aaaaaaaa-0000-4000-8000-000000000001', 'api_key', KEY),
    entry('aaaaaaaa-0000-4000-8000-000000000002', 'consumer', CONSUMER, { period: 'month', limits: { cost_usd: 12.5, requests: 10 } }),
    entry('aaaaaaaa-0000-4000-8000-000000000003', 'tenant', TENANT, { period: 'day', limits: { requests: 5 } }),
    entry('aaaaaaaa-0000-4000-8000-000000000004', 'consumer', CONSUMER, { enabled: false }),
    entry('aaaaaaaa-0000-4000-8000-000000000005', 'consumer', CONSUMER, { limits: {} }),
    entry('aaaaaaaa-0000-4000-8000-000000000006', 'route', KEY),
    { not: 'a budget' },
  ]);

  it('finds the budgets of the key, its consumer and its tenant, leaving out disabled and malformed entries', () => {
    const all = index.budgetsFor({ apiKeyId: KEY, consumerId: CONSUMER, tenantId: TENANT });
    assert.deepEqual(
      all.map((b) => b.id.slice(-1)),
      ['1', '2', '3'],
    );
    const consumer = all[1]!;
    assert.deepEqual(consumer, {
      id: 'aaaaaaaa-0000-4000-8000-000000000002',
      scope: 'consumer',
      scopeId: CONSUMER,
      period: 'month',
      limits: { tokens: null, costUsd: 12.5, requests: 10 },
    });
    assert.equal(index.size, 3);
  });

  it('answers each subject alone, and nothing for unknown or absent subjects', () => {
    assert.deepEqual(index.budgetsFor({ apiKeyId: KEY, consumerId: null, tenantId: null }).map((b) => b.scope), ['api_key']);
    assert.deepEqual(index.budgetsFor({ apiKeyId: null, consumerId: CONSUMER, tenantId: null }).map((b) => b.scope), ['consumer']);
    assert.deepEqual(index.budgetsFor({ apiKeyId: null, consumerId: null, tenantId: TENANT }).map((b) => b.scope), ['tenant']);
    assert.equal(index.budgetsFor({ apiKeyId: CONSUMER, consumerId: KEY, tenantId: null }).length, 0);
    assert.equal(compileBudgets([]).budgetsFor({ apiKeyId: KEY, consumerId: CONSUMER, tenantId: TENANT }).length, 0);
  });
});
