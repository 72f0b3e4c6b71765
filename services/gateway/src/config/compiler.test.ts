import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { entityKey, type EntityKind } from '@turnpike/common';
import { CompileCache, compileSnapshot, type Snapshot } from './compiler.js';
import { PoolRegistry } from '../upstream/pools.js';
import { sha256Hex } from '../plugins/key-auth/index.js';

const now = new Date().toISOString();
const pools = new PoolRegistry();
const poolFor = (origin: string, connectTimeoutMs: number) => ({
  key: PoolRegistry.key(origin, { connectTimeoutMs }),
  dispatcher: pools.get(origin, { connectTimeoutMs }),
});

function env(kind: EntityKind, revision: number, data: Record<string, unknown>): [string, string] {
  return [entityKey(kind, data.id as string), JSON.stringify({ kind, revision, data: { created_at: now, updated_at: now, ...data } })];
}

function baseConfig() {
  const ids = { up: randomUUID(), svc: randomUUID(), route: randomUUID(), consumer: randomUUID(), key: randomUUID() };
  const entries = new Map<string, string>([
    env('upstreams', 1, { id: ids.up, name: 'up', targets: [{ host: '127.0.0.1', port: 9, weight: 1 }] }),
    env('services', 2, { id: ids.svc, name: 'svc', upstream_id: ids.up, base_path: '/api/' }),
    env('routes', 3, { id: ids.route, name: 'r', service_id: ids.svc, paths: ['/users/{id}'], plugins: { 'key-auth': { header_names: ['X-Key'] } } }),
    env('consumers', 4, { id: ids.consumer, username: 'alice' }),
    env('keys', 5, { id: ids.key, consumer_id: ids.consumer, key_sha256: sha256Hex('secret-key-123456') }),
  ]);
  return { ids, entries };
}

describe('compileSnapshot', { timeout: 10_000 }, () => {
  after(() => pools.close());

  test('compiles a complete config with defaults applied', () => {
    const { ids, entries } = baseConfig();
    const snap = compileSnapshot(entries, poolFor);
    assert.deepEqual(snap.rejected, []);
    assert.equal(snap.revision, 5);
    assert.deepEqual(snap.counts, { upstreams: 1, services: 1, routes: 1, consumers: 1, keys: 1 });
    const m = snap.router.match('GET', 'any.host', '/users/9/x');
    assert.equal(m?.routeId, ids.route);
    assert.equal(m?.value.service.basePath, '/api', 'trailing slash trimmed');
    assert.equal(m?.value.stripPath, false);
    assert.deepEqual(m?.value.keyAuth, { headerNames: ['x-key'], queryNames: [], hideCredentials: true });
    assert.equal(m?.value.service.upstream?.readTimeoutMs, 60_000);
    assert.equal(m?.value.service.upstream?.balancer.pick()?.origin, 'http://127.0.0.1:9');
    assert.equal(snap.keys.get(sha256Hex('secret-key-123456'))?.username, 'alice');
  });

  test('draft and retired services do not route (their routes are left out, not rejected); deprecated ones carry precomputed headers', () => {
    const { ids, entries } = baseConfig();
    const add = (lifecycle: string, path: string, extra: Record<string, unknown> = {}) => {
      const svc = randomUUID();
      entries.set(...env('services', 10, { id: svc, name: `svc-${lifecycle}`, upstream_id: ids.up, lifecycle, ...extra }));
      entries.set(...env('routes', 11, { id: randomUUID(), name: `r-${lifecycle}`, service_id: svc, paths: [path] }));
    };
    add('draft', '/draft');
    add('retired', '/retired');
    add('deprecated', '/deprecated', { sunset_at: '2027-01-01T00:00:00.000Z' });
    const snap = compileSnapshot(entries, poolFor);
    assert.deepEqual(snap.rejected, []);
    assert.equal(snap.router.match('GET', 'h', '/draft'), null);
    assert.equal(snap.router.match('GET', 'h', '/retired'), null);
    assert.deepEqual(snap.router.match('GET', 'h', '/deprecated')?.value.service.responseHeaders, [
      'deprecation',
      'true',
      'sunset',
      'Fri, 01 Jan 2027 00:00:00 GMT',
    ]);
    assert.equal(snap.router.match('GET', 'h', '/users/1')?.value.service.responseHeaders, null, 'published (the default): none');
    assert.equal(snap.counts.services, 2);
  });

  test('rejects invalid entities and their dependents, keeps everything else', () => {
    const { ids, entries } = baseConfig();
    const badUp = randomUUID();
    const orphanSvc = randomUUID();
    const goodRoute = randomUUID();
    entries.set(...env('upstreams', 6, { id: badUp, name: 'bad', targets: [] })); // minItems 1
    entries.set(...env('services', 7, { id: orphanSvc, name: 'orphan', upstream_id: badUp }));
    entries.set(...env('routes', 8, { id: randomUUID(), name: 'orphan-route', service_id: orphanSvc, paths: ['/o'] }));
    entries.set(...env('routes', 9, { id: goodRoute, name: 'good', service_id: ids.svc, paths: ['/good'] }));
    entries.set(...env('keys', 10, { id: randomUUID(), consumer_id: randomUUID(), key_sha256: sha256Hex('x') }));
    entries.set(...env('keys', 11, { id: randomUUID(), consumer_id: ids.consumer, key_sha256: 'not-hex' }));
    entries.set(`routes.${randomUUID()}`, '{not json');
    const mismatched = randomUUID();
    entries.set(`routes.${mismatched}`, JSON.stringify({ kind: 'routes', revision: 12, data: { id: randomUUID(), name: 'm', service_id: ids.svc, paths: ['/m'], created_at: now, updated_at: now } }));
    entries.set(`routes.${randomUUID()}`, JSON.stringify({ kind: 'services', revision: 13, data: {} }));
    entries.set('future.thing', '{}');
    entries.set('meta.revision', JSON.stringify({ revision: 42 }));

    const snap = compileSnapshot(entries, poolFor);
    assert.equal(snap.revision, 42);
    assert.equal(snap.rejected.length, 8, JSON.stringify(snap.rejected, null, 1));
    const byKey = new Map(snap.rejected.map((r) => [r.key, r]));
    assert.equal(byKey.get(`upstreams.${badUp}`)?.reason, 'failed schema validation');
    assert.ok(byKey.get(`upstreams.${badUp}`)?.fields?.some((f) => f.path === '/targets'));
    assert.match(byKey.get(`services.${orphanSvc}`)?.reason ?? '', /upstream .* missing or rejected/);
    assert.match(byKey.get(`routes.${mismatched}`)?.reason ?? '', /does not match the key/);
    assert.equal(snap.router.match('GET', '', '/good')?.routeId, goodRoute);
    assert.equal(snap.router.match('GET', '', '/users/1')?.routeId, ids.route);
    assert.equal(snap.router.match('GET', '', '/o'), null);
    assert.equal(snap.keys.size, 1);
  });
  test('a compile from the changed keys only equals a full compile (puts, deletes, rejections, revision)', () => {
    const { ids, entries } = baseConfig();
    const cache = new CompileCache();
    compileSnapshot(entries, poolFor, cache);
    const view = (snap: Snapshot) => ({
      revision: snap.revision,
      counts: snap.counts,
      rejected: snap.rejected.map((r) => r.key).sort(),
      keys: [...snap.keys.entries()].map(([k, o]) => [k, o.username]),
      route: snap.router.match('GET', '', '/moved/1')?.routeId ?? null,
    });
    const steps: Array<(m: Map<string, string>) => string[]> = [
      // a route moves to a new path
      (m) => [env('routes', 6, { id: ids.route, name: 'r', service_id: ids.svc, paths: ['/moved/{id}'] })].map(([k, v]) => (m.set(k, v), k)),
      // the consumer is renamed: the key table must follow
      (m) => [env('consumers', 7, { id: ids.consumer, username: 'bob' })].map(([k, v]) => (m.set(k, v), k)),
      // a key whose consumer is missing is rejected; an invalid service too
      (m) => [
        env('keys', 8, { id: randomUUID(), consumer_id: randomUUID(), key_sha256: sha256Hex('other-key-1234567') }),
        env('services', 8, { id: randomUUID(), name: 'bad name', upstream_id: ids.up }),
      ].map(([k, v]) => (m.set(k, v), k)),
      // the entry holding the highest revision is deleted
      (m) => {
        const k = [...m.keys()].find((key) => key.startsWith('services.') && !key.endsWith(ids.svc))!;
        m.delete(k);
        return [k];
      },
      // the consumer is deleted: its key is rejected
      (m) => {
        const k = entityKey('consumers', ids.consumer);
        m.delete(k);
        return [k];
      },
    ];
    for (const step of steps) {
      const changed = new Set(step(entries));
      assert.deepEqual(view(compileSnapshot(entries, poolFor, cache, changed)), view(compileSnapshot(entries, poolFor)));
    }
    const last = compileSnapshot(entries, poolFor, cache, new Set());
    assert.equal(last.counts.consumers, 0);
    assert.equal(last.keys.size, 0);
  });
});

