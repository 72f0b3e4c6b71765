import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { CurrentState } from './current-state.js';
import { toDeclarative } from './current-state.js';
import { parseConfigFile, type DeclarativeConfig } from './file-format.js';
import { plan, sameValue, type Operation } from './plan.js';
import { emptyResources, type ResourceConfig } from './resource-kinds.js';

const desired = (): DeclarativeConfig =>
  parseConfigFile(`
_format_version: "1"
upstreams:
  - { name: a, targets: [{ host: h1, port: 80 }] }
  - { name: b, targets: [{ host: h2, port: 80 }] }
services:
  - { name: sa, upstream: a }
  - { name: sb, upstream: b, base_path: /v1 }
routes:
  - { name: ra, service: sa, paths: [/a] }
  - { name: rb, service: sb, paths: [/b], plugins: { key-auth: {} } }
consumers:
  - { username: acme, custom_id: c-1, keys: [{ name: k1 }, { name: k2, key: "0123456789abcdefXYZ" }] }
`).config;

const empty = (): CurrentState => ({ upstreams: [], services: [], routes: [], consumers: [], resources: emptyResources() as CurrentState["resources"] });

/** The state the API would report after applying `d` (ids made up). */
function applied(d: DeclarativeConfig): CurrentState {
  let n = 0;
  const id = (): string => `00000000-0000-4000-8000-${String(++n).padStart(12, '0')}`;
  return {
    upstreams: d.upstreams.map((u) => ({ ...structuredClone(u), id: id() })),
    services: d.services.map((s) => ({ ...structuredClone(s), id: id() })),
    routes: d.routes.map((r) => ({ ...structuredClone(r), id: id() })),
    consumers: d.consumers.map((c) => {
      const { keys, ...rest } = structuredClone(c);
      return { ...rest, id: id(), keys: keys.map((k) => ({ id: id(), name: k.name, expires_at: k.expires_at })) };
    }),
    resources: Object.fromEntries(
      Object.entries(emptyResources()).map(([list]) => [list, d[list as keyof ResourceConfig].map((e) => ({ ...structuredClone(e), id: id() }))]),
    ) as CurrentState['resources'],
  };
}

const brief = (ops: Operation[]): string[] => ops.map((o) => `${o.action} ${o.kind} ${o.kind === 'key' ? `${o.consumer}/` : ''}${o.name}`);

test('an empty control plane gets creates in dependency order: upstreams, services, routes, consumers, keys', { timeout: 5_000 }, () => {
  const p = plan(empty(), desired(), { prune: true });
  assert.deepEqual(brief(p.operations), [
    'create upstream a',
    'create upstream b',
    'create service sa',
    'create service sb',
    'create route ra',
    'create route rb',
    'create consumer acme',
    'create key acme/k1',
    'create key acme/k2',
  ]);
  const k2 = p.operations.find((o) => o.kind === 'key' && o.name === 'k2');
  assert.equal(k2?.action === 'create' && k2.kind === 'key' ? k2.key : undefined, '0123456789abcdefXYZ');
  assert.deepEqual(p.unmanaged, []);
});

test('a state equal to the file plans nothing, with or without prune (defaults normalized)', { timeout: 5_000 }, () => {
  const d = desired();
  assert.deepEqual(plan(applied(d), d, { prune: true }).operations, []);
  assert.deepEqual(plan(applied(d), d, { prune: false }).operations, []);
});

test('export of a state, applied back, plans nothing (key material is not needed to match keys)', { timeout: 5_000 }, () => {
  const state = applied(desired());
  const exported = toDeclarative(state);
  assert.ok(exported.consumers[0]!.keys.every((k) => k.key === undefined));
  assert.deepEqual(plan(state, exported, { prune: true }).operations, []);
});

test('updates carry only the changed fields, references by name', { timeout: 5_000 }, () => {
  const state = applied(desired());
  const d = desired();
  d.upstreams[0]!.read_timeout_ms = 1234;
  d.services[1]!.upstream = 'a';
  d.routes[1]!.plugins = {};
  const p = plan(state, d, { prune: false });
  assert.deepEqual(
    p.operations.map((o) => (o.action === 'update' ? { name: o.name, mode: o.mode, changes: o.changes } : o)),
    [
      { name: 'a', mode: 'patch', changes: [{ field: 'read_timeout_ms', from: 60000, to: 1234 }] },
      { name: 'sb', mode: 'patch', changes: [{ field: 'upstream', from: 'b', to: 'a' }] },
      { name: 'rb', mode: 'patch', changes: [{ field: 'plugins', from: { 'key-auth': { header_names: ['apikey', 'x-api-key'], hide_credentials: true } }, to: {} }] },
    ],
  );
});

