import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WeightedRandom } from './weighted-random.js';

test('weighted random: measured shares follow the weights; zero weight never drawn', () => {
  const b = new WeightedRandom([
    { item: 'x', weight: 300 },
    { item: 'y', weight: 100 },
    { item: 'z', weight: 0 },
  ]);
  const counts = new Map<string, number>();
  const n = 40_000;
  for (let i = 0; i < n; i++) {
    const p = b.pick()!;
    counts.set(p, (counts.get(p) ?? 0) + 1);
  }
  assert.equal(counts.get('z'), undefined);
  const x = counts.get('x')! / n;
  assert.ok(x > 0.72 && x < 0.78, `x drew ${x.toFixed(3)} of an ideal 0.75`);
});

test('weighted random maps the draw onto cumulative weights exactly', () => {
  let r = 0;
  const b = new WeightedRandom(
    [
      { item: 'a', weight: 1 },
      { item: 'b', weight: 3 },
    ],
    () => r,
  );
  r = 0;
  assert.equal(b.pick(), 'a');
  r = 0.249;
  assert.equal(b.pick(), 'a');
  r = 0.25;
  assert.equal(b.pick(), 'b');
  r = 0.999;
  assert.equal(b.pick(), 'b');
  assert.equal(new WeightedRandom<string>([]).pick(), undefined);
});
