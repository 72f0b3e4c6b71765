import { test } from 'node:test';
import assert from 'node:assert/strict';
import { configBucketName, entityKey, parseEntityKey } from './config-model.js';

test('entity keys round-trip and reject unknown kinds and empty ids', () => {
  const id = '0b6f1c2e-4a1d-4a57-9d6e-2b1b9f1e7c11';
  assert.deepEqual(parseEntityKey(entityKey('routes', id)), { kind: 'routes', id });
  assert.equal(parseEntityKey('meta.revision'), null);
  assert.equal(parseEntityKey('routes.'), null);
  assert.equal(parseEntityKey('nodots'), null);
  assert.equal(parseEntityKey('.x'), null);
  assert.equal(configBucketName('eu-1'), 'turnpike_config_eu-1');
});
