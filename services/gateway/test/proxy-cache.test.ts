// proxy-cache through the real proxy port: misses go to the upstream (counted there) and are stored as they
// stream; hits, HEAD, expiry, Vary, Cache-Control (no-store both ways), Set-Cookie, a forced refresh by an
// authorized consumer, coalescing of concurrent misses, and invalidations arriving on the node's channel.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { InProcessCacheInvalidationChannel, InProcessConfigBus, entityKey, type CacheInvalidationRequest, type CallRecord, type EntityKind, type LogSink } from '@turnpike/common';
import { waitFor } from '@turnpike/common/testing';
import { startGateway, type Gateway } from '../src/index.js';

const ALICE_KEY = 'alice-key-0123456789abcdef';
const BOB_KEY = 'bob-key-0123456789abcdef';

describe('proxy-cache through the gateway proxy', { timeout: 60_000 }, () => {
  const bus = new InProcessConfigBus();
  const invalidations = new InProcessCacheInvalidationChannel();
  const records: CallRecord[] = [];
  const sink: LogSink = { write: async (b) => void records.push(...b), close: async () => undefined };
  const dataDir = mkdtempSync(join(tmpdir(), 'tp-gw-cache-'));
  const hits = new Map<string, number>();
  let upstream: Server;
  let gw: Gateway;
  let rev = 0;
  const id = () => randomUUID();
  const ids = { up: id(), svc: id(), alice: id(), bob: id(), cacheRoute: id(), ttlRoute: id(), authRoute: id(), swrRoute: id() };
  const now = new Date().toISOString();
  const put = (kind: EntityKind, data: Record<string, unknown>) =>
    bus.put(entityKey(kind, data.id as string), JSON.stringify({ kind, revision: ++rev, data: { created_at: now, updated_at: now, tags: [], ...data } }));
  const plugin = (type: string, scope: Record<string, string>, config: Record<string, unknown>) => put('plugins', { id: id(), type, enabled: true, scope, config });
  const hitsOf = (path: string) => hits.get(path) ?? 0;

  async function call(path: string, o: { method?: 'GET' | 'HEAD' | 'POST'; headers?: Record<string, string> } = {}) {
    const r = await request(`http://127.0.0.1:${gw.proxyPort}${path}`, { method: o.method ?? 'GET', headers: o.headers ?? {}, headersTimeout: 5_000, bodyTimeout: 5_000 });
    const body = await r.body.text();
    const h = (n: string) => (r.headers[n] === undefined ? undefined : String(r.headers[n]));
    return { status: r.statusCode, body, xCache: h('x-cache'), age: h('age'), header: h };
  }

  before(async () => {
    upstream = createServer((req, res) => {
      const url = req.url!;
      const n = hitsOf(url) + 1;
      hits.set(url, n);
      const headers: Record<string, string> = { 'content-type': 'text/plain', etag: `"${n}"` };
      let body = `${url} #${n}`;
      // The swr route's request-transformer adds this: the background refresh is transformed too.
      if (url.startsWith('/swr')) body += ` ${req.headers['x-swr'] ?? 'untransformed'}`;
      if (url.includes('nostore')) headers['cache-control'] = 'no-store';
      if (url.includes('cookie')) headers['set-cookie'] = `sid=${n}`;
      if (url.includes('vary')) {
        headers.vary = 'Accept-Language';
        body += ` ${req.headers['accept-language'] ?? '-'}`;
      }
      // Slow answers keep a miss in flight while others arrive (coalescing).
      setTimeout(() => res.writeHead(200, headers).end(body), url.includes('slow') ? 300 : url.includes('delay') ? 500 : 0);
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', () => r()));
    await put('upstreams', { id: ids.up, name: 'up', targets: [{ host: '127.0.0.1', port: (upstream.address() as AddressInfo).port }] });
    await put('services', { id: ids.svc, name: 'svc', upstream_id: ids.up });
    await put('consumers', { id: ids.alice, username: 'alice' });
    await put('consumers', { id: ids.bob, username: 'bob' });
    await put('keys', { id: id(), consumer_id: ids.alice, key_sha256: createHash('sha256').update(ALICE_KEY).digest('hex') });
    await put('keys', { id: id(), consumer_id: ids.bob, key_sha256: createHash('sha256').update(BOB_KEY).digest('hex') });
    await put('routes', { id: ids.cacheRoute, name: 'cache', service_id: ids.svc, paths: ['/c'] });
    await put('routes', { id: ids.ttlRoute, name: 'ttl', service_id: ids.svc, paths: ['/ttl'] });
    await put('routes', { id: ids.authRoute, name: 'auth', service_id: ids.svc, paths: ['/auth'] });
    await put('routes', { id: ids.swrRoute, name: 'swr', service_id: ids.svc, paths: ['/swr'] });
    await plugin('proxy-cache', { route_id: ids.cacheRoute }, { ttl_s: 60 });
    await plugin('proxy-cache', { route_id: ids.ttlRoute }, { ttl_s: 1 });
    await plugin('proxy-cache', { route_id: ids.swrRoute }, { ttl_s: 1, stale_while_revalidate_s: 5 });
    await plugin('request-transformer', { route_id: ids.swrRoute }, { headers: { add: { 'x-swr': 'transformed' } } });
    await plugin('key-auth', { route_id: ids.authRoute }, {});
    await plugin('proxy-cache', { route_id: ids.authRoute }, { ttl_s: 60, purge: { consumers: [ids.alice] } });
    gw = await startGateway({ nodeId: 'cache-1', bus, logSink: sink, dataDir, host: '127.0.0.1', proxyPort: 0, statusPort: 0, cacheInvalidation: invalidations, cacheMaxBytes: 8 * 1024 * 1024 });
    await waitFor('config applied', async () => ((await call('/c/ready')).xCache !== undefined ? true : null), 5_000);
  });

  after(async () => {
    await gw?.close();
    upstream.closeAllConnections();
    await new Promise((r) => upstream.close(r));
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('a miss is stored; the next GET and HEAD are HITs with the same status, headers and body, and Age', async () => {
    const miss = await call('/c/one');
    assert.equal(miss.xCache, 'MISS');
    assert.equal(miss.body, '/c/one #1');
    const hit = await call('/c/one');
    assert.equal(hit.status, 200);
    assert.equal(hit.xCache, 'HIT');
    assert.equal(hit.body, '/c/one #1');
    assert.equal(hit.header('etag'), '"1"');
    assert.equal(hit.header('content-type'), 'text/plain');
    assert.equal(hit.age, '0');
    const head = await call('/c/one', { method: 'HEAD' });
    assert.equal(head.xCache, 'HIT');
    assert.equal(head.body, '');
    assert.equal(head.header('content-length'), String('/c/one #1'.length));
    assert.equal(hitsOf('/c/one'), 1);
    // Other methods pass through.
    const post = await call('/c/one', { method: 'POST' });
    assert.equal(post.xCache, 'BYPASS');
    assert.equal(hitsOf('/c/one'), 2);
  });

  test('an entry expires after ttl_s (1 s): the next request is a MISS again', async () => {
    assert.equal((await call('/ttl/x')).xCache, 'MISS');
    assert.equal((await call('/ttl/x')).xCache, 'HIT');
    await new Promise((r) => setTimeout(r, 1_100));
    const again = await call('/ttl/x');
    assert.equal(again.xCache, 'MISS');
    assert.equal(again.body, '/ttl/x #2');
  });

  test('stale-while-revalidate: past expiry every request gets STALE at once; one background refresh replaces the entry', async () => {
    // The upstream takes 500 ms for /swr/delay.
    const miss = await call('/swr/delay');
    assert.equal(miss.xCache, 'MISS');
    assert.equal(miss.body, '/swr/delay #1 transformed');
    await new Promise((r) => setTimeout(r, 1_100));
    const t0 = performance.now();
    const first = await call('/swr/delay');
    const firstMs = performance.now() - t0;
    assert.equal(first.xCache, 'STALE');
    assert.equal(first.body, '/swr/delay #1 transformed');
    assert.equal(first.header('etag'), '"1"');
    assert.ok(firstMs < 200, `the first stale request is answered without waiting for the upstream (${firstMs.toFixed(0)} ms)`);
    // Others while the refresh is in flight: STALE too, and no second refresh.
    const t1 = performance.now();
    const more = await Promise.all(Array.from({ length: 5 }, () => call('/swr/delay')));
    assert.ok(performance.now() - t1 < 200);
    for (const r of more) assert.deepEqual([r.xCache, r.body], ['STALE', '/swr/delay #1 transformed']);
    assert.equal(hitsOf('/swr/delay'), 2, 'the refresh went upstream in the background');
    // Once the refresh's response arrived it replaced the entry: a HIT with the new body.
    await new Promise((r) => setTimeout(r, 700));
    const fresh = await call('/swr/delay');
    assert.equal(fresh.xCache, 'HIT');
    assert.equal(fresh.body, '/swr/delay #2 transformed');
    assert.equal(fresh.header('etag'), '"2"');
    assert.equal(hitsOf('/swr/delay'), 2, 'exactly one refresh reached the upstream');
    // The detached request is logged once, when its refresh ended: the upstream's status and latency.
    const id = first.header('x-request-id');
    const rec = await waitFor('the detached request logged', () => {
      const l = records.filter((r) => r.request_id === id);
      return l.length > 0 ? l : null;
    }, 5_000);
    assert.equal(rec.length, 1);
    assert.deepEqual([rec[0]!.status, rec[0]!.error_code], [200, '']);
    assert.ok(rec[0]!.upstream_latency_ms >= 400, `upstream latency ${rec[0]!.upstream_latency_ms}`);
  });

  test('Vary: a response varying on Accept-Language is stored once per language', async () => {
    const en = { 'accept-language': 'en' };
    const fr = { 'accept-language': 'fr' };
    assert.equal((await call('/c/vary', { headers: en })).xCache, 'MISS');
    assert.equal((await call('/c/vary', { headers: en })).body, '/c/vary #1 en');
    const frMiss = await call('/c/vary', { headers: fr });
    assert.equal(frMiss.xCache, 'MISS');
    assert.equal(frMiss.body, '/c/vary #2 fr');
    const frHit = await call('/c/vary', { headers: fr });
    assert.equal(frHit.xCache, 'HIT');
    assert.equal(frHit.body, '/c/vary #2 fr');
    assert.equal((await call('/c/vary', { headers: en })).body, '/c/vary #1 en');
    assert.equal(hitsOf('/c/vary'), 2);
  });

  test('Cache-Control no-store: a response saying it is not stored; a request saying it bypasses the cache', async () => {
    assert.equal((await call('/c/nostore')).xCache, 'MISS');
    assert.equal((await call('/c/nostore')).xCache, 'MISS');
    assert.equal(hitsOf('/c/nostore'), 2);
    await call('/c/two');
    const bypass = await call('/c/two', { headers: { 'cache-control': 'no-store' } });
    assert.equal(bypass.xCache, 'BYPASS');
    assert.equal(bypass.body, '/c/two #2');
    assert.equal((await call('/c/two')).body, '/c/two #1');
  });

  test('a response with Set-Cookie is never stored (and the client still gets its cookie)', async () => {
    const first = await call('/c/cookie');
    assert.equal(first.header('set-cookie'), 'sid=1');
    const second = await call('/c/cookie');
    assert.equal(second.xCache, 'MISS');
    assert.equal(second.header('set-cookie'), 'sid=2');
    assert.equal(hitsOf('/c/cookie'), 2);
  });

  test('Cache-Control max-age=0 / no-cache refreshes the entry for a purge consumer only', async () => {
    const alice = { 'x-api-key': ALICE_KEY };
    const bob = { 'x-api-key': BOB_KEY };
    assert.equal((await call('/auth/p', { headers: alice })).xCache, 'MISS');
    // Entries are shared between consumers (per_consumer is off).
    assert.equal((await call('/auth/p', { headers: bob })).xCache, 'HIT');
    const ignored = await call('/auth/p', { headers: { ...bob, 'cache-control': 'no-cache' } });
    assert.equal(ignored.xCache, 'HIT');
    assert.equal(hitsOf('/auth/p'), 1);
    const refresh = await call('/auth/p', { headers: { ...alice, 'cache-control': 'max-age=0' } });
    assert.equal(refresh.xCache, 'REFRESH');
    assert.equal(refresh.body, '/auth/p #2');
    const after = await call('/auth/p', { headers: bob });
    assert.equal(after.xCache, 'HIT');
    assert.equal(after.body, '/auth/p #2');
    // Without a key the pipeline refuses before the cache answers anything.
    assert.equal((await call('/auth/p')).status, 401);
  });

  test('coalescing: 20 concurrent requests for one key reach the upstream once', async () => {
    const all = await Promise.all(Array.from({ length: 20 }, () => call('/c/slow')));
    assert.equal(hitsOf('/c/slow'), 1);
    for (const r of all) {
      assert.equal(r.status, 200);
      assert.equal(r.body, '/c/slow #1');
    }
    assert.equal(all.filter((r) => r.xCache === 'MISS').length, 1);
    assert.equal(all.filter((r) => r.xCache === 'HIT').length, 19);
  });

  test('invalidations on the node\'s channel drop entries by route, service and prefix', async () => {
    const cases: [string, Omit<CacheInvalidationRequest, 'id'>][] = [
      ['/c/inv-route', { route_id: ids.cacheRoute }],
      ['/c/inv-service', { service_id: ids.svc }],
      ['/c/inv-prefix', { prefix: '/c/inv-p', service_ids: [ids.svc] }],
    ];
    for (const [path, inv] of cases) {
      await call(path);
      assert.equal((await call(path)).xCache, 'HIT');
      await invalidations.publish({ id: randomUUID(), ...inv });
      await waitFor(`${path} dropped`, async () => ((await call(path)).xCache === 'MISS' ? true : null), 5_000);
      assert.equal(hitsOf(path), 2);
    }
    // Another tenant's prefix invalidation (its own services) leaves these entries alone.
    await call('/c/kept');
    await invalidations.publish({ id: randomUUID(), prefix: '/c/', service_ids: [randomUUID()] });
    await new Promise((r) => setTimeout(r, 50));
    assert.equal((await call('/c/kept')).xCache, 'HIT');
  });
});
