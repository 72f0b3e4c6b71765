import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createBalancer } from './balancer.js';

interface T {
  id: string;
  inFlight: number;
}
const mk = (weights: number[]): Array<{ item: T; weight: number; id: string }> => weights.map((weight, i) => ({ item: { id: String.fromCharCode(97 + i), inFlight: 0 }, weight, id: String(i) }));

test('least connections prefers the idle target while the others are busy', () => {
  const entries = mk([100, 100, 100]);
  const [a, b, c] = entries.map((e) => e.item) as [T, T, T];
  a.inFlight = 5;
  b.inFlight = 0;
  c.inFlight = 3;
  const lc = createBalancer('least-connections', entries);
  assert.equal(lc.pick(), b);
  // The proxy counts the request it starts: b fills up until it matches the next least busy.
  const picks: string[] = [];
  for (let i = 0; i < 6; i++) {
    const t = lc.pick()!;
    t.inFlight++;
    picks.push(t.id);
  }
  assert.deepEqual(picks, ['b', 'b', 'b', 'c', 'b', 'c']);
});

test('least connections with long and short requests: measured in-flight stays level, unlike round-robin', () => {
  // Target a's requests take 10 ticks, b's and c's 1 tick (a is slow); 3 requests arrive per tick.
  const run = (algorithm: 'least-connections' | 'round-robin'): Map<string, number> => {
    const entries = mk([100, 100, 100]);
    const bal = createBalancer(algorithm, entries);
    const done: Array<{ at: number; t: T }> = [];
    const served = new Map<string, number>();
    let peakA = 0;
    for (let tick = 0; tick < 300; tick++) {
      for (let i = done.length - 1; i >= 0; i--) if (done[i]!.at <= tick) done.splice(i, 1)[0]!.t.inFlight--;
      for (let r = 0; r < 3; r++) {
        const t = bal.pick()!;
        t.inFlight++;
        served.set(t.id, (served.get(t.id) ?? 0) + 1);
        done.push({ at: tick + (t.id === 'a' ? 10 : 1), t });
      }
      peakA = Math.max(peakA, entries[0]!.item.inFlight);
    }
    served.set('peakA', peakA);
    return served;
  };
  const lc = run('least-connections');
  const rr = run('round-robin');
  assert.equal(rr.get('a'), 300, 'round-robin sends the slow target its full third');
  assert.ok(lc.get('a')! < 100, `least-connections sent the slow target ${lc.get('a')} of 900`);
  assert.ok(lc.get('peakA')! <= 2, `slow target peak in flight ${lc.get('peakA')}`);
  assert.ok(rr.get('peakA')! >= 10);
});

test('least connections weighs in-flight by weight; idle ties rotate; zero weight is never picked', () => {
  const entries = mk([200, 100, 0]);
  const [a, b] = entries.map((e) => e.item) as [T, T];
  a.inFlight = 3;
  b.inFlight = 2; // 3/200 < 2/100: a is less loaded for its weight
  const lc = createBalancer('least-connections', entries);
  assert.equal(lc.pick(), a);
  a.inFlight = 0;
  b.inFlight = 0;
  const ids = Array.from({ length: 4 }, () => lc.pick()!.id);
  assert.deepEqual(ids, ['b', 'a', 'b', 'a'], 'idle targets take turns instead of the first taking all');
  assert.equal(lc.size, 2);
  assert.equal(createBalancer('least-connections', mk([0])).pick(), undefined);
});