test('dropping an optional field without a default (custom_id) is a full replacement', { timeout: 5_000 }, () => {
  const state = applied(desired());
  const d = desired();
  delete d.consumers[0]!.custom_id;
  const [op] = plan(state, d, { prune: false }).operations;
  assert.equal(op?.action, 'update');
  assert.equal(op?.action === 'update' ? op.mode : '', 'replace');
  assert.deepEqual(op?.action === 'update' ? op.changes : [], [{ field: 'custom_id', from: 'c-1', to: undefined }]);
});

test('without prune, what the file omits is reported as unmanaged and left alone', { timeout: 5_000 }, () => {
  const state = applied(desired());
  const d = desired();
  d.routes.pop();
  d.consumers[0]!.keys.pop();
  const p = plan(state, d, { prune: false });
  assert.deepEqual(p.operations, []);
  assert.deepEqual(p.unmanaged, [
    { kind: 'route', name: 'rb' },
    { kind: 'key', name: 'acme/k2' },
  ]);
});

test('prune deletes routes before services before upstreams, and route deletes before route creates', { timeout: 5_000 }, () => {
  const state = applied(desired());
  const d = desired();
  // Drop b's whole chain; a new route takes the path the dropped route held.
  d.upstreams = d.upstreams.filter((u) => u.name !== 'b');
  d.services = d.services.filter((s) => s.name !== 'sb');
  d.routes = [d.routes[0]!, { ...d.routes[1]!, name: 'rb2', service: 'sa' }];
  const p = plan(state, d, { prune: true });
  assert.deepEqual(brief(p.operations), ['delete route rb', 'create route rb2', 'delete service sb', 'delete upstream b']);
});

test('pruning a consumer takes its keys with it (no separate key deletes); pruned keys go before new keys', { timeout: 5_000 }, () => {
  const state = applied(desired());
  const d = desired();
  d.consumers[0]!.keys = [{ name: 'k3', expires_at: null }];
  assert.deepEqual(brief(plan(state, d, { prune: true }).operations), ['delete key acme/k1', 'delete key acme/k2', 'create key acme/k3']);
  d.consumers = [];
  assert.deepEqual(brief(plan(state, d, { prune: true }).operations), ['delete consumer acme']);
});

test('a key\'s expiry is compared and patched in place; a new key carries its expiry; key material is never re-sent', { timeout: 5_000 }, () => {
  const state = applied(desired());
  const d = desired();
  d.consumers[0]!.keys[0]!.expires_at = '2027-01-01T00:00:00.000Z';
  d.consumers[0]!.keys.push({ name: 'k3', expires_at: '2027-02-01T00:00:00.000Z' });
  const p = plan(state, d, { prune: true });
  assert.deepEqual(brief(p.operations), ['update key acme/k1', 'create key acme/k3']);
  const [update, create] = p.operations;
  assert.ok(update?.action === 'update' && update.kind === 'key');
  assert.equal(update.id, state.consumers[0]!.keys[0]!.id);
  assert.deepEqual(update.changes, [{ field: 'expires_at', from: null, to: '2027-01-01T00:00:00.000Z' }]);
  assert.deepEqual(create, { action: 'create', kind: 'key', consumer: 'acme', name: 'k3', expires_at: '2027-02-01T00:00:00.000Z' });
  // Cleared again: the change goes to null (the PATCH that clears it), and k2's key material stays out.
  const later = applied(d);
  const cleared = plan(later, desired(), { prune: true });
  assert.deepEqual(brief(cleared.operations), ['delete key acme/k3', 'update key acme/k1']);
  assert.deepEqual(cleared.operations[1]?.action === 'update' ? cleared.operations[1].changes : [], [{ field: 'expires_at', from: '2027-01-01T00:00:00.000Z', to: null }]);
  assert.deepEqual(plan(later, d, { prune: true }).operations, []);
});

test('nameless keys are never pruned, and a second key with a wanted name is an extra', { timeout: 5_000 }, () => {
  const state = applied(desired());
  state.consumers[0]!.keys.push({ id: 'x1', name: null, expires_at: null }, { id: 'x2', name: 'k1', expires_at: null });
  const p = plan(state, desired(), { prune: true });
  assert.deepEqual(brief(p.operations), ['delete key acme/k1']);
  assert.equal(p.operations[0]?.action === 'delete' ? p.operations[0].id : '', 'x2');
});

test('sameValue ignores object key order but not list order', { timeout: 5_000 }, () => {
  assert.ok(sameValue({ a: 1, b: [1, 2] }, { b: [1, 2], a: 1 }));
  assert.ok(!sameValue([1, 2], [2, 1]));
  assert.ok(!sameValue(undefined, null));
  assert.ok(sameValue({ a: undefined }, {}));
});
