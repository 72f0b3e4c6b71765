// Balancers built with a guard skip targets that are down (health checks, ejection, breaker).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createBalancer, type Algorithm } from './balancer.js';

interface T {
  id: string;
  inFlight: number;
  up: boolean;
}
const guard = (t: T): boolean => t.up;
const mk = (n: number, weights: number[] = []): Array<{ item: T; weight: number; id: string }> =>
  Array.from({ length: n }, (_, i) => ({ item: { id: `t${i}`, inFlight: 0, up: true }, weight: weights[i] ?? 100, id: `http://10.0.0.${i}:80` }));

const ALGORITHMS: Algorithm[] = ['round-robin', 'least-connections', 'random', 'consistent-hash'];

for (const algorithm of ALGORITHMS) {
  test(`${algorithm}: a down target is never picked, it comes back when up, and all down picks nothing`, () => {
    const entries = mk(3);
    const b = createBalancer(algorithm, entries, guard);
    entries[1]!.item.up = false;
    const seen = new Map<string, number>();
    for (let i = 0; i < 600; i++) {
      const t = b.pick(algorithm === 'consistent-hash' ? `k${i}` : undefined)!;
      seen.set(t.id, (seen.get(t.id) ?? 0) + 1);
    }
    assert.equal(seen.get('t1'), undefined);
    assert.equal(seen.size, 2);
    entries[1]!.item.up = true;
    const back = new Set(Array.from({ length: 300 }, (_, i) => b.pick(algorithm === 'consistent-hash' ? `k${i}` : undefined)!.id));
    assert.ok(back.has('t1'));
    for (const e of entries) e.item.up = false;
    assert.equal(b.pick('k1'), undefined);
    assert.equal(b.pick(), undefined);
  });
}

test('round-robin with a guard keeps exact weights over the targets that are up', () => {
  const entries = mk(3, [3, 2, 5]);
  const b = createBalancer('round-robin', entries, guard);
  entries[2]!.item.up = false;
  const counts = new Map<string, number>();
  for (let i = 0; i < 500; i++) {
    const id = b.pick()!.id;
    counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  assert.deepEqual(Object.fromEntries(counts), { t0: 300, t1: 200 });
});

test('consistent hash with a guard: only the down target’s keys move, and they come back after', () => {
  const entries = mk(4);
  const b = createBalancer('consistent-hash', entries, guard);
  const before = Array.from({ length: 2_000 }, (_, i) => b.pick(`user-${i}`)!.id);
  entries[2]!.item.up = false;
  const during = Array.from({ length: 2_000 }, (_, i) => b.pick(`user-${i}`)!.id);
  for (let i = 0; i < before.length; i++) {
    if (before[i] !== 't2') assert.equal(during[i], before[i], 'a key of a healthy target stays put');
    else assert.notEqual(during[i], 't2');
  }
  entries[2]!.item.up = true;
  assert.deepEqual(Array.from({ length: 2_000 }, (_, i) => b.pick(`user-${i}`)!.id), before);
});

test('least connections with a guard: the idle target is preferred unless it is down', () => {
  const entries = mk(3);
  const [a, b, c] = entries.map((e) => e.item) as [T, T, T];
  a.inFlight = 4;
  b.inFlight = 0;
  c.inFlight = 2;
  const lc = createBalancer('least-connections', entries, guard);
  assert.equal(lc.pick(), b);
  b.up = false;
  assert.equal(lc.pick(), c);
});
