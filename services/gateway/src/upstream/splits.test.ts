import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CompiledSplits } from './splits.js';

const req = (headers: Record<string, string>) => ({ getHeader: (n: string) => headers[n] ?? '' });

test('splits: a matching header wins; the rest split exactly by percentage per 100 requests', () => {
  const s = new CompiledSplits('own', [
    { upstream: 'canary', weight: 10, header: null },
    { upstream: 'beta', weight: 25, header: { name: 'X-Beta', value: 'yes' } },
  ]);
  assert.equal(s.pick('own', req({ 'x-beta': 'yes' })), 'beta');
  const counts = new Map<string, number>();
  const fresh = new CompiledSplits('own', [
    { upstream: 'canary', weight: 10, header: null },
    { upstream: 'beta', weight: 25, header: { name: 'X-Beta', value: 'yes' } },
  ]);
  for (let i = 0; i < 1_000; i++) {
    const u = fresh.pick('own', req({}));
    counts.set(u, (counts.get(u) ?? 0) + 1);
  }
  assert.deepEqual(Object.fromEntries(counts), { own: 650, canary: 100, beta: 250 });
});

test('splits: header-only splits (weight 0) take no share of the other requests', () => {
  const s = new CompiledSplits('own', [{ upstream: 'dark', weight: 0, header: { name: 'x-dark', value: '1' } }]);
  for (let i = 0; i < 50; i++) assert.equal(s.pick('own', req({})), 'own');
  assert.equal(s.pick('own', req({ 'x-dark': '1' })), 'dark');
  assert.equal(s.pick('own', req({ 'x-dark': '2' })), 'own');
});
