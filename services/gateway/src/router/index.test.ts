import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Router, type RouteSpec } from './index.js';

function spec(id: string, paths: string[], more: Partial<RouteSpec<string>> = {}): RouteSpec<string> {
  return { id, hosts: [], methods: [], paths, priority: 0, value: id, ...more };
}

describe('Router', { timeout: 10_000 }, () => {
  test('literal path matches itself and deeper paths on segment boundaries only', () => {
    const r = new Router([spec('users', ['/users'])]);
    assert.equal(r.match('GET', '', '/users')?.routeId, 'users');
    assert.equal(r.match('GET', '', '/users/')?.routeId, 'users');
    assert.equal(r.match('GET', '', '/users/7/x')?.routeId, 'users');
    assert.equal(r.match('GET', '', '/usersX'), null);
    assert.equal(r.match('GET', '', '/'), null);
  });

  test('params capture one segment and prefix length covers the matched part', () => {
    const r = new Router([spec('u', ['/users/{id}'])]);
    const m = r.match('GET', '', '/users/7/posts');
    assert.equal(m?.routeId, 'u');
    assert.deepEqual(m?.params, { id: '7' });
    assert.equal(m?.prefixLength, '/users/7'.length);
    assert.equal(r.match('GET', '', '/users'), null, 'a param needs a segment');
    assert.equal(r.match('GET', '', '/usersX/7'), null);
  });

  test('more literal segments beat params, then longer paths win', () => {
    const r = new Router([spec('param', ['/users/{id}']), spec('me', ['/users/me']), spec('root', ['/']), spec('users', ['/users'])]);
    assert.equal(r.match('GET', '', '/users/me')?.routeId, 'me');
    assert.equal(r.match('GET', '', '/users/me/x')?.routeId, 'me');
    assert.equal(r.match('GET', '', '/users/7')?.routeId, 'param');
    assert.equal(r.match('GET', '', '/users')?.routeId, 'users');
    assert.equal(r.match('GET', '', '/other')?.routeId, 'root');
    assert.equal(r.match('GET', '', '/')?.routeId, 'root');
  });

  test('backtracks from a literal branch that dead-ends into a param branch', () => {
    const r = new Router([spec('a', ['/a/b/c']), spec('b', ['/a/{x}/d'])]);
    assert.equal(r.match('GET', '', '/a/b/d')?.routeId, 'b');
    assert.deepEqual(r.match('GET', '', '/a/b/d')?.params, { x: 'b' });
    assert.equal(r.match('GET', '', '/a/b/c')?.routeId, 'a');
  });

  test('priority breaks ties between equally specific routes', () => {
    const r = new Router([spec('low', ['/x'], { priority: 1 }), spec('high', ['/x'], { priority: 5 })]);
    assert.equal(r.match('GET', '', '/x')?.routeId, 'high');
    const r2 = new Router([spec('first', ['/x']), spec('second', ['/x'])]);
    assert.equal(r2.match('GET', '', '/x')?.routeId, 'first', 'equal routes resolve deterministically');
  });

  test('specificity beats priority', () => {
    const r = new Router([spec('generic', ['/x'], { priority: 1000 }), spec('specific', ['/x/y'])]);
    assert.equal(r.match('GET', '', '/x/y')?.routeId, 'specific');
  });

  test('methods filter; a method-specific route wins a tie with an any-method one', () => {
    const r = new Router([spec('any', ['/m']), spec('post', ['/m'], { methods: ['POST'] }), spec('get-only', ['/g'], { methods: ['GET'] })]);
    assert.equal(r.match('POST', '', '/m')?.routeId, 'post');
    assert.equal(r.match('GET', '', '/m')?.routeId, 'any');
    assert.equal(r.match('GET', '', '/g')?.routeId, 'get-only');
    assert.equal(r.match('DELETE', '', '/g'), null);
  });

  test('hosts: exact, case-insensitive, take precedence over host-less routes', () => {
    const r = new Router([spec('any', ['/']), spec('api', ['/'], { hosts: ['api.example.com'] })]);
    assert.equal(r.match('GET', 'api.example.com', '/x')?.routeId, 'api');
    assert.equal(r.match('GET', 'API.Example.com', '/x')?.routeId, 'api');
    assert.equal(r.match('GET', 'other.example.com', '/x')?.routeId, 'any');
    assert.equal(r.match('GET', '', '/x')?.routeId, 'any');
    const onlyHost = new Router([spec('api', ['/'], { hosts: ['a.test'] })]);
    assert.equal(onlyHost.match('GET', 'b.test', '/'), null);
  });

  test('a host-specific route that does not match the path falls back to host-less routes', () => {
    const r = new Router([spec('any', ['/pub']), spec('api', ['/v1'], { hosts: ['a.test'] })]);
    assert.equal(r.match('GET', 'a.test', '/pub')?.routeId, 'any');
  });

  test('several paths per route and several params', () => {
    const r = new Router([spec('multi', ['/a/{x}', '/b/{y}/{z}'])]);
    assert.deepEqual(r.match('GET', '', '/b/1/2/3')?.params, { y: '1', z: '2' });
    assert.equal(r.match('GET', '', '/b/1/2/3')?.prefixLength, 6);
    assert.deepEqual(r.match('GET', '', '/a/q')?.params, { x: 'q' });
  });

  test('double slashes and trailing slashes are treated as segment boundaries', () => {
    const r = new Router([spec('ab', ['/a/b'])]);
    assert.equal(r.match('GET', '', '//a//b/')?.routeId, 'ab');
  });

  test('lookup does not depend on the number of unrelated routes', () => {
    const specs = Array.from({ length: 5000 }, (_, i) => spec(`r${i}`, [`/svc${i}/{id}`]));
    const r = new Router(specs);
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < 100_000; i++) r.match('GET', '', '/svc4999/42');
    const ns = Number(process.hrtime.bigint() - t0) / 100_000;
    assert.equal(r.match('GET', '', '/svc4999/42')?.routeId, 'r4999');
    assert.ok(ns < 5_000, `lookup took ${ns} ns`);
  });
});
