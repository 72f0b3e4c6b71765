// REST behaviour clients rely on: ETags and If-Match (optimistic concurrency), Idempotency-Key on POST,
// cursor pagination with filters, and an OpenAPI document that validates. Real HTTP, PostgreSQL, NATS.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Validator } from '@seriousme/openapi-schema-validator';
import { startHarness, type Harness, type RestResponse } from './support.js';

const upstreamBody = (name: string, tags: string[] = []) => ({ name, targets: [{ host: '127.0.0.1', port: 9000 }], tags });

describe('REST conditional writes, idempotent creates, filtered pagination', { timeout: 90_000 }, () => {
  let h: Harness;
  before(async () => {
    h = await startHarness();
  });
  after(async () => {
    await h?.close();
  });

  it('ETag round trip: create "1", every update bumps it, If-None-Match gives 304', async () => {
    const c = await h.rest('POST', '/v1/upstreams', upstreamBody('etag-a'));
    assert.equal(c.status, 201);
    assert.equal(c.headers.get('etag'), '"1"');
    const url = `/v1/upstreams/${c.json.id}`;

    const g = await h.rest('GET', url);
    assert.equal(g.headers.get('etag'), '"1"');
    assert.deepEqual(g.json, c.json, 'the version is a header, not a body field');

    const p = await h.rest('PATCH', url, { tags: ['x'] }, { 'if-match': '"1"' });
    assert.equal(p.status, 200);
    assert.equal(p.headers.get('etag'), '"2"');
    const put = await h.rest('PUT', url, upstreamBody('etag-a', ['y']), { 'if-match': '"0", "2"' });
    assert.equal(put.status, 200, 'any listed tag may match');
    assert.equal(put.headers.get('etag'), '"3"');
    const unconditional = await h.rest('PATCH', url, { tags: ['z'] });
    assert.equal(unconditional.headers.get('etag'), '"4"', 'writes without If-Match bump the version too');
    const star = await h.rest('PATCH', url, { tags: ['s'] }, { 'if-match': '*' });
    assert.equal(star.status, 200);
    assert.equal(star.headers.get('etag'), '"5"');

    const cached = await h.rest('GET', url, undefined, { 'if-none-match': '"5"' });
    assert.equal(cached.status, 304);
    assert.equal(cached.headers.get('etag'), '"5"');
    assert.equal(cached.text, '');
    assert.equal((await h.rest('GET', url, undefined, { 'if-none-match': '"4"' })).status, 200);
  });

  it('412 TP_ERR_PRECONDITION_FAILED on stale If-Match for PATCH, PUT and DELETE; nothing changes', async () => {
    const c = await h.rest('POST', '/v1/consumers', { username: 'stale-owner' });
    const url = `/v1/consumers/${c.json.id}`;
    assert.equal((await h.rest('PATCH', url, { tags: ['v2'] }, { 'if-match': '"1"' })).status, 200);

    const stale = await h.rest('PATCH', url, { tags: ['lost-update'] }, { 'if-match': '"1"' });
    assert.equal(stale.status, 412);
    assert.equal(stale.json.error.code, 'TP_ERR_PRECONDITION_FAILED');
    assert.match(stale.json.error.message, /version 2/);
    assert.equal((await h.rest('PUT', url, { username: 'stale-owner' }, { 'if-match': '"1"' })).status, 412);
    // If-Match uses the strong comparison: a weak tag never matches; nor does junk.
    assert.equal((await h.rest('PATCH', url, { tags: [] }, { 'if-match': 'W/"2"' })).status, 412);
    assert.equal((await h.rest('PATCH', url, { tags: [] }, { 'if-match': 'two' })).status, 412);
    assert.equal((await h.rest('DELETE', url, undefined, { 'if-match': '"1"' })).status, 412);

    const g = await h.rest('GET', url);
    assert.deepEqual(g.json.tags, ['v2']);
    assert.equal(g.headers.get('etag'), '"2"');
    assert.equal((await h.rest('DELETE', url, undefined, { 'if-match': '"2"' })).status, 204);
    assert.equal((await h.rest('PATCH', url, { tags: [] }, { 'if-match': '"2"' })).status, 404);

    // API keys: GET has an ETag, DELETE honours If-Match.
    const owner = (await h.rest('POST', '/v1/consumers', { username: 'key-etag' })).json;
    const key = await h.rest('POST', `/v1/consumers/${owner.id}/keys`, {});
    assert.equal(key.headers.get('etag'), '"1"');
    const keyUrl = `/v1/consumers/${owner.id}/keys/${key.json.id}`;
    assert.equal((await h.rest('GET', keyUrl)).headers.get('etag'), '"1"');
    assert.equal((await h.rest('DELETE', keyUrl, undefined, { 'if-match': '"7"' })).status, 412);
    assert.equal((await h.rest('DELETE', keyUrl, undefined, { 'if-match': '"1"' })).status, 204);
  });

  it('concurrent writers with the same If-Match: exactly one wins, the rest get 412', async () => {
    const c = await h.rest('POST', '/v1/upstreams', upstreamBody('race-etag'));
    const url = `/v1/upstreams/${c.json.id}`;
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) => h.rest('PATCH', url, { tags: [`writer-${i}`] }, { 'if-match': '"1"' })),
    );
    const ok = results.filter((r) => r.status === 200);
    assert.equal(ok.length, 1, JSON.stringify(results.map((r) => r.status)));
    assert.ok(results.every((r) => r.status === 200 || r.status === 412));
    const g = await h.rest('GET', url);
    assert.equal(g.headers.get('etag'), '"2"');
    assert.deepEqual(g.json.tags, ok[0]!.json.tags);
  });

  it('Idempotency-Key: a replay returns the stored response, another body is 422, failures are not stored', async () => {
    const headers = { 'idempotency-key': 'create-up-1' };
    const first = await h.rest('POST', '/v1/upstreams', upstreamBody('idem-up'), headers);
    assert.equal(first.status, 201);
    assert.equal(first.headers.get('idempotent-replayed'), null);

    // Same body with another key order and spacing is the same request.
    const reordered = JSON.stringify({ targets: [{ port: 9000, host: '127.0.0.1' }], tags: [], name: 'idem-up' });
    const again = await h.rest('POST', '/v1/upstreams', reordered, headers);
    assert.equal(again.status, 201);
    assert.equal(again.headers.get('idempotent-replayed'), 'true');
    assert.deepEqual(again.json, first.json);
    assert.equal(again.headers.get('location'), first.headers.get('location'));
    assert.equal(again.headers.get('etag'), first.headers.get('etag'));
    const listed = await h.rest('GET', '/v1/upstreams?name=idem-up');
    assert.equal(listed.json.data.length, 1);

    const other = await h.rest('POST', '/v1/upstreams', upstreamBody('idem-up-2'), headers);
    assert.equal(other.status, 422);
    assert.equal(other.json.error.code, 'TP_ERR_UNPROCESSABLE');
    assert.match(other.json.error.message, /Idempotency-Key/);
    const otherPath = await h.rest('POST', '/v1/consumers', { username: 'idem-up' }, headers);
    assert.equal(otherPath.status, 422, 'a key is bound to its method and path');

    // A failed create stores nothing: fixing the request and retrying with the same key works.
    const bad = await h.rest('POST', '/v1/services', { name: 'idem-svc', upstream_id: '00000000-0000-4000-8000-000000000000' }, { 'idempotency-key': 'svc-1' });
    assert.equal(bad.status, 422);
    const good = await h.rest('POST', '/v1/services', { name: 'idem-svc', upstream_id: first.json.id }, { 'idempotency-key': 'svc-1' });
    assert.equal(good.status, 201);
    assert.equal(good.headers.get('idempotent-replayed'), null);

    assert.equal((await h.rest('POST', '/v1/consumers', { username: 'bad-key' }, { 'idempotency-key': 'has space' })).status, 400);
  });

  it('Idempotency-Key expires after 24 h: the key is reusable and the reconciler deletes it', async () => {
    const headers = { 'idempotency-key': 'expiring' };
    const first = await h.rest('POST', '/v1/consumers', { username: 'exp-1' }, headers);
    assert.equal(first.status, 201);
    await h.sql`UPDATE idempotency_keys SET created_at = now() - interval '25 hours' WHERE key = 'expiring'`;
    const second = await h.rest('POST', '/v1/consumers', { username: 'exp-2' }, headers);
    assert.equal(second.status, 201, 'an expired key is a new key');
    assert.notEqual(second.json.id, first.json.id);

    await h.sql`UPDATE idempotency_keys SET created_at = now() - interval '25 hours' WHERE key = 'expiring'`;
    await h.cp.reconcile();
    assert.equal((await h.sql`SELECT 1 FROM idempotency_keys WHERE key = 'expiring'`).length, 0);
  });

  it('API key creation: the replay omits the clear key, which is never stored', async () => {
    const owner = (await h.rest('POST', '/v1/consumers', { username: 'idem-keys' })).json;
    const headers = { 'idempotency-key': 'key-once' };
    const first = await h.rest('POST', `/v1/consumers/${owner.id}/keys`, { name: 'ci' }, headers);
    assert.equal(first.status, 201);
    assert.match(first.json.key, /^tp_/);
    const replay = await h.rest('POST', `/v1/consumers/${owner.id}/keys`, { name: 'ci' }, headers);
    assert.equal(replay.status, 201);
    assert.equal(replay.headers.get('idempotent-replayed'), 'true');
    assert.equal(replay.json.key, undefined);
    const { key: _key, ...withoutKey } = first.json;
    assert.deepEqual(replay.json, withoutKey);
    const rows = await h.sql<{ body: string }[]>`SELECT response_body::text AS body FROM idempotency_keys WHERE key = 'key-once'`;
    assert.equal(rows.length, 1);
    assert.ok(!rows[0]!.body.includes(first.json.key), 'the clear key must not be stored');
  });

  it('concurrent duplicate POSTs with one key create exactly one entity', async () => {
    const owner = (await h.rest('POST', '/v1/consumers', { username: 'idem-race' })).json;
    const post = (): Promise<RestResponse> => h.rest('POST', `/v1/consumers/${owner.id}/keys`, { name: 'race' }, { 'idempotency-key': 'race-key' });
    const results = await Promise.all(Array.from({ length: 10 }, post));
    assert.deepEqual(results.map((r) => r.status), Array(10).fill(201));
    assert.equal(new Set(results.map((r) => r.json.id)).size, 1);
    assert.equal(results.filter((r) => r.headers.get('idempotent-replayed') === null).length, 1, 'one original, the rest replays');
    const keys = await h.rest('GET', `/v1/consumers/${owner.id}/keys`);
    assert.equal(keys.json.data.length, 1);

    // Same for a named entity: every duplicate gets the 201 replay, not a 409.
    const ups = await Promise.all(Array.from({ length: 6 }, () => h.rest('POST', '/v1/upstreams', upstreamBody('idem-race-up'), { 'idempotency-key': 'race-up' })));
    assert.deepEqual(ups.map((r) => r.status), Array(6).fill(201));
    assert.equal(new Set(ups.map((r) => r.json.id)).size, 1);
  });

  it('cursor pagination over more than two pages with filters', async () => {
    const tagged: string[] = [];
    for (let i = 0; i < 7; i++) {
      const t = await h.rest('POST', '/v1/upstreams', upstreamBody(`page-t${i}`, ['paged', `n${i % 2}`]));
      tagged.push(t.json.id);
      assert.equal((await h.rest('POST', '/v1/upstreams', upstreamBody(`page-u${i}`))).status, 201);
    }
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const r: RestResponse = await h.rest('GET', `/v1/upstreams?tag=paged&limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      assert.equal(r.status, 200);
      assert.ok(r.json.data.length <= 2);
      seen.push(...r.json.data.map((u: { id: string }) => u.id));
      cursor = r.json.next_cursor;
      if (cursor !== null) assert.match(cursor, /^[A-Za-z0-9_-]+$/, 'base64url');
      pages++;
    } while (cursor !== null);
    assert.equal(pages, 4);
    assert.deepEqual(seen, tagged, 'creation order, each once, only tagged');

    const odd = await h.rest('GET', '/v1/upstreams?tag=n1&limit=100');
    assert.deepEqual(odd.json.data.map((u: { name: string }) => u.name), ['page-t1', 'page-t3', 'page-t5']);
    assert.equal(odd.json.next_cursor, null);
    const byName = await h.rest('GET', '/v1/upstreams?name=page-u3');
    assert.deepEqual(byName.json.data.map((u: { name: string }) => u.name), ['page-u3']);
    assert.equal((await h.rest('GET', '/v1/upstreams?name=page-u')).json.data.length, 0, 'name is exact');

    // services by upstream, routes by service; consumers by name (= username).
    const [u1, u2] = tagged;
    const s1 = (await h.rest('POST', '/v1/services', { name: 'page-s1', upstream_id: u1 })).json;
    await h.rest('POST', '/v1/services', { name: 'page-s2', upstream_id: u2 });
    const s3 = (await h.rest('POST', '/v1/services', { name: 'page-s3', upstream_id: u1, tags: ['paged'] })).json;
    const byUp = await h.rest('GET', `/v1/services?upstream_id=${u1}`);
    assert.deepEqual(byUp.json.data.map((s: { id: string }) => s.id), [s1.id, s3.id]);
    const both = await h.rest('GET', `/v1/services?upstream_id=${u1}&tag=paged`);
    assert.deepEqual(both.json.data.map((s: { id: string }) => s.id), [s3.id]);
    for (let i = 0; i < 5; i++) {
      assert.equal((await h.rest('POST', '/v1/routes', { name: `page-r${i}`, service_id: i % 2 ? s1.id : s3.id, paths: [`/page/${i}`] })).status, 201);
    }
    const routes: string[] = [];
    let rc: string | null = null;
    do {
      const r: RestResponse = await h.rest('GET', `/v1/routes?service_id=${s3.id}&limit=1${rc ? `&cursor=${rc}` : ''}`);
      routes.push(...r.json.data.map((x: { name: string }) => x.name));
      rc = r.json.next_cursor;
    } while (rc !== null);
    assert.deepEqual(routes, ['page-r0', 'page-r2', 'page-r4']);
    await h.rest('POST', '/v1/consumers', { username: 'page-c' });
    assert.equal((await h.rest('GET', '/v1/consumers?name=page-c')).json.data.length, 1);

    // The old field name keeps working for older clients.
    const legacy = await h.rest('GET', '/v1/upstreams?tag=paged&limit=2');
    assert.equal(legacy.json.next, legacy.json.next_cursor);

    for (const bad of ['/v1/routes?service_id=nope', '/v1/upstreams?service_id=00000000-0000-4000-8000-000000000000', '/v1/upstreams?offset=5', '/v1/upstreams?name=']) {
      const r = await h.rest('GET', bad);
      assert.equal(r.status, 400, bad);
      assert.equal(r.json.error.code, 'TP_ERR_VALIDATION');
    }
  });

  it('/v1/openapi.json is a valid OpenAPI 3.1 document describing the headers, filters and 412', async () => {
    const res = await fetch(`http://127.0.0.1:${h.cp.restPort}/v1/openapi.json`);
    assert.equal(res.status, 200);
    const doc = (await res.json()) as Record<string, unknown>;
    const validator = new Validator({ strict: false });
    const result = await validator.validate(doc);
    assert.equal(result.valid, true, JSON.stringify(result.errors, null, 2));
    assert.equal(validator.version, '3.1');
    // Every local $ref resolves (the schema validation alone does not follow them).
    for (const m of JSON.stringify(doc).matchAll(/"#\/components\/(\w+)\/([\w-]+)"/g)) {
      const section = (doc.components as Record<string, Record<string, unknown>>)[m[1]!];
      assert.ok(section?.[m[2]!], `dangling ${m[0]}`);
    }

    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- walking the document
    const d = doc as any;
    const names = (params: Array<{ $ref?: string; name?: string }>): string[] =>
      params.map((p) => (p.$ref ? d.components.parameters[p.$ref.split('/').pop()!].name : p.name));
    assert.deepEqual(names(d.paths['/v1/routes'].get.parameters), ['limit', 'cursor', 'name', 'tag', 'service_id']);
    assert.deepEqual(names(d.paths['/v1/services'].get.parameters), ['limit', 'cursor', 'name', 'tag', 'upstream_id']);
    assert.deepEqual(names(d.paths['/v1/upstreams'].post.parameters), ['Idempotency-Key']);
    assert.deepEqual(names(d.paths['/v1/upstreams/{id}'].patch.parameters), ['If-Match']);
    assert.ok(d.paths['/v1/upstreams/{id}'].delete.responses['412']);
    assert.ok(d.paths['/v1/upstreams/{id}'].get.responses['304']);
    assert.ok(d.paths['/v1/upstreams/{id}'].get.responses['200'].headers.ETag);
    assert.ok(d.paths['/v1/consumers/{id}/keys'].post.responses['201'].headers['Idempotent-Replayed']);
    assert.ok(d.paths['/v1/upstreams'].get.responses['200'].content['application/json'].schema.properties.next_cursor);
  });
});
