import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { normalizePath, routesConflict, type RouteMatchSpec } from './route-conflict.js';

const r = (o: Partial<RouteMatchSpec>): RouteMatchSpec => ({ hosts: [], paths: ['/a'], methods: [], priority: 0, ...o });

describe('route conflict normalization', { timeout: 5_000 }, () => {
  it('erases parameter names, drops trailing slashes, upper-cases escapes', () => {
    assert.equal(normalizePath('/users/{id}/'), '/users/{}');
    assert.equal(normalizePath('/users/{uid}'), '/users/{}');
    assert.equal(normalizePath('/'), '/');
    assert.equal(normalizePath('/a%2fb'), '/a%2Fb');
    assert.notEqual(normalizePath('/Users'), normalizePath('/users'));
  });

  it('routes with the same path, any host and any method conflict', () => {
    assert.ok(routesConflict(r({}), r({})));
    assert.ok(routesConflict(r({ paths: ['/u/{id}'] }), r({ paths: ['/x', '/u/{name}/'] })));
  });

  it('disjoint hosts, methods, paths or different priority do not conflict', () => {
    assert.ok(!routesConflict(r({ hosts: ['a.example'] }), r({ hosts: ['b.example'] })));
    assert.ok(!routesConflict(r({ methods: ['GET'] }), r({ methods: ['POST'] })));
    assert.ok(!routesConflict(r({ paths: ['/a'] }), r({ paths: ['/b'] })));
    assert.ok(!routesConflict(r({ priority: 1 }), r({ priority: 0 })));
  });

  it('an empty method list overlaps any list; hosts compare case-insensitively', () => {
    assert.ok(routesConflict(r({ methods: ['GET', 'POST'] }), r({ methods: [] })));
    assert.ok(routesConflict(r({ hosts: ['A.example'], methods: ['GET'] }), r({ hosts: ['a.EXAMPLE', 'c'], methods: ['PUT', 'GET'] })));
  });

  it('routes the router tells apart do not conflict: host vs no host, exact vs wildcard host', () => {
    assert.ok(!routesConflict(r({ hosts: [] }), r({ hosts: ['a.example'] })), 'a host route beats a host-less one');
    assert.ok(!routesConflict(r({ hosts: ['a.example'] }), r({ hosts: ['*.example'] })));
    assert.ok(routesConflict(r({ hosts: ['*.Example'] }), r({ hosts: ['*.example', 'b'] })));
    assert.ok(routesConflict(r({ hosts: ['api.*'] }), r({ hosts: ['API.*'] })));
  });

  it('different stages, or different header/query matchers, do not conflict; equal matcher sets do', () => {
    assert.ok(!routesConflict(r({ stage: 'prod' }), r({ stage: 'staging' })));
    assert.ok(!routesConflict(r({ stage: 'prod' }), r({ stage: null })));
    assert.ok(routesConflict(r({ stage: 'prod' }), r({ stage: 'prod' })));
    const h1 = { name: 'x-a', match: 'exact' as const, value: '1' };
    const h2 = { name: 'x-b', match: 'present' as const };
    assert.ok(!routesConflict(r({ headers: [h1] }), r({})));
    assert.ok(!routesConflict(r({ headers: [h1] }), r({ query: [h1] })));
    assert.ok(!routesConflict(r({ headers: [h1] }), r({ headers: [{ ...h1, value: '2' }] })));
    assert.ok(routesConflict(r({ headers: [h1, h2] }), r({ headers: [{ ...h2, ignore_case: false }, h1] })), 'order and defaulted ignore_case do not matter');
    assert.ok(routesConflict(r({ headers: [{ ...h1, value: 'A', ignore_case: true }] }), r({ headers: [{ ...h1, value: 'a', ignore_case: true }] })));
  });

  it('catch-all names are erased; regex paths compare as written', () => {
    assert.equal(normalizePath('/f/{rest*}'), '/f/{*}');
    assert.ok(routesConflict(r({ paths: ['/f/{a*}'] }), r({ paths: ['/f/{b*}'] })));
    assert.ok(!routesConflict(r({ paths: ['/f/{a*}'] }), r({ paths: ['/f'] })));
    assert.ok(routesConflict(r({ paths: ['~/v[0-9]+'] }), r({ paths: ['~/v[0-9]+'] })));
    assert.ok(!routesConflict(r({ paths: ['~/v[0-9]+'] }), r({ paths: ['~/v\\d+'] })));
  });
});
