import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { entityKey, type EntityKind } from '@turnpike/common';
import { CompileCache, compileSnapshot, type Snapshot } from './compiler.js';
import { PoolRegistry } from '../upstream/pools.js';

const pools = new PoolRegistry();
const poolFor = (origin: string, connectTimeoutMs: number) => ({
  key: PoolRegistry.key(origin, { connectTimeoutMs }),
  dispatcher: pools.get(origin, { connectTimeoutMs }),
});
const now = new Date().toISOString();

/** A deterministic PRNG (mulberry32): a failing sequence replays. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const uuid = (kind: number, i: number): string => `00000000-0000-4000-8000-${kind.toString(16).padStart(4, '0')}${i.toString(16).padStart(8, '0')}`;

/** What a lookup answers, reduced to plain data (compiled objects differ by identity between compiles). */
function answer(snap: Snapshot, method: string, host: string, path: string) {
  const m = snap.router.match(method, host, path);
  if (!m) return null;
  const v = m.value;
  return {
    routeId: m.routeId,
    params: m.params,
    prefixLength: m.prefixLength,
    service: v.service.id,
    basePath: v.service.basePath,
    upstream: v.service.upstream?.id ?? null,
    origins: v.service.upstream?.balancer.pick()?.origin ?? null,
    headers: v.service.responseHeaders,
    stripPath: v.stripPath,
    keyAuth: v.keyAuth,
  };
}

const rejections = (s: Snapshot) => s.rejected.map((r) => `${r.key}: ${r.reason}`).sort();

