// costOf: the call's price from the model's price table, cached prompt tokens at the cached price.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { costOf } from './candidates.js';

// $2.50 in, $10 out, $1.25 cached per million tokens (gpt-4o's list prices).
const GPT4O = { name: 'gpt-4o', input_cost_per_mtok: 2.5, output_cost_per_mtok: 10, cached_input_cost_per_mtok: 1.25 };

describe('costOf', () => {
  it('prices uncached prompt tokens at the input price and cached ones at the cached price', () => {
    // 1117 prompt tokens of which 1024 cached, 46 completion tokens (OpenAI's documented usage example):
    // (93 × 2.5 + 1024 × 1.25 + 46 × 10) / 1e6 = 0.0019725
    assert.equal(costOf(GPT4O, 1117, 46, 1024), 0.0019725);
    assert.equal(costOf(GPT4O, 1117, 46, 0), (1117 * 2.5 + 46 * 10) / 1e6);
    // Cached tokens omitted: none.
    assert.equal(costOf(GPT4O, 1117, 46), costOf(GPT4O, 1117, 46, 0));
  });

  it('prices cached tokens at the input price when the model has no cached price', () => {
    const { cached_input_cost_per_mtok: _, ...noCachedPrice } = GPT4O;
    assert.equal(costOf(noCachedPrice, 1117, 46, 1024), costOf(noCachedPrice, 1117, 46, 0));
    assert.equal(costOf(noCachedPrice, 1117, 46, 1024), 0.0032525);
  });

  it('a free cache: cached tokens cost nothing', () => {
    assert.equal(costOf({ ...GPT4O, cached_input_cost_per_mtok: 0 }, 1000, 0, 1000), 0);
    assert.equal(costOf({ ...GPT4O, cached_input_cost_per_mtok: 0 }, 1000, 0, 400), 0.0015);
  });

  it('never counts more cached tokens than prompt tokens, and unknown prices cost 0', () => {
    // A provider report with cached > prompt (not expected) must not give a negative uncached part.
    assert.equal(costOf(GPT4O, 100, 0, 500), costOf(GPT4O, 100, 0, 100));
    assert.equal(costOf(null, 1117, 46, 1024), 0);
  });

  it('rounds to a billionth of a dollar', () => {
    // 1 cached token at $0.3/M = 3e-7; 1 input token at $0.0000001/M rounds away.
    assert.equal(costOf({ name: 'm', input_cost_per_mtok: 1e-7, output_cost_per_mtok: 0, cached_input_cost_per_mtok: 0.3 }, 2, 0, 1), 3e-7);
  });
});
