import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bodyLimitFor, compileSizeLimit } from './index.js';

test('request-size-limiting: the plugin limit applies, capped by the node limit', () => {
  const p = compileSizeLimit({ max_body_bytes: 100 });
  assert.equal(bodyLimitFor(p, '', 1000), 100);
  assert.equal(bodyLimitFor(p, 'c1', 50), 50, 'a plugin cannot raise the node limit');
});

test('request-size-limiting: a consumer-specific limit overrides the route limit for that consumer only', () => {
  const p = { maxBodyBytes: 100, byConsumer: new Map([['c1', 500]]) };
  assert.equal(bodyLimitFor(p, 'c1', 1000), 500);
  assert.equal(bodyLimitFor(p, 'c2', 1000), 100);
  assert.equal(bodyLimitFor(p, '', 1000), 100);
  const onlyConsumer = { maxBodyBytes: Infinity, byConsumer: new Map([['c1', 10]]) };
  assert.equal(bodyLimitFor(onlyConsumer, 'c2', 1000), 1000);
  assert.equal(bodyLimitFor(onlyConsumer, 'c1', 1000), 10);
});
