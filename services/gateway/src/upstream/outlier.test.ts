import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OutlierDetector } from './outlier.js';
import { TargetHealth } from './target-health.js';

test('outlier: `failures` failures within window_ms eject for ejection_ms, then the target is back with a clean window', () => {
  const o = new OutlierDetector({ unhealthy: { failures: 3, window_ms: 10_000 }, ejection_ms: 30_000 });
  assert.equal(o.onFailure(0), false);
  assert.equal(o.onFailure(20_000), false, 'the first failure left the window');
  assert.equal(o.onFailure(21_000), false);
  assert.equal(o.onFailure(22_000), true);
  assert.equal(o.ejectedUntil, 52_000);
  assert.equal(o.ejections, 1);
  assert.equal(o.onFailure(23_000), false, 'already out');
  assert.equal(o.tick(40_000), false);
  assert.equal(o.tick(52_000), true);
  assert.equal(o.ejectedUntil, 0);
  assert.equal(o.onFailure(53_000), false, 'a fresh window after an ejection');
});

test('target health: ejection takes the target out until its timer ends it; active-check verdicts combine', async () => {
  let now = 5_000_000;
  const h = new TargetHealth({ unhealthy: { failures: 2, window_ms: 10_000 }, ejection_ms: 1_000 }, null, () => now);
  h.failure();
  h.failure();
  assert.equal(h.available, false);
  assert.equal(h.ejected, true);
  now += 1_000;
  await new Promise((r) => setTimeout(r, 1_100));
  assert.equal(h.available, true);
  h.setActive(false);
  assert.equal(h.available, false, 'active checks say down');
  h.setActive(true);
  assert.equal(h.available, true);
  h.close();
});