describe('incremental routing compile', { timeout: 60_000 }, () => {
  after(() => pools.close());

  for (const stages of [null, new Set(['prod'])]) {
    test(`random upstream, service and route changes compile as a full compile does${stages ? ' (TP_STAGES)' : ''}`, () => {
      const rnd = prng(stages ? 0xbeef : 0x5eed);
      const pick = <X>(xs: readonly X[]): X => xs[Math.floor(rnd() * xs.length)]!;
      const entries = new Map<string, string>();
      let revision = 0;
      const put = (kind: EntityKind, data: Record<string, unknown>): string => {
        const [key, raw] = [entityKey(kind, data.id as string), JSON.stringify({ kind, revision: ++revision, data: { created_at: now, updated_at: now, ...data } })];
        entries.set(key, raw);
        return key;
      };
      const SEGS = ['a', 'b', '{p}'];
      const randomRoute = (i: number): Record<string, unknown> => ({
        id: uuid(3, i),
        name: `r${i}`,
        service_id: uuid(2, Math.floor(rnd() * 6)), // service 5 never exists
        paths: [rnd() < 0.1 ? '~/a/(?<n>[0-9]+)' : '/' + Array.from({ length: Math.floor(rnd() * 3) }, () => pick(SEGS)).join('/')],
        hosts: rnd() < 0.7 ? [] : [pick(['x.test', '*.test'])],
        methods: rnd() < 0.6 ? [] : [pick(['GET', 'POST'])],
        priority: Math.floor(rnd() * 2),
        strip_path: rnd() < 0.5,
        stage: rnd() < 0.7 ? null : pick(['prod', 'dev']),
        ...(rnd() < 0.2 ? { plugins: { 'key-auth': { header_names: ['X-Key'] } } } : {}),
        ...(rnd() < 0.05 ? { priority: 5000 } : {}), // fails the schema: rejected
      });
      const randomService = (i: number): Record<string, unknown> => ({
        id: uuid(2, i),
        name: `s${i}`,
        upstream_id: uuid(1, Math.floor(rnd() * 4)), // upstream 3 never exists
        base_path: pick(['/', '/api/', '/v2']),
        lifecycle: pick(['active', 'active', 'deprecated', 'draft', 'retired']),
      });
      const randomUpstream = (i: number): Record<string, unknown> => ({
        id: uuid(1, i),
        name: `u${i}`,
        targets: [{ host: '127.0.0.1', port: 9000 + Math.floor(rnd() * 3), weight: 1 }],
      });
      for (let i = 0; i < 3; i++) put('upstreams', randomUpstream(i));
      for (let i = 0; i < 5; i++) put('services', randomService(i));
      for (let i = 0; i < 30; i++) put('routes', randomRoute(i));
      const cache = new CompileCache();
      let snap = compileSnapshot(entries, poolFor, cache, undefined, { stages });
      let routed = 0;
      for (let step = 0; step < 300; step++) {
        const changed = new Set<string>();
        for (let k = Math.floor(rnd() * 3); k >= 0; k--) {
          const r = rnd();
          const [kind, i, make] =
            r < 0.1 ? (['upstreams', Math.floor(rnd() * 3), randomUpstream] as const) : r < 0.25 ? (['services', Math.floor(rnd() * 5), randomService] as const) : (['routes', Math.floor(rnd() * 40), randomRoute] as const);
          const data = make(i);
          const key = entityKey(kind, data.id as string);
          if (rnd() < 0.2) entries.delete(key);
          else put(kind, data);
          changed.add(key);
        }
        snap = compileSnapshot(entries, poolFor, cache, changed, { stages });
        const full = compileSnapshot(entries, poolFor, new CompileCache(), undefined, { stages });
        assert.deepEqual(snap.counts, full.counts, `step ${step}: counts`);
        assert.deepEqual(rejections(snap), rejections(full), `step ${step}: rejections`);
        assert.deepEqual([...snap.poolKeys].sort(), [...full.poolKeys].sort(), `step ${step}: pools`);
        for (const method of ['GET', 'POST']) {
          for (const host of ['', 'x.test', 'y.test']) {
            for (const path of ['/', '/a', '/b', '/a/b', '/a/7', '/b/a/x', '/zz']) {
              const got = answer(snap, method, host, path);
              assert.deepEqual(got, answer(full, method, host, path), `step ${step}: ${method} ${host} ${path}`);
              if (got) routed++;
            }
          }
        }
      }
      assert.ok(routed > 300 * 42 * 0.15, `only ${routed} lookups matched a route`);
    });
  }

  test('a change to one route leaves the other routes’ compiled values and the previous snapshot as they were', () => {
    const entries = new Map<string, string>();
    const put = (kind: EntityKind, revision: number, data: Record<string, unknown>): string => {
      const key = entityKey(kind, data.id as string);
      entries.set(key, JSON.stringify({ kind, revision, data: { created_at: now, updated_at: now, ...data } }));
      return key;
    };
    put('upstreams', 1, { id: uuid(1, 0), name: 'u', targets: [{ host: '127.0.0.1', port: 9, weight: 1 }] });
    put('services', 2, { id: uuid(2, 0), name: 's', upstream_id: uuid(1, 0) });
    put('routes', 3, { id: uuid(3, 0), name: 'a', service_id: uuid(2, 0), paths: ['/a'] });
    put('routes', 4, { id: uuid(3, 1), name: 'b', service_id: uuid(2, 0), paths: ['/b'] });
    const cache = new CompileCache();
    const first = compileSnapshot(entries, poolFor, cache);
    const b = first.router.match('GET', '', '/b')!.value;
    const key = put('routes', 5, { id: uuid(3, 0), name: 'a', service_id: uuid(2, 0), paths: ['/moved'] });
    const second = compileSnapshot(entries, poolFor, cache, new Set([key]));
    assert.equal(second.router.match('GET', '', '/b')!.value, b, 'route b was not recompiled');
    assert.equal(second.router.match('GET', '', '/moved')?.routeId, uuid(3, 0));
    assert.equal(second.router.match('GET', '', '/a'), null);
    assert.equal(first.router.match('GET', '', '/a')?.routeId, uuid(3, 0), 'the previous snapshot still routes as before');
    assert.equal(first.router.match('GET', '', '/moved'), null);
  });

  test('a websocket integration compiles its upstream, idle timeout and allow-list; a change to that upstream recompiles it', () => {
    const entries = new Map<string, string>();
    const put = (kind: EntityKind, revision: number, data: Record<string, unknown>): string => {
      const key = entityKey(kind, data.id as string);
      entries.set(key, JSON.stringify({ kind, revision, data: { created_at: now, updated_at: now, ...data } }));
      return key;
    };
    put('upstreams', 1, { id: uuid(1, 0), name: 'u', targets: [{ host: '127.0.0.1', port: 9, weight: 1 }] });
    const integration = { type: 'websocket', upstream_id: uuid(1, 0), subprotocols: ['chat.v1'], idle_timeout_ms: 30_000 };
    put('services', 2, { id: uuid(2, 0), name: 'ws', integration });
    put('routes', 3, { id: uuid(3, 0), name: 'ws', service_id: uuid(2, 0), paths: ['/ws'] });
    const cache = new CompileCache();
    const first = compileSnapshot(entries, poolFor, cache);
    const svc = first.router.match('GET', '', '/ws')!.value.service;
    assert.equal(svc.upstream, null, 'plain HTTP is not proxied (426)');
    assert.equal(svc.integration, 'websocket');
    assert.equal(svc.websocket?.idleTimeoutMs, 30_000);
    assert.deepEqual([...(svc.websocket?.subprotocols ?? [])], ['chat.v1']);
    assert.equal(svc.websocket?.upstream.balancer.pick()?.origin, 'http://127.0.0.1:9');
    const key = put('upstreams', 4, { id: uuid(1, 0), name: 'u', targets: [{ host: '127.0.0.1', port: 10, weight: 1 }] });
    const second = compileSnapshot(entries, poolFor, cache, new Set([key]));
    assert.equal(second.router.match('GET', '', '/ws')!.value.service.websocket?.upstream.balancer.pick()?.origin, 'http://127.0.0.1:10');
    entries.delete(key);
    const third = compileSnapshot(entries, poolFor, cache, new Set([key]));
    assert.equal(third.router.match('GET', '', '/ws'), null, 'without its upstream the service is rejected');
    assert.ok(third.rejected.some((r) => r.key === entityKey('services', uuid(2, 0))));
  });
});
