import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SUBSCRIPTION_NO_CONSUMER, SUBSCRIPTION_REQUIRED, SubscriptionTable, checkSubscription, compileSubscriptions } from './subscriptions.js';

const sub = (consumer_id: string, service_id: string, status: string) => ({ id: 'x', consumer_id, service_id, status, plan_id: null });

test('subscriptions: only approved subscriptions admit, and only to their service', () => {
  const { table, rejections } = compileSubscriptions([
    { key: 'subscriptions.1', data: sub('c1', 's1', 'approved') },
    { key: 'subscriptions.2', data: sub('c1', 's2', 'pending') },
    { key: 'subscriptions.3', data: sub('c2', 's1', 'rejected') },
    { key: 'subscriptions.4', data: sub('c3', 's1', 'revoked') },
    { key: 'subscriptions.5', data: sub('C4', 'S1', 'approved') },
  ]);
  assert.deepEqual(rejections, []);
  assert.equal(checkSubscription(table, 'c1', 's1'), null);
  assert.equal(checkSubscription(table, 'c1', 's2'), SUBSCRIPTION_REQUIRED, 'pending');
  assert.equal(checkSubscription(table, 'c2', 's1'), SUBSCRIPTION_REQUIRED, 'rejected');
  assert.equal(checkSubscription(table, 'c3', 's1'), SUBSCRIPTION_REQUIRED, 'revoked');
  assert.equal(checkSubscription(table, 'c1', 's3'), SUBSCRIPTION_REQUIRED, 'another service');
  assert.equal(checkSubscription(table, 'c4', 's1'), null, 'ids compare lower-case');
  assert.equal(table.size, 2);
  const d = checkSubscription(table, 'nobody', 's1')!;
  assert.equal(d.status, 403);
  assert.equal(d.code, 'TP_ERR_SUBSCRIPTION_REQUIRED');
});

test('subscriptions: without an identified consumer a service that requires one refuses with TP_ERR_SUBSCRIPTION_REQUIRED', () => {
  const { table } = compileSubscriptions([{ key: 'subscriptions.1', data: sub('c1', 's1', 'approved') }]);
  const d = checkSubscription(table, '', 's1');
  assert.equal(d, SUBSCRIPTION_NO_CONSUMER);
  assert.equal(d!.code, 'TP_ERR_SUBSCRIPTION_REQUIRED');
  assert.match(d!.message, /authentication is required/);
});

test('subscriptions: live updates: approval, revocation, deletion, and two entries for one pair', () => {
  const t = new SubscriptionTable();
  assert.equal(t.put('subscriptions.1', sub('c1', 's1', 'pending')), null);
  assert.equal(t.has('c1', 's1'), false);
  t.put('subscriptions.1', sub('c1', 's1', 'approved'));
  assert.equal(t.has('c1', 's1'), true, 'approved');
  t.put('subscriptions.1', sub('c1', 's1', 'revoked'));
  assert.equal(t.has('c1', 's1'), false, 'revoked');
  t.put('subscriptions.1', sub('c1', 's1', 'approved'));
  t.put('subscriptions.2', sub('c1', 's1', 'approved'));
  t.delete('subscriptions.1');
  assert.equal(t.has('c1', 's1'), true, 'the other entry still grants the pair');
  t.delete('subscriptions.2');
  assert.equal(t.has('c1', 's1'), false);
  assert.equal(t.size, 0);
  t.delete('subscriptions.404');
});

test('subscriptions: malformed entries are reported and grant nothing', () => {
  const { table, rejections } = compileSubscriptions([
    { key: 'subscriptions.a', data: null },
    { key: 'subscriptions.b', data: { service_id: 's1', status: 'approved' } },
    { key: 'subscriptions.c', data: { consumer_id: 'c1', service_id: 7, status: 'approved' } },
  ]);
  assert.deepEqual(
    rejections.map((r) => r.key),
    ['subscriptions.a', 'subscriptions.b', 'subscriptions.c'],
  );
  assert.equal(table.size, 0);
  // A valid entry replaced by a malformed one stops granting.
  const t = new SubscriptionTable();
  t.put('subscriptions.1', sub('c1', 's1', 'approved'));
  assert.notEqual(t.put('subscriptions.1', { status: 'approved' }), null);
  assert.equal(t.has('c1', 's1'), false);
});

test('subscriptions: a lookup among 100,000 approved subscriptions costs two map lookups', () => {
  const entries = [];
  for (let i = 0; i < 100_000; i++) entries.push({ key: `subscriptions.${i}`, data: sub(`c${i % 20_000}`, `s${i % 97}`, 'approved') });
  const { table } = compileSubscriptions(entries);
  const N = 200_000;
  let ok = 0;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < N; i++) if (checkSubscription(table, 'c12345', (i & 1) === 0 ? 's26' : 's0') === null) ok++;
  const ns = Number(process.hrtime.bigint() - t0) / N;
  console.log(`# subscription check, 100k approved: ${ns.toFixed(0)} ns`);
  assert.ok(table.has('c12345', 's26'));
  assert.equal(ok, N / 2);
  assert.ok(ns < 5000, `${ns} ns`);
});

test('subscriptions: planOf names the approved subscription plan for the call record; none once revoked or deleted', () => {
  const t = new SubscriptionTable();
  t.put('subscriptions.1', { consumer_id: 'c1', service_id: 's1', plan_id: 'gold', status: 'approved' });
  t.put('subscriptions.2', { consumer_id: 'c1', service_id: 's2', plan_id: 'silver', status: 'pending' });
  t.put('subscriptions.3', { consumer_id: 'c2', service_id: 's1', plan_id: null, status: 'approved' });
  assert.equal(t.planOf('c1', 's1'), 'gold');
  assert.equal(t.planOf('c1', 's2'), '', 'a pending subscription has no plan in force');
  assert.equal(t.planOf('c2', 's1'), '', 'approved without a plan');
  assert.equal(t.planOf('c3', 's1'), '');
  t.put('subscriptions.1', { consumer_id: 'c1', service_id: 's1', plan_id: 'gold', status: 'revoked' });
  assert.equal(t.planOf('c1', 's1'), '');
  t.put('subscriptions.2', { consumer_id: 'c1', service_id: 's2', plan_id: 'silver', status: 'approved' });
  assert.equal(t.planOf('c1', 's2'), 'silver');
  t.delete('subscriptions.2');
  assert.equal(t.planOf('c1', 's2'), '');
});
