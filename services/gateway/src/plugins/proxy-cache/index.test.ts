// The proxy-cache step over a small stand-in for the proxy's exchange: it runs the step, and for a request
// the step lets through it plays an upstream response through the registered hooks the way the handler does
// (head, body chunks, end). The real handler is exercised end to end in test/proxy-cache.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Value } from '@sinclair/typebox/value';
// Registers the `uuid` format TypeBox checks consumer ids with, as the node does.
import '../../config/compiler.js';
import { ProxyCacheConfig, proxyCacheProblems } from '@turnpike/common';
import type { Answer, Outcome } from '../pipeline.js';
import type { AccessTables, RequestContext, ResponseHead, ResponseHook } from '../request-context.js';
import { applyInvalidation, CacheStore, compileProxyCache, proxyCacheStep } from './index.js';

const ADMIN = '6f1c2a52-8d0e-4c55-9a57-0d1e1e7c0001';
const GROUPED = '6f1c2a52-8d0e-4c55-9a57-0d1e1e7c0002';
const PURGERS = '6f1c2a52-8d0e-4c55-9a57-0d1e1e7c0003';

interface Upstream {
  status?: number;
  headers?: string[];
  body?: string;
}

class Req {
  hooks: ResponseHook[] = [];
  extra: string[] = [];
  constructor(
    readonly method: string,
    readonly path: string,
    readonly headers: Record<string, string> = {},
    readonly consumerId = '',
    readonly nowMs = Date.now(),
  ) {}
  readonly query = '';
  readonly host = 'api.test';
  readonly routeId = 'route-1';
  readonly serviceId = 'svc-1';
  readonly tables = { ownerOf: (id: string) => (id === GROUPED ? { consumerId: id, username: 'grouped', groupIds: [PURGERS] } : undefined) } as unknown as AccessTables;
  header(n: string): string {
    return this.headers[n] ?? '';
  }
  addResponseHeaders(pairs: readonly string[]): void {
    this.extra.push(...pairs);
  }
  onResponse(h: ResponseHook): void {
    this.hooks.push(h);
  }
  get xCache(): string | undefined {
    const i = this.extra.indexOf('x-cache');
    return i < 0 ? undefined : this.extra[i + 1];
  }
  /** Plays an upstream response through the hooks; complete false: the exchange failed midway. */
  respond(u: Upstream, complete = true): void {
    const head: ResponseHead = { status: u.status ?? 200, headers: u.headers ?? ['content-type', 'text/plain'] };
    for (const h of this.hooks) h.head?.(head);
    const body = Buffer.from(u.body ?? 'hello');
    for (const h of this.hooks) h.tap?.chunk(body.subarray(0, 2));
    for (const h of this.hooks) h.tap?.chunk(body.subarray(2));
    for (const h of this.hooks) h.tap?.end(complete);
  }
}

function policy(cfg: Record<string, unknown> = {}) {
  const c = Value.Default(ProxyCacheConfig, structuredClone(cfg)) as ProxyCacheConfig;
  assert.ok(Value.Check(ProxyCacheConfig, c), 'config is valid');
  assert.deepEqual(proxyCacheProblems(c), []);
  return compileProxyCache(c);
}

function run(step: ReturnType<typeof proxyCacheStep>, r: Req): Outcome | Promise<Outcome> {
  return step.run(r as unknown as RequestContext);
}

function answer(o: Outcome | Promise<Outcome>): Answer {
  assert.ok(o !== null && !(o instanceof Promise) && o.kind === 'answer', `expected an answer, got ${JSON.stringify(o)}`);
  return o;
}
const header = (a: Answer, n: string): string | undefined => {
  const i = a.headers.indexOf(n);
  return i < 0 ? undefined : a.headers[i + 1];
};

test('miss stores, the next request is a HIT with status, headers, body, Age; HEAD is answered from GET\'s entry', () => {
  const step = proxyCacheStep(policy(), new CacheStore(1 << 20));
  const first = new Req('GET', '/a');
  assert.equal(run(step, first), null);
  assert.equal(first.xCache, 'MISS');
  first.respond({ headers: ['content-type', 'text/plain', 'etag', '"v1"'], body: 'hello' });
  const hit = answer(run(step, new Req('GET', '/a', {}, '', Date.now() + 2_500)));
  assert.equal(hit.status, 200);
  assert.equal(String(hit.body), 'hello');
  assert.equal(header(hit, 'etag'), '"v1"');
  assert.equal(header(hit, 'x-cache'), 'HIT');
  assert.equal(header(hit, 'age'), '2');
  assert.equal(header(answer(run(step, new Req('HEAD', '/a'))), 'x-cache'), 'HIT');
  // Other methods are not cached.
  const post = new Req('POST', '/a');
  assert.equal(run(step, post), null);
  assert.equal(post.xCache, 'BYPASS');
});

