import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SmoothWeightedRoundRobin } from './balancer.js';

test('smooth WRR interleaves picks in proportion to weights (nginx sequence for 5,1,1)', () => {
  const b = new SmoothWeightedRoundRobin([
    { item: 'a', weight: 5 },
    { item: 'b', weight: 1 },
    { item: 'c', weight: 1 },
  ]);
  const seq = Array.from({ length: 7 }, () => b.pick()).join('');
  assert.equal(seq, 'aabacaa');
  assert.equal(Array.from({ length: 7 }, () => b.pick()).join(''), 'aabacaa', 'the cycle repeats');
});

test('smooth WRR distribution over many picks matches weights exactly per cycle', () => {
  const b = new SmoothWeightedRoundRobin([
    { item: 'x', weight: 3 },
    { item: 'y', weight: 2 },
    { item: 'z', weight: 0 },
  ]);
  const counts = new Map<string, number>();
  for (let i = 0; i < 500; i++) {
    const p = b.pick() as string;
    counts.set(p, (counts.get(p) ?? 0) + 1);
  }
  assert.deepEqual(Object.fromEntries(counts), { x: 300, y: 200 });
});

test('smooth WRR with no positive weights picks nothing; with one target always that one', () => {
  assert.equal(new SmoothWeightedRoundRobin([{ item: 'a', weight: 0 }]).pick(), undefined);
  assert.equal(new SmoothWeightedRoundRobin<string>([]).pick(), undefined);
  const one = new SmoothWeightedRoundRobin([{ item: 'a', weight: 7 }]);
  assert.equal(one.pick(), 'a');
  assert.equal(one.pick(), 'a');
});
