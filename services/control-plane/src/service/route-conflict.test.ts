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

  it('an empty host or method list overlaps any list; hosts compare case-insensitively', () => {
    assert.ok(routesConflict(r({ hosts: [] }), r({ hosts: ['a.example'] })));
    assert.ok(routesConflict(r({ methods: ['GET', 'POST'] }), r({ methods: [] })));
    assert.ok(routesConflict(r({ hosts: ['A.example'], methods: ['GET'] }), r({ hosts: ['a.EXAMPLE', 'c'], methods: ['PUT', 'GET'] })));
  });
});