test('an entry expires after its TTL; the response\'s s-maxage / max-age set it', () => {
  const step = proxyCacheStep(policy({ ttl_s: 60 }), new CacheStore(1 << 20));
  const r = new Req('GET', '/ttl');
  run(step, r);
  r.respond({ headers: ['cache-control', 'public, max-age=1'] });
  assert.equal(header(answer(run(step, new Req('GET', '/ttl', {}, '', Date.now() + 500))), 'x-cache'), 'HIT');
  assert.equal(run(step, new Req('GET', '/ttl', {}, '', Date.now() + 1_100)), null);
});

test('not stored: no-store / private responses, Set-Cookie, unlisted statuses and content types, Vary: *, bodies over max_object_bytes, incomplete bodies', () => {
  const cases: [Record<string, unknown>, Upstream, boolean?][] = [
    [{}, { headers: ['cache-control', 'no-store'] }],
    [{}, { headers: ['cache-control', 'private, max-age=60'] }],
    [{}, { headers: ['set-cookie', 'sid=1'] }],
    [{}, { status: 500 }],
    [{ content_types: ['application/json'] }, { headers: ['content-type', 'text/html; charset=utf-8'] }],
    [{}, { headers: ['vary', '*'] }],
    [{ max_object_bytes: 3 }, { body: 'four' }],
    [{}, {}, false],
  ];
  for (const [cfg, up, complete] of cases) {
    const step = proxyCacheStep(policy(cfg), new CacheStore(1 << 20));
    const r = new Req('GET', '/x');
    run(step, r);
    r.respond(up, complete ?? true);
    assert.equal(run(step, new Req('GET', '/x')), null, `stored: ${JSON.stringify([cfg, up, complete])}`);
  }
  // cache_control false: the TTL applies whatever the response says (Set-Cookie still never stored).
  const step = proxyCacheStep(policy({ cache_control: false }), new CacheStore(1 << 20));
  const r = new Req('GET', '/x');
  run(step, r);
  r.respond({ headers: ['cache-control', 'no-store'] });
  assert.equal(header(answer(run(step, new Req('GET', '/x'))), 'x-cache'), 'HIT');
});

test('a response\'s Vary keys its entries by those request headers too', () => {
  const step = proxyCacheStep(policy(), new CacheStore(1 << 20));
  const en = new Req('GET', '/v', { 'accept-language': 'en' });
  run(step, en);
  en.respond({ headers: ['vary', 'Accept-Language'], body: 'hello' });
  assert.equal(String(answer(run(step, new Req('GET', '/v', { 'accept-language': 'en' }))).body), 'hello');
  const fr = new Req('GET', '/v', { 'accept-language': 'fr' });
  assert.equal(run(step, fr), null);
  fr.respond({ headers: ['vary', 'Accept-Language'], body: 'bonjour' });
  assert.equal(String(answer(run(step, new Req('GET', '/v', { 'accept-language': 'fr' }))).body), 'bonjour');
  assert.equal(String(answer(run(step, new Req('GET', '/v', { 'accept-language': 'en' }))).body), 'hello');
});

test('request Cache-Control: no-store bypasses; no-cache / max-age=0 refresh only for purge consumers and groups', () => {
  const step = proxyCacheStep(policy({ purge: { consumers: [ADMIN], consumer_groups: [PURGERS] } }), new CacheStore(1 << 20));
  const r = new Req('GET', '/p');
  run(step, r);
  r.respond({ body: 'v1' });
  const noStore = new Req('GET', '/p', { 'cache-control': 'no-store' });
  assert.equal(run(step, noStore), null);
  assert.equal(noStore.xCache, 'BYPASS');
  // Not authorized: answered from the cache.
  assert.equal(String(answer(run(step, new Req('GET', '/p', { 'cache-control': 'no-cache' }, 'someone'))).body), 'v1');
  for (const who of [ADMIN, GROUPED]) {
    const refresh = new Req('GET', '/p', { 'cache-control': 'max-age=0' }, who);
    assert.equal(run(step, refresh), null);
    assert.equal(refresh.xCache, 'REFRESH');
    refresh.respond({ body: `by ${who}` });
    assert.equal(String(answer(run(step, new Req('GET', '/p'))).body), `by ${who}`);
  }
});

test('concurrent misses wait for the first one\'s response; an uncacheable one sends them to the upstream', async () => {
  const step = proxyCacheStep(policy(), new CacheStore(1 << 20));
  const leader = new Req('GET', '/c');
  assert.equal(run(step, leader), null);
  const waiting = Array.from({ length: 5 }, () => run(step, new Req('GET', '/c')));
  assert.ok(waiting.every((w) => w instanceof Promise));
  leader.respond({ body: 'shared' });
  for (const o of await Promise.all(waiting)) assert.equal(String(answer(o).body), 'shared');

  const leader2 = new Req('GET', '/c2');
  run(step, leader2);
  const followers = [new Req('GET', '/c2'), new Req('GET', '/c2')];
  const waits = followers.map((f) => run(step, f));
  leader2.respond({ headers: ['set-cookie', 'a=b'] });
  assert.deepEqual(await Promise.all(waits), [null, null]);
  assert.deepEqual(followers.map((f) => f.xCache), ['MISS', 'MISS']);
});

