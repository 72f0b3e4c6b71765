import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createBalancer } from './balancer.js';
import { ConsistentHashRing, hash32 } from './hash-ring.js';

interface T {
  id: string;
  inFlight: number;
}
const targets = (n: number, weight = 100): Array<{ item: T; weight: number; id: string }> =>
  Array.from({ length: n }, (_, i) => {
    const id = `http://10.0.0.${i + 1}:80`;
    return { item: { id, inFlight: 0 }, weight, id };
  });
const KEYS = Array.from({ length: 20_000 }, (_, i) => `user-${i}`);

test('consistent hash: the same key always lands on the same target', () => {
  const b = createBalancer('consistent-hash', targets(4));
  for (const k of KEYS.slice(0, 500)) {
    const first = b.pick(k);
    for (let i = 0; i < 5; i++) assert.equal(b.pick(k), first);
  }
  // A ring built again from the same targets (a recompile), in another order, agrees.
  const again = createBalancer('consistent-hash', targets(4).reverse());
  for (const k of KEYS.slice(0, 500)) assert.equal(again.pick(k)?.id, b.pick(k)?.id);
});

test('consistent hash: keys spread over the targets in proportion to weight (measured)', () => {
  const equal = createBalancer('consistent-hash', targets(4));
  const counts = new Map<string, number>();
  for (const k of KEYS) counts.set(equal.pick(k)!.id, (counts.get(equal.pick(k)!.id) ?? 0) + 1);
  const shares = [...counts.values()].map((c) => c / KEYS.length);
  assert.equal(shares.length, 4);
  for (const s of shares) assert.ok(s > 0.17 && s < 0.33, `share ${s.toFixed(3)} of an ideal 0.25`);

  const weighted = targets(2);
  weighted[0]!.weight = 300;
  const w = createBalancer('consistent-hash', weighted);
  let heavy = 0;
  for (const k of KEYS) if (w.pick(k)!.id === weighted[0]!.id) heavy++;
  const share = heavy / KEYS.length;
  assert.ok(share > 0.65 && share < 0.85, `weight 3:1 gave ${share.toFixed(3)} of an ideal 0.75`);
});

test('consistent hash: adding a fifth target remaps about 1/5 of the keys, all of them to the new target', () => {
  const before = createBalancer('consistent-hash', targets(4));
  const after = createBalancer('consistent-hash', targets(5));
  let moved = 0;
  for (const k of KEYS) {
    const a = before.pick(k)!.id;
    const b = after.pick(k)!.id;
    if (a !== b) {
      moved++;
      assert.equal(b, 'http://10.0.0.5:80', 'a key only ever moves to the new target');
    }
  }
  const fraction = moved / KEYS.length;
  // Ideal 0.2; a modulo hash would move ~0.8.
  assert.ok(fraction > 0.12 && fraction < 0.28, `remapped ${fraction.toFixed(3)}`);
});

test('consistent hash: a request without a key is balanced round-robin; zero-weight targets are never picked', () => {
  const ts = targets(3);
  ts[2]!.weight = 0;
  const b = createBalancer('consistent-hash', ts);
  assert.equal(b.size, 2);
  const seen = new Set(Array.from({ length: 4 }, () => b.pick()!.id));
  assert.deepEqual([...seen].sort(), ['http://10.0.0.1:80', 'http://10.0.0.2:80']);
  for (const k of KEYS.slice(0, 2_000)) assert.notEqual(b.pick(k)!.id, 'http://10.0.0.3:80');
  assert.equal(new ConsistentHashRing<T>([], b).pick('k'), undefined);
});

test('hash32 is stable and spreads similar keys', () => {
  assert.equal(hash32('abc'), hash32('abc'));
  assert.notEqual(hash32('user-1'), hash32('user-2'));
  let high = 0;
  for (let i = 0; i < 10_000; i++) if (hash32(`k${i}`) >= 0x80000000) high++;
  assert.ok(high > 4_700 && high < 5_300, `top bit set in ${high} of 10000`);
});
