import { test } from 'node:test';
import assert from 'node:assert/strict';
import { headSampled } from './head-sampler.js';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT = '00f067aa0ba902b7';

test('a valid incoming traceparent decides by its sampled flag, whatever the ratio', () => {
  for (const flags of ['01', '03', '0f', 'ff', '09']) assert.equal(headSampled(`00-${TRACE}-${PARENT}-${flags}`, 0.000001), true, flags);
  for (const flags of ['00', '02', '0e', 'fe']) assert.equal(headSampled(`00-${TRACE}-${PARENT}-${flags}`, 1), false, flags);
});

test('without a valid traceparent the ratio decides: 1 always, a fraction about that often', () => {
  assert.equal(headSampled('', 1), true);
  assert.equal(headSampled(`00-${'0'.repeat(32)}-${PARENT}-01`, 1), true, 'an invalid one (zero trace id) is ignored');
  assert.equal(headSampled(`00-${TRACE.toUpperCase()}-${PARENT}-01`, 0), false, 'upper-case hex is invalid');
  let n = 0;
  for (let i = 0; i < 20_000; i++) if (headSampled('', 0.1)) n++;
  assert.ok(n > 1_500 && n < 2_500, `about 10 %: ${n} of 20000`);
});
