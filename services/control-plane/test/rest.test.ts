// The REST admin API over real HTTP, against real PostgreSQL and NATS.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { startHarness, type Harness } from './support.js';

const upstreamBody = (name: string) => ({ name, targets: [{ host: '127.0.0.1', port: 9000 }] });

describe('REST admin API', { timeout: 60_000 }, () => {
  let h: Harness;
  before(async () => {
    h = await startHarness();
  });
  after(async () => {
    await h?.close();
  });

  it('healthz is open, /v1 needs a bearer token (401 missing / invalid)', async () => {
    const health = await fetch(`http://127.0.0.1:${h.cp.restPort}/healthz`);
    assert.equal(health.status, 200);
    const missing = await h.rest('GET', '/v1/upstreams', undefined, { authorization: '' });
    assert.equal(missing.status, 401);
    assert.equal(missing.json.error.code, 'TP_ERR_AUTH_REQUIRED');
    assert.ok(missing.json.error.request_id);
    assert.equal(missing.headers.get('x-request-id'), missing.json.error.request_id);
    const wrong = await h.rest('GET', '/v1/upstreams', undefined, { authorization: 'Bearer nope' });
    assert.equal(wrong.status, 401);
    assert.equal(wrong.json.error.code, 'TP_ERR_AUTH_TOKEN_INVALID');
  });

  it('the bootstrap token is stored only as its sha256', async () => {
    const rows = await h.sql<{ token_sha256: string }[]>`SELECT token_sha256 FROM admin_tokens`;
    assert.equal(rows.length, 1);
    assert.equal(rows[0]!.token_sha256, createHash('sha256').update(h.token).digest('hex'));
    assert.ok(h.logs.some((l) => l.event === 'bootstrap_token' && l.token === h.token));
  });

  it('upstreams: create (defaults filled), get, list, patch, put, delete', async () => {
    const c = await h.rest('POST', '/v1/upstreams', upstreamBody('up-crud'));
    assert.equal(c.status, 201);
    assert.match(c.json.id, /^[0-9a-f-]{36}$/);
    assert.equal(c.headers.get('location'), `/v1/upstreams/${c.json.id}`);
    assert.deepEqual(c.json.targets, [{ host: '127.0.0.1', port: 9000, weight: 100 }]);
    assert.equal(c.json.scheme, 'http');
    assert.equal(c.json.connect_timeout_ms, 5000);
    assert.deepEqual(c.json.tags, []);

    const g = await h.rest('GET', `/v1/upstreams/${c.json.id}`);
    assert.equal(g.status, 200);
    assert.deepEqual(g.json, c.json);

    const p = await h.rest('PATCH', `/v1/upstreams/${c.json.id}`, { tags: ['a'], read_timeout_ms: 1234 });
    assert.equal(p.status, 200);
    assert.deepEqual(p.json.tags, ['a']);
    assert.equal(p.json.read_timeout_ms, 1234);
    assert.equal(p.json.name, 'up-crud');
    assert.deepEqual(p.json.targets, c.json.targets);

    const put = await h.rest('PUT', `/v1/upstreams/${c.json.id}`, { name: 'up-crud', scheme: 'https', targets: [{ host: 'b', port: 1 }] });
    assert.equal(put.status, 200);
    assert.equal(put.json.scheme, 'https');
    assert.deepEqual(put.json.tags, []);
    assert.equal(put.json.read_timeout_ms, 60000);

    const l = await h.rest('GET', '/v1/upstreams');
    assert.equal(l.status, 200);
    assert.ok(l.json.data.some((u: { id: string }) => u.id === c.json.id));

    const d = await h.rest('DELETE', `/v1/upstreams/${c.json.id}`);
    assert.equal(d.status, 204);
    assert.equal((await h.rest('GET', `/v1/upstreams/${c.json.id}`)).status, 404);
    assert.equal((await h.rest('DELETE', `/v1/upstreams/${c.json.id}`)).status, 404);
  });

  it('lists page with limit and a next cursor', async () => {
    for (let i = 0; i < 5; i++) assert.equal((await h.rest('POST', '/v1/consumers', { username: `pager-${i}` })).status, 201);
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const r = await h.rest('GET', `/v1/consumers?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      assert.equal(r.status, 200);
      assert.ok(r.json.data.length <= 2);
      seen.push(...r.json.data.map((c: { username: string }) => c.username));
      cursor = r.json.next;
    } while (cursor);
    for (let i = 0; i < 5; i++) assert.ok(seen.includes(`pager-${i}`));
    assert.equal(new Set(seen).size, seen.length);
    assert.equal((await h.rest('GET', '/v1/consumers?limit=0')).status, 400);
    assert.equal((await h.rest('GET', '/v1/consumers?limit=abc')).status, 400);
    assert.equal((await h.rest('GET', '/v1/consumers?cursor=%%%')).status, 400);
  });

  it('services and routes: CRUD with references, 422 for a missing reference, 409 in-use deletes', async () => {
    const up = (await h.rest('POST', '/v1/upstreams', upstreamBody('up-ref'))).json;
    const missing = await h.rest('POST', '/v1/services', { name: 'svc-bad', upstream_id: '00000000-0000-4000-8000-000000000000' });
    assert.equal(missing.status, 422);
    assert.equal(missing.json.error.code, 'TP_ERR_UNPROCESSABLE');
    assert.deepEqual(missing.json.error.fields.map((f: { path: string }) => f.path), ['/upstream_id']);

    const svc = await h.rest('POST', '/v1/services', { name: 'svc-ref', upstream_id: up.id });
    assert.equal(svc.status, 201);
    assert.equal(svc.json.base_path, '');

    const rMissing = await h.rest('POST', '/v1/routes', { name: 'r-bad', service_id: '00000000-0000-4000-8000-000000000000', paths: ['/x'] });
    assert.equal(rMissing.status, 422);
    assert.equal(rMissing.json.error.fields[0].path, '/service_id');

    const route = await h.rest('POST', '/v1/routes', { name: 'r-ref', service_id: svc.json.id, paths: ['/ref/{id}'], methods: ['GET'] });
    assert.equal(route.status, 201);
    assert.deepEqual(route.json.hosts, []);
    assert.equal(route.json.priority, 0);
    assert.equal(route.json.strip_path, false);
    assert.deepEqual(route.json.plugins, {});

    const upInUse = await h.rest('DELETE', `/v1/upstreams/${up.id}`);
    assert.equal(upInUse.status, 409);
    assert.equal(upInUse.json.error.code, 'TP_ERR_IN_USE');
    const svcInUse = await h.rest('DELETE', `/v1/services/${svc.json.id}`);
    assert.equal(svcInUse.status, 409);
    assert.equal(svcInUse.json.error.code, 'TP_ERR_IN_USE');

    const patched = await h.rest('PATCH', `/v1/routes/${route.json.id}`, { plugins: { 'key-auth': {} } });
    assert.equal(patched.status, 200);
    assert.deepEqual(patched.json.plugins, { 'key-auth': {} });
    assert.deepEqual(patched.json.paths, ['/ref/{id}']);
    const badRef = await h.rest('PATCH', `/v1/services/${svc.json.id}`, { upstream_id: '00000000-0000-4000-8000-000000000001' });
    assert.equal(badRef.status, 422);

    assert.equal((await h.rest('DELETE', `/v1/routes/${route.json.id}`)).status, 204);
    assert.equal((await h.rest('DELETE', `/v1/services/${svc.json.id}`)).status, 204);
    assert.equal((await h.rest('DELETE', `/v1/upstreams/${up.id}`)).status, 204);
  });

  it('409 for duplicate names and conflicting routes', async () => {
    assert.equal((await h.rest('POST', '/v1/upstreams', upstreamBody('dup'))).status, 201);
    const dup = await h.rest('POST', '/v1/upstreams', upstreamBody('dup'));
    assert.equal(dup.status, 409);
    assert.equal(dup.json.error.code, 'TP_ERR_CONFLICT');
    assert.equal(dup.json.error.fields[0].path, '/name');

    const up = (await h.rest('POST', '/v1/upstreams', upstreamBody('up-conf'))).json;
    const svc = (await h.rest('POST', '/v1/services', { name: 'svc-conf', upstream_id: up.id })).json;
    const base = { service_id: svc.id, paths: ['/orders/{id}'], methods: ['GET', 'POST'], hosts: ['api.example.com'] };
    assert.equal((await h.rest('POST', '/v1/routes', { ...base, name: 'conf-a' })).status, 201);
    // Hosts compare case-insensitively; a host-less route would not clash (the host route wins over it).
    const clash = await h.rest('POST', '/v1/routes', { ...base, name: 'conf-b', paths: ['/orders/{order}/'], methods: ['POST'], hosts: ['API.example.com', 'x.test'] });
    assert.equal(clash.status, 409);
    assert.equal(clash.json.error.code, 'TP_ERR_CONFLICT');
    // Different priority, or disjoint methods, is fine.
    assert.equal((await h.rest('POST', '/v1/routes', { ...base, name: 'conf-c', priority: 5 })).status, 201);
    const other = await h.rest('POST', '/v1/routes', { ...base, name: 'conf-d', methods: ['DELETE'] });
    assert.equal(other.status, 201);
    // Updating into a conflict is refused too.
    const upd = await h.rest('PATCH', `/v1/routes/${other.json.id}`, { methods: [] });
    assert.equal(upd.status, 409);
  });

  it('400 for malformed JSON and schema errors with field paths; 404 for unknown and malformed ids', async () => {
    const bad = await h.rest('POST', '/v1/upstreams', '{"name": ');
    assert.equal(bad.status, 400);
    assert.equal(bad.json.error.code, 'TP_ERR_BAD_JSON');

    const invalid = await h.rest('POST', '/v1/upstreams', { name: 'bad name!', targets: [{ host: 'a', port: 70000 }], extra: 1 });
    assert.equal(invalid.status, 400);
    assert.equal(invalid.json.error.code, 'TP_ERR_VALIDATION');
    const paths = invalid.json.error.fields.map((f: { path: string }) => f.path).sort();
    assert.deepEqual(paths, ['/extra', '/name', '/targets/0/port']);

    const methods = await h.rest('POST', '/v1/routes', { name: 'm', service_id: '00000000-0000-4000-8000-000000000000', paths: ['/'], methods: ['FETCH'] });
    assert.equal(methods.status, 400);
    assert.equal(methods.json.error.fields[0].path, '/methods/0');
    assert.match(methods.json.error.fields[0].message, /must be one of/);

    const missing = await h.rest('POST', '/v1/upstreams', {});
    assert.deepEqual(missing.json.error.fields.map((f: { path: string }) => f.path).sort(), ['/name', '/targets']);

    const notArray = await h.rest('POST', '/v1/upstreams', []);
    assert.equal(notArray.status, 400);

    assert.equal((await h.rest('GET', '/v1/upstreams/00000000-0000-4000-8000-000000000000')).status, 404);
    const malformed = await h.rest('GET', '/v1/upstreams/not-a-uuid');
    assert.equal(malformed.status, 404);
    assert.equal(malformed.json.error.code, 'TP_ERR_NOT_FOUND');
    assert.equal((await h.rest('PATCH', '/v1/routes/zzz', { name: 'x' })).status, 404);
    assert.equal((await h.rest('DELETE', '/v1/consumers/1234')).status, 404);

    const unknown = await h.rest('GET', '/v1/nothing-here');
    assert.equal(unknown.status, 404);
    assert.equal(unknown.json.error.code, 'TP_ERR_NOT_FOUND');

    const big = await h.rest('POST', '/v1/upstreams', JSON.stringify({ name: 'big', tags: ['x'.repeat(1024 * 1024)] }));
    assert.equal(big.status, 413);
    assert.equal(big.json.error.code, 'TP_ERR_BODY_TOO_LARGE');

    const charset = await h.rest('POST', '/v1/upstreams', upstreamBody('charset-ok'), { 'content-type': 'application/json; charset=utf-8' });
    assert.equal(charset.status, 201);
    const nul = await h.rest('POST', '/v1/upstreams', 'null');
    assert.equal(nul.status, 400);
    assert.equal(nul.json.error.code, 'TP_ERR_VALIDATION');

    const text = await h.rest('POST', '/v1/upstreams', 'name=x', { 'content-type': 'text/plain' });
    assert.equal(text.status, 400);
    assert.equal(text.json.error.code, 'TP_ERR_BAD_REQUEST');
  });

  it('API keys: the clear key is shown once and stored as sha256 + prefix; consumer delete removes keys', async () => {
    const consumer = (await h.rest('POST', '/v1/consumers', { username: 'key-owner', custom_id: 'ext-1' })).json;
    const created = await h.rest('POST', `/v1/consumers/${consumer.id}/keys`, { name: 'main' });
    assert.equal(created.status, 201);
    const key: string = created.json.key;
    assert.match(key, /^tp_[A-Za-z0-9_-]{43}$/);
    assert.equal(created.json.prefix, key.slice(0, 8));

    const [row] = await h.sql<{ key_sha256: string; prefix: string }[]>`SELECT * FROM api_keys WHERE id = ${created.json.id}`;
    assert.equal(row!.key_sha256, createHash('sha256').update(key).digest('hex'));
    assert.equal(row!.prefix, key.slice(0, 8));
    const dump = JSON.stringify(await h.sql`SELECT * FROM api_keys`) + JSON.stringify(await h.sql`SELECT payload FROM outbox`);
    assert.ok(!dump.includes(key), 'the clear key must not be stored anywhere');

    const got = await h.rest('GET', `/v1/consumers/${consumer.id}/keys/${created.json.id}`);
    assert.equal(got.status, 200);
    assert.equal(got.json.key, undefined);
    const list = await h.rest('GET', `/v1/consumers/${consumer.id}/keys`);
    assert.equal(list.json.data.length, 1);
    assert.equal(list.json.data[0].key, undefined);

    const own = await h.rest('POST', `/v1/consumers/${consumer.id}/keys`, { key: 'my-own-key-0123456789' });
    assert.equal(own.status, 201);
    assert.equal(own.json.key, 'my-own-key-0123456789');
    const dupKey = await h.rest('POST', `/v1/consumers/${consumer.id}/keys`, { key: 'my-own-key-0123456789' });
    assert.equal(dupKey.status, 409);
    const noBody = await h.rest('POST', `/v1/consumers/${consumer.id}/keys`);
    assert.equal(noBody.status, 201);

    assert.equal((await h.rest('DELETE', `/v1/consumers/${consumer.id}/keys/${own.json.id}`)).status, 204);
    assert.equal((await h.rest('GET', `/v1/consumers/${consumer.id}/keys/${own.json.id}`)).status, 404);
    assert.equal((await h.rest('POST', '/v1/consumers/00000000-0000-4000-8000-000000000000/keys', {})).status, 404);

    const patched = await h.rest('PATCH', `/v1/consumers/${consumer.id}`, { tags: ['gold'] });
    assert.equal(patched.json.custom_id, 'ext-1');
    assert.equal((await h.rest('DELETE', `/v1/consumers/${consumer.id}`)).status, 204);
    const left = await h.sql`SELECT id FROM api_keys WHERE consumer_id = ${consumer.id}`;
    assert.equal(left.length, 0);
    const dels = await h.sql`SELECT entity_id FROM outbox WHERE kind = 'keys' AND op = 'del'`;
    assert.ok(dels.length >= 3);
  });

  it('API key expiry: set on create, changed and cleared by PATCH (the key itself cannot change), published to the nodes', async () => {
    const consumer = (await h.rest('POST', '/v1/consumers', { username: 'rotating-owner' })).json;
    const keys = `/v1/consumers/${consumer.id}/keys`;
    const old = await h.rest('POST', keys, { name: 'old' });
    assert.equal(old.status, 201);
    assert.equal(old.json.expires_at, null, 'no expiry unless given');
    const expires = '2030-01-02T03:04:05.000Z';
    const next = await h.rest('POST', keys, { name: 'new', expires_at: expires });
    assert.equal(next.status, 201);
    assert.equal(next.json.expires_at, expires);
    assert.equal((await h.rest('POST', keys, { expires_at: 'tomorrow' })).status, 400, 'a schema error');

    // Rotation with overlap: the old key gets an expiry once the new one is out.
    const rotated = await h.rest('PATCH', `${keys}/${old.json.id}`, { expires_at: '2029-06-01T00:00:00Z' });
    assert.equal(rotated.status, 200);
    assert.equal(rotated.json.expires_at, '2029-06-01T00:00:00.000Z');
    assert.equal(rotated.json.name, 'old', 'a patch changes only what it names');
    assert.equal(rotated.json.key, undefined);
    assert.ok(rotated.headers.get('etag'), 'versioned like every entity');
    const published = await h.sql<{ payload: { data?: Record<string, unknown> } }[]>`
      SELECT payload FROM outbox WHERE kind = 'keys' AND entity_id = ${old.json.id} AND op = 'put' ORDER BY id DESC LIMIT 1`;
    assert.equal(published[0]!.payload.data?.expires_at, '2029-06-01T00:00:00.000Z', 'the nodes receive the expiry');
    assert.equal((await h.rest('GET', `${keys}/${old.json.id}`)).json.expires_at, '2029-06-01T00:00:00.000Z');

    const cleared = await h.rest('PATCH', `${keys}/${old.json.id}`, { expires_at: null });
    assert.equal(cleared.json.expires_at, null);
    const unpublished = await h.sql<{ payload: { data?: Record<string, unknown> } }[]>`
      SELECT payload FROM outbox WHERE kind = 'keys' AND entity_id = ${old.json.id} AND op = 'put' ORDER BY id DESC LIMIT 1`;
    assert.equal(unpublished[0]!.payload.data?.expires_at, undefined, 'no expiry: the field is left out');
    assert.equal((await h.rest('PATCH', `${keys}/${old.json.id}`, { key: 'another-key-0123456789' })).status, 400, 'the key cannot change');
    assert.equal((await h.rest('PATCH', `${keys}/${old.json.id}`, { expires_at: 'soon' })).status, 400);
    assert.equal((await h.rest('PATCH', `${keys}/00000000-0000-4000-8000-000000000000`, { expires_at: null })).status, 404);
    assert.equal((await h.rest('DELETE', `/v1/consumers/${consumer.id}`)).status, 204);
  });

  it('status reports config and published revisions', async () => {
    const r = await h.rest('GET', '/v1/status');
    assert.equal(r.status, 200);
    assert.ok(r.json.config_revision > 0);
    assert.ok(r.json.published_revision <= r.json.config_revision);
  });

  it('analytics endpoints answer 503 without a store, 400 for bad parameters', async () => {
    const r = await h.rest('GET', '/v1/analytics/calls');
    assert.equal(r.status, 503);
    assert.equal(r.json.error.code, 'TP_ERR_UNAVAILABLE');
    assert.equal((await h.rest('GET', '/v1/analytics/trend')).status, 503);
    const bad = await h.rest('GET', '/v1/analytics/calls?from=yesterday&status_class=9');
    assert.equal(bad.status, 400);
    assert.deepEqual(bad.json.error.fields.map((f: { path: string }) => f.path).sort(), ['/from', '/status_class']);
  });

  it('openapi.json is public, OpenAPI 3 and lists every path', async () => {
    const res = await fetch(`http://127.0.0.1:${h.cp.restPort}/v1/openapi.json`);
    assert.equal(res.status, 200);
    const doc = (await res.json()) as { openapi: string; paths: Record<string, Record<string, unknown>>; components: { schemas: Record<string, unknown> } };
    assert.match(doc.openapi, /^3\./);
    for (const p of ['/v1/upstreams', '/v1/upstreams/{id}', '/v1/services', '/v1/services/{id}', '/v1/routes', '/v1/routes/{id}', '/v1/consumers', '/v1/consumers/{id}', '/v1/consumers/{id}/keys', '/v1/consumers/{id}/keys/{keyId}', '/v1/status', '/v1/analytics/calls', '/v1/analytics/trend', '/v1/analytics/timeseries', '/v1/analytics/top', '/v1/analytics/consumers/{id}']) {
      assert.ok(doc.paths[p], `missing ${p}`);
    }
    assert.ok(doc.paths['/v1/upstreams']!.post);
    assert.ok(doc.paths['/v1/upstreams/{id}']!.patch);
    for (const s of ['Upstream', 'UpstreamCreate', 'UpstreamUpdate', 'Route', 'ApiKeyCreated', 'Error']) assert.ok(doc.components.schemas[s], `missing schema ${s}`);
    const refs = JSON.stringify(doc).match(/#\/components\/schemas\/(\w+)/g) ?? [];
    for (const r of refs) assert.ok(doc.components.schemas[r.split('/').pop()!], `dangling ${r}`);
  });
});
