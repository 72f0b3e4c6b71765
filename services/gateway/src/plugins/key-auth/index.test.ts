import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KEY_AUTH_MESSAGES, authenticate, compileKeyAuth, sha256Hex, withoutQueryParams, type KeyOwner, type KeyTable } from './index.js';

const key = 'tp_example-key-0123456789';
const owner: KeyOwner = { consumerId: 'c1', username: 'alice', groupIds: [] };
const keys = new Map([[sha256Hex(key), owner]]);
const headers = (h: Record<string, string>) => (name: string) => h[name] ?? '';

test('key-auth defaults: apikey then x-api-key, credentials hidden', () => {
  const p = compileKeyAuth({});
  assert.deepEqual(p.headerNames, ['apikey', 'x-api-key']);
  assert.equal(p.hideCredentials, true);
  assert.deepEqual(p.queryNames, []);
  assert.deepEqual(compileKeyAuth({ header_names: ['X-Key'], query_names: ['api_key'], hide_credentials: false }), { headerNames: ['x-key'], queryNames: ['api_key'], hideCredentials: false });
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

test('key-auth from a query parameter: read only when configured and no header has a key; percent-decoded', () => {
  const p = compileKeyAuth({ query_names: ['api_key', 'apikey'] });
  const none = headers({});
  assert.equal(authenticate(p, keys, none, `x=1&api_key=${key}&y=2`).ok, true);
  assert.equal(authenticate(p, keys, none, `apikey=${key}`).ok, true, 'the second name');
  assert.equal(authenticate(p, keys, none, `api_key=&apikey=${key}`).ok, true, 'an empty value is no key');
  assert.equal(authenticate(p, keys, none, `api_key=${encodeURIComponent(key).replace('_', '%5F')}`).ok, true, 'percent-encoded');
  assert.deepEqual(authenticate(p, keys, none, `xapi_key=${key}`), { ok: false, code: 'TP_ERR_AUTH_KEY_MISSING' }, 'not a prefix match');
  assert.deepEqual(authenticate(p, keys, none, `API_KEY=${key}`), { ok: false, code: 'TP_ERR_AUTH_KEY_MISSING' }, 'names are case-sensitive');
  assert.deepEqual(authenticate(p, keys, none, 'api_key=%E0%A4%A'), { ok: false, code: 'TP_ERR_AUTH_KEY_INVALID' }, 'bad encoding: not found');
  // A header wins over the query.
  assert.deepEqual(authenticate(p, keys, headers({ apikey: 'other-key-0123456789' }), `api_key=${key}`), { ok: false, code: 'TP_ERR_AUTH_KEY_INVALID' });
  // Without query_names the query is not read.
  assert.deepEqual(authenticate(compileKeyAuth({}), keys, none, `apikey=${key}`), { ok: false, code: 'TP_ERR_AUTH_KEY_MISSING' });
});

test('withoutQueryParams removes every occurrence of the names, valued or not, and nothing else', () => {
  assert.equal(withoutQueryParams('a=1&api_key=s&b=2&api_key=t', ['api_key']), 'a=1&b=2');
  assert.equal(withoutQueryParams('api_key=s', ['api_key']), '');
  assert.equal(withoutQueryParams('api_key&apikey=x&api_keys=1', ['api_key', 'apikey']), 'api_keys=1');
  assert.equal(withoutQueryParams('a=1', []), 'a=1');
  assert.equal(withoutQueryParams('', ['api_key']), '');
});

test('key-auth refuses a key at and after its expiry; keys without one, or other keys, are unaffected', () => {
  const other = 'tp_other-key-0123456789';
  const table: KeyTable = Object.assign(new Map([[sha256Hex(key), owner], [sha256Hex(other), owner]]), { expiresAt: new Map([[sha256Hex(key), 1_000]]) });
  const p = compileKeyAuth({});
  assert.equal(authenticate(p, table, headers({ apikey: key }), '', 999).ok, true);
  assert.deepEqual(authenticate(p, table, headers({ apikey: key }), '', 1_000), { ok: false, code: 'TP_ERR_AUTH_KEY_EXPIRED' });
  assert.equal(authenticate(p, table, headers({ apikey: other }), '', 5_000).ok, true, 'the rotated-in key keeps working');
  assert.deepEqual(authenticate(p, table, headers({ apikey: key })), { ok: false, code: 'TP_ERR_AUTH_KEY_EXPIRED' }, 'the clock by default');
  assert.equal(KEY_AUTH_MESSAGES.TP_ERR_AUTH_KEY_EXPIRED, 'the API key has expired');
});
