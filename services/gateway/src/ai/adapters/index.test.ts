import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AI_PROVIDER_TYPES } from '@turnpike/common';
import { adapterFor } from './index.js';

test('every provider type but bedrock has the adapter that lists it', () => {
  for (const type of AI_PROVIDER_TYPES) {
    const adapter = adapterFor(type);
    if (type === 'bedrock') assert.equal(adapter, null);
    else assert.ok(adapter?.types.includes(type), type);
  }
});