/** A request the handler can detach (body-less): answered by the step, sent upstream for the hooks alone. */
class DetachableReq extends Req {
  /** What the client got at once. */
  answered: Answer | null = null;
  get detached(): boolean {
    return this.answered !== null;
  }
  detachToUpstream(a: Answer): boolean {
    this.answered = a;
    return true;
  }
}

test('stale_while_revalidate_s: every request gets STALE at once; one detached refresh at a time, again after a failed one', () => {
  const step = proxyCacheStep(policy({ ttl_s: 1, stale_while_revalidate_s: 30 }), new CacheStore(1 << 20));
  const r = new DetachableReq('GET', '/d');
  run(step, r);
  r.respond({ body: 'old' });
  const later = Date.now() + 2_000;
  const refresher = new DetachableReq('GET', '/d', {}, '', later);
  assert.equal(run(step, refresher), null, 'the request goes on (upstream, for the refresh)');
  const first = refresher.answered!;
  assert.deepEqual([header(first, 'x-cache'), String(first.body), refresher.hooks.length], ['STALE', 'old', 1]);
  const other = new DetachableReq('GET', '/d', {}, '', later + 10);
  assert.equal(header(answer(run(step, other)), 'x-cache'), 'STALE');
  assert.deepEqual([other.detached, other.hooks.length], [false, 0], 'no second refresh while one is in flight');
  // The refresh gets a 500 (not stored): the stale entry stays, and the next request refreshes again.
  refresher.respond({ status: 500, body: 'boom' });
  const retry = new DetachableReq('GET', '/d', {}, '', later + 20);
  assert.equal(run(step, retry), null);
  assert.equal(String(retry.answered?.body), 'old');
  retry.respond({ body: 'new' });
  const fresh = answer(run(step, new DetachableReq('GET', '/d')));
  assert.deepEqual([header(fresh, 'x-cache'), String(fresh.body)], ['HIT', 'new']);
});

test('stale_while_revalidate_s, a request that cannot be detached: it refreshes in the foreground while the others get STALE', () => {
  const step = proxyCacheStep(policy({ ttl_s: 1, stale_while_revalidate_s: 30 }), new CacheStore(1 << 20));
  const r = new Req('GET', '/s');
  run(step, r);
  r.respond({ body: 'old' });
  const later = Date.now() + 2_000;
  const refresher = new Req('GET', '/s', {}, '', later);
  assert.equal(run(step, refresher), null);
  const stale = answer(run(step, new Req('GET', '/s', {}, '', later + 10)));
  assert.equal(header(stale, 'x-cache'), 'STALE');
  assert.equal(String(stale.body), 'old');
  refresher.respond({ body: 'new' });
  const fresh = answer(run(step, new Req('GET', '/s')));
  assert.equal(header(fresh, 'x-cache'), 'HIT');
  assert.equal(String(fresh.body), 'new');
});

test('invalidations drop entries by service, route, or path prefix within the listed services', () => {
  const store = new CacheStore(1 << 20);
  const step = proxyCacheStep(policy(), store);
  for (const p of ['/v1/a', '/v1/b', '/v2/c']) {
    const r = new Req('GET', p);
    run(step, r);
    r.respond({});
  }
  assert.equal(applyInvalidation(store, { id: 'i', cluster: 'c', prefix: '/v1/', service_ids: ['other'] }), 0);
  assert.equal(applyInvalidation(store, { id: 'i', cluster: 'c', prefix: '/v1/', service_ids: ['svc-1'] }), 2);
  assert.equal(applyInvalidation(store, { id: 'i', cluster: 'c', route_id: 'route-1' }), 1);
  assert.equal(store.stats().entries, 0);
});

test('config problems: listed query without parameters, parameters without listed, a header named twice', () => {
  const c = (o: Record<string, unknown>) => proxyCacheProblems(Value.Default(ProxyCacheConfig, o) as ProxyCacheConfig).map((p) => p.path);
  assert.deepEqual(c({ vary_query: 'listed' }), ['/query_params']);
  assert.deepEqual(c({ query_params: ['a'] }), ['/query_params']);
  assert.deepEqual(c({ vary_headers: ['Accept', 'accept'] }), ['/vary_headers/1']);
  assert.equal(Value.Check(ProxyCacheConfig, Value.Default(ProxyCacheConfig, { methods: ['POST'] })), false);
});
