import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { PLUGIN_TYPES } from '@turnpike/common';
import { compilePluginIndex, PLUGIN_COMPILERS, routePolicies } from './chain.js';

const R = 'route-1';
const S = 'service-1';
let n = 0;
const plugin = (type: string, scope: Record<string, string>, config: Record<string, unknown> = {}, enabled = true) => ({
  key: `plugins.p${n++}`,
  data: { id: `p${n}`, type, enabled, scope, config },
});
const size = (bytes: number, scope: Record<string, string> = {}, enabled = true) => plugin('request-size-limiting', scope, { max_body_bytes: bytes }, enabled);
const keyAuth = (header: string, scope: Record<string, string> = {}, enabled = true) => plugin('key-auth', scope, { header_names: [header] }, enabled);
const policies = (entries: ReturnType<typeof plugin>[], inline = {}, route = R, service = S) => routePolicies(compilePluginIndex(entries).index, route, service, inline);

describe('plugin chain', () => {
  test('every registered plugin type has a gateway implementation, and every implementation is registered', () => {
    for (const t of PLUGIN_TYPES) assert.ok(t.name in PLUGIN_COMPILERS, `plugin type ${t.name} is registered but the gateway does not implement it`);
    assert.deepEqual(Object.keys(PLUGIN_COMPILERS).sort(), PLUGIN_TYPES.map((t) => t.name).sort());
  });

  test('no plugins: no policies', () => {
    assert.deepEqual(policies([]), { keyAuth: null, sizeLimit: null, pipeline: null });
  });

  test('route-level precedence: route > service > global', () => {
    const all = [keyAuth('x-global'), keyAuth('x-service', { service_id: S }), keyAuth('x-route', { route_id: R })];
    assert.deepEqual(policies(all).keyAuth?.headerNames, ['x-route']);
    assert.deepEqual(policies(all.slice(0, 2)).keyAuth?.headerNames, ['x-service']);
    assert.deepEqual(policies(all.slice(0, 1)).keyAuth?.headerNames, ['x-global']);
    assert.deepEqual(policies(all, {}, 'other-route', 'other-service').keyAuth?.headerNames, ['x-global'], 'other routes get the global one');
    const sizes = [size(300), size(200, { service_id: S }), size(100, { route_id: R })];
    assert.equal(policies(sizes).sizeLimit?.maxBodyBytes, 100);
    assert.equal(policies(sizes.slice(0, 2)).sizeLimit?.maxBodyBytes, 200);
    assert.equal(policies(sizes, {}, 'r2', 's2').sizeLimit?.maxBodyBytes, 300);
  });

  test("a route's inline key-auth counts as route-scoped: it beats service and global plugins, a route-scoped plugin beats it", () => {
    const inline = { 'key-auth': { header_names: ['x-inline'] } };
    const base = [keyAuth('x-global'), keyAuth('x-service', { service_id: S })];
    assert.deepEqual(policies(base, inline).keyAuth?.headerNames, ['x-inline']);
    assert.deepEqual(policies([...base, keyAuth('x-route', { route_id: R })], inline).keyAuth?.headerNames, ['x-route']);
    assert.deepEqual(policies([], inline).keyAuth, { headerNames: ['x-inline'], queryNames: [], hideCredentials: true });
  });

  test('disabled plugins are ignored, as if absent', () => {
    assert.deepEqual(policies([keyAuth('x-off', {}, false), size(1, {}, false)]), { keyAuth: null, sizeLimit: null, pipeline: null });
    const p = policies([keyAuth('x-global'), keyAuth('x-route', { route_id: R }, false), size(9, { service_id: S }), size(1, { route_id: R }, false)]);
    assert.deepEqual(p.keyAuth?.headerNames, ['x-global']);
    assert.equal(p.sizeLimit?.maxBodyBytes, 9);
  });

  test('consumer-scoped instances override after authentication: consumer + route > consumer + service > consumer > any unscoped one', () => {
    const entries = [
      size(100, { route_id: R }),
      size(1000, { consumer_id: 'c-any' }),
      size(1001, { consumer_id: 'c-svc' }),
      size(2000, { consumer_id: 'c-svc', service_id: S }),
      size(1002, { consumer_id: 'c-route' }),
      size(2001, { consumer_id: 'c-route', service_id: S }),
      size(3000, { consumer_id: 'c-route', route_id: R }),
    ];
    const p = policies(entries).sizeLimit!;
    assert.equal(p.maxBodyBytes, 100);
    assert.deepEqual(Object.fromEntries(p.byConsumer ?? []), { 'c-any': 1000, 'c-svc': 2000, 'c-route': 3000 });
    const elsewhere = policies(entries, {}, 'r2', 's2').sizeLimit!;
    assert.equal(elsewhere.maxBodyBytes, Infinity, 'only consumer-scoped instances apply there');
    assert.deepEqual(Object.fromEntries(elsewhere.byConsumer ?? []), { 'c-any': 1000, 'c-svc': 1001, 'c-route': 1002 });
  });

  test("routes share one consumer map when nothing is route- or service-specific", () => {
    const { index } = compilePluginIndex([size(5, { consumer_id: 'c1' })]);
    const a = routePolicies(index, 'r1', 's1', {}).sizeLimit!;
    const b = routePolicies(index, 'r2', 's2', {}).sizeLimit!;
    assert.equal(a.byConsumer, b.byConsumer);
  });

  test('invalid or unknown plugin instances are reported and not applied; defaults are filled', () => {
    const bad = [plugin('no-such-type', {}), size(-1), plugin('key-auth', { service_id: S, route_id: R })];
    const { index, rejections } = compilePluginIndex(bad);
    assert.deepEqual(rejections.map((r) => r.key), bad.map((b) => b.key));
    assert.match(rejections[0]!.reason, /not known/);
    assert.equal(rejections[1]!.fields?.[0]?.path, '/config/max_body_bytes');
    assert.deepEqual(routePolicies(index, R, S, {}), { keyAuth: null, sizeLimit: null, pipeline: null });
    const ok = compilePluginIndex([plugin('request-size-limiting', {}, {})]);
    assert.equal(routePolicies(ok.index, R, S, {}).sizeLimit?.maxBodyBytes, 1024 * 1024);
  });
});
