import { test } from 'node:test';
import assert from 'node:assert/strict';
import { normalizeQuery, primaryKey, variantKey, type KeyRule, type KeySource } from './key.js';

function req(o: Partial<Omit<KeySource, 'header'>> & { headers?: Record<string, string> } = {}): KeySource {
  const headers = o.headers ?? {};
  return {
    routeId: o.routeId ?? 'r1',
    method: o.method ?? 'GET',
    host: o.host ?? 'api.example.com',
    path: o.path ?? '/items',
    query: o.query ?? '',
    consumerId: o.consumerId ?? '',
    header: (n) => headers[n] ?? '',
  };
}
const rule = (o: Partial<KeyRule> = {}): KeyRule => ({ headers: [], query: 'all', queryParams: new Set(), perConsumer: false, ...o });

test('HEAD shares GET\'s key; the host is case-insensitive; path and route are part of it', () => {
  const r = rule();
  assert.equal(primaryKey(r, req({ method: 'HEAD' })), primaryKey(r, req()));
  assert.equal(primaryKey(r, req({ host: 'API.Example.com' })), primaryKey(r, req()));
  assert.notEqual(primaryKey(r, req({ method: 'POST' })), primaryKey(r, req()));
  assert.notEqual(primaryKey(r, req({ path: '/items/1' })), primaryKey(r, req()));
  assert.notEqual(primaryKey(r, req({ routeId: 'r2' })), primaryKey(r, req()));
});

test('vary_query all sorts the parameters; listed keeps only the listed ones; none ignores the query', () => {
  assert.equal(normalizeQuery('b=2&a=1&&c', null), 'a=1&b=2&c');
  assert.equal(normalizeQuery('b=2&a=1&page=3', new Set(['page', 'a'])), 'a=1&page=3');
  assert.equal(primaryKey(rule(), req({ query: 'b=2&a=1' })), primaryKey(rule(), req({ query: 'a=1&b=2' })));
  assert.notEqual(primaryKey(rule(), req({ query: 'a=1' })), primaryKey(rule(), req({ query: 'a=2' })));
  const listed = rule({ query: 'listed', queryParams: new Set(['page']) });
  assert.equal(primaryKey(listed, req({ query: 'page=1&utm=x' })), primaryKey(listed, req({ query: 'utm=y&page=1' })));
  assert.notEqual(primaryKey(listed, req({ query: 'page=1' })), primaryKey(listed, req({ query: 'page=2' })));
  assert.equal(primaryKey(rule({ query: 'none' }), req({ query: 'page=1' })), primaryKey(rule({ query: 'none' }), req()));
});

test('configured headers and the consumer (per_consumer) separate keys; without per_consumer consumers share', () => {
  const byLang = rule({ headers: ['accept-language'] });
  assert.notEqual(primaryKey(byLang, req({ headers: { 'accept-language': 'en' } })), primaryKey(byLang, req({ headers: { 'accept-language': 'fr' } })));
  assert.equal(primaryKey(rule(), req({ consumerId: 'a' })), primaryKey(rule(), req({ consumerId: 'b' })));
  const per = rule({ perConsumer: true });
  assert.notEqual(primaryKey(per, req({ consumerId: 'a' })), primaryKey(per, req({ consumerId: 'b' })));
});

test('variantKey adds the values of the request headers a response varies on', () => {
  const p = primaryKey(rule(), req());
  assert.equal(variantKey(p, [], req()), p);
  const en = variantKey(p, ['accept-encoding'], req({ headers: { 'accept-encoding': 'gzip' } }));
  const none = variantKey(p, ['accept-encoding'], req());
  assert.notEqual(en, none);
  assert.notEqual(en, p);
});
