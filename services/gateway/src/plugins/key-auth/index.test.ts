import { test } from 'node:test';
import assert from 'node:assert/strict';
import { authenticate, compileKeyAuth, sha256Hex, type KeyOwner } from './index.js';

const key = 'tp_example-key-0123456789';
const owner: KeyOwner = { consumerId: 'c1', username: 'alice' };
const keys = new Map([[sha256Hex(key), owner]]);
const headers = (h: Record<string, string>) => (name: string) => h[name] ?? '';

test('key-auth defaults: apikey then x-api-key, credentials hidden', () => {
  const p = compileKeyAuth({});
  assert.deepEqual(p.headerNames, ['apikey', 'x-api-key']);
  assert.equal(p.hideCredentials, true);
  assert.deepEqual(compileKeyAuth({ header_names: ['X-Key'], hide_credentials: false }), { headerNames: ['x-key'], hideCredentials: false });
});

test('key-auth accepts a known key from any configured header', () => {
  const p = compileKeyAuth({});
  const r1 = authenticate(p, keys, headers({ apikey: key }));
  assert.equal(r1.ok && r1.owner.username, 'alice');
  const r2 = authenticate(p, keys, headers({ 'x-api-key': key }));
  assert.equal(r2.ok && r2.owner.consumerId, 'c1');
});

test('key-auth: no key → missing; unknown key → invalid; key in an unconfigured header → missing', () => {
  const p = compileKeyAuth({ header_names: ['x-key'] });
  assert.deepEqual(authenticate(p, keys, headers({})), { ok: false, code: 'TP_ERR_AUTH_KEY_MISSING' });
  assert.deepEqual(authenticate(p, keys, headers({ 'x-key': key + 'x' })), { ok: false, code: 'TP_ERR_AUTH_KEY_INVALID' });
  assert.deepEqual(authenticate(p, keys, headers({ apikey: key })), { ok: false, code: 'TP_ERR_AUTH_KEY_MISSING' });
});
