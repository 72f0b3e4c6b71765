import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { routePathMatches, serviceMatches } from './try-it.js';

describe('try-it route matching (what the relay may send)', () => {
  it('matches by prefix on segment boundaries, params one segment, catch-all the rest', () => {
    assert.equal(routePathMatches('/orders/{id}', '/orders/7'), true);
    assert.equal(routePathMatches('/orders/{id}', '/orders/7/items'), true);
    assert.equal(routePathMatches('/orders/{id}', '/orders'), false);
    assert.equal(routePathMatches('/orders/{id}', '/orderz/7'), false);
    assert.equal(routePathMatches('/orders', '/orders-admin'), false, 'not a prefix of a segment');
    assert.equal(routePathMatches('/files/{rest*}', '/files'), true);
    assert.equal(routePathMatches('/files/{rest*}', '/files/a/b'), true);
    assert.equal(routePathMatches('/', '/anything'), true);
  });

  it('regex paths are anchored at the start; a broken one matches nothing', () => {
    assert.equal(routePathMatches('~/v[0-9]+/users', '/v2/users/1'), true);
    assert.equal(routePathMatches('~/v[0-9]+/users', '/x/v2/users'), false);
    assert.equal(routePathMatches('~/(', '/('), false);
  });

  it('methods: an empty list allows any', () => {
    const entry = { routes: [{ id: 'r', paths: ['/a'], methods: ['GET'], hosts: [] }, { id: 's', paths: ['/b'], methods: [], hosts: [] }] };
    assert.equal(serviceMatches(entry, 'GET', '/a'), true);
    assert.equal(serviceMatches(entry, 'POST', '/a'), false);
    assert.equal(serviceMatches(entry, 'DELETE', '/b/1'), true);
    assert.equal(serviceMatches(entry, 'GET', '/c'), false);
  });
});