test('upstream policies compile (algorithm, hash_on, total timeout); non-http integrations compile without an upstream', { timeout: 10_000 }, () => {
  const up = randomUUID();
  const ids = { hash: randomUUID(), lambda: randomUUID(), ws: randomUUID() };
  const entries = new Map<string, string>([
    env('upstreams', 1, {
      id: up,
      name: 'up',
      targets: [
        { host: '127.0.0.1', port: 9 },
        { host: '127.0.0.2', port: 9 },
      ],
      algorithm: 'consistent-hash',
      hash_on: { source: 'header', name: 'X-User' },
      total_timeout_ms: 1500,
      retries: { attempts: 2 },
      circuit_breaker: null,
    }),
    env('services', 2, { id: ids.hash, name: 'hash', upstream_id: up, integration: null }),
    env('services', 3, { id: ids.lambda, name: 'lambda', upstream_id: null, integration: { type: 'lambda', function_name: 'fn', region: 'us-east-1', timeout_ms: 100 } }),
    env('services', 4, { id: ids.ws, name: 'ws', upstream_id: null, integration: { type: 'websocket', upstream_id: up, idle_timeout_ms: 1000 } }),
    env('routes', 5, { id: randomUUID(), name: 'rh', service_id: ids.hash, paths: ['/h'] }),
    env('routes', 6, { id: randomUUID(), name: 'rl', service_id: ids.lambda, paths: ['/l'] }),
    env('routes', 7, { id: randomUUID(), name: 'rw', service_id: ids.ws, paths: ['/w'] }),
  ]);
  const snap = compileSnapshot(entries, poolFor);
  assert.deepEqual(snap.rejected, []);
  const hashed = snap.router.match('GET', '', '/h')!.value.service;
  assert.deepEqual(hashed.upstream?.hashOn, { source: 'header', name: 'x-user' });
  assert.equal(hashed.upstream?.totalTimeoutMs, 1500);
  assert.equal(hashed.upstream?.balancer.pick('alice'), hashed.upstream?.balancer.pick('alice'));
  const lambda = snap.router.match('GET', '', '/l')!.value.service;
  assert.equal(lambda.upstream, null);
  assert.equal(lambda.integration, 'lambda');
  assert.equal(snap.router.match('GET', '', '/w')!.value.service.integration, 'websocket');
});
