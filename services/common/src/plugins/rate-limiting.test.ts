import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Value } from '@sinclair/typebox/value';
import { RateLimitingConfig, rateLimitingPlugin } from './rate-limiting.js';

const filled = (v: unknown) => Value.Default(RateLimitingConfig, structuredClone(v)) as RateLimitingConfig;

test('rate-limiting config: defaults (sliding window, headers, cluster sync) and the limit count bounds', () => {
  const d = filled({ limits: [{ key: 'consumer', requests: 10, per: 'minute' }] });
  assert.ok(Value.Check(RateLimitingConfig, d));
  assert.deepEqual(d, { limits: [{ key: 'consumer', algorithm: 'sliding-window', requests: 10, per: 'minute' }], headers: true, sync: 'cluster' });
  assert.deepEqual(rateLimitingPlugin.problems!(d), []);
  assert.equal(Value.Check(RateLimitingConfig, filled({ limits: [] })), false, 'at least one limit');
  const nine = Array.from({ length: 9 }, () => ({ key: 'ip', requests: 1, per: 'second' }));
  assert.equal(Value.Check(RateLimitingConfig, filled({ limits: nine })), false, 'at most 8');
  assert.equal(Value.Check(RateLimitingConfig, filled({ limits: [{ key: 'ip', requests: 0, per: 'second' }] })), false);
  assert.equal(Value.Check(RateLimitingConfig, filled({ limits: [{ key: 'ip', requests: 1, per: 'week' }] })), false);
  assert.equal(Value.Check(RateLimitingConfig, filled({ limits: [{ key: 'header', header_name: 'X-Tenant', requests: 1, per: 'second' }] })), false, 'header names are lower-case');
});

test('rate-limiting config: header_name goes with key header only, burst with the token bucket only', () => {
  const bad = filled({
    limits: [
      { key: 'header', requests: 1, per: 'second' },
      { key: 'ip', header_name: 'x-tenant', requests: 1, per: 'second' },
      { key: 'ip', algorithm: 'sliding-window', burst: 5, requests: 1, per: 'second' },
      { key: 'header', header_name: 'x-tenant', algorithm: 'token-bucket', burst: 5, requests: 1, per: 'second' },
    ],
  });
  assert.ok(Value.Check(RateLimitingConfig, bad));
  assert.deepEqual(
    rateLimitingPlugin.problems!(bad).map((p) => p.path),
    ['/limits/0/header_name', '/limits/1/header_name', '/limits/2/burst'],
  );
});
