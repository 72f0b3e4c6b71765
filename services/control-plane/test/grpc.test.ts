// The gRPC admin API through a real grpc-js client loading proto/turnpike/admin/v1/admin.proto.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { status } from '@grpc/grpc-js';
import { adminClients, failure, type AdminClients } from './grpc-client.js';
import { startHarness, type Harness } from './support.js';

const NIL = '00000000-0000-4000-8000-000000000000';

describe('gRPC admin API', { timeout: 60_000 }, () => {
  let h: Harness;
  let c: AdminClients;
  before(async () => {
    h = await startHarness();
    c = adminClients(h.cp.grpcPort, h.token);
  });
  after(async () => {
    c?.close();
    await h?.close();
  });

  it('UNAUTHENTICATED without or with a wrong token', async () => {
    const none = await failure(c.upstreams('ListUpstreams', {}, null));
    assert.equal(none.code, status.UNAUTHENTICATED);
    assert.deepEqual(none.metadata.get('tp-error-code'), ['TP_ERR_AUTH_REQUIRED']);
    const wrong = await failure(c.upstreams('ListUpstreams', {}, 'nope'));
    assert.equal(wrong.code, status.UNAUTHENTICATED);
    assert.match(wrong.details, /^TP_ERR_AUTH_TOKEN_INVALID: /);
  });

  it('upstreams, services and routes: create, get, list, masked update, delete', async () => {
    const up = await c.upstreams('CreateUpstream', { name: 'g-up', targets: [{ host: '10.0.0.1', port: 80 }], tags: ['a'] });
    assert.equal(up.scheme, 'http');
    assert.deepEqual(up.targets, [{ host: '10.0.0.1', port: 80, weight: 100 }]);
    assert.deepEqual(await c.upstreams('GetUpstream', { id: up.id }), up);
    // The REST view of the same entity is identical (a REST null is an unset field on the wire); REST
    // carries the version as the ETag.
    const { version, ...fields } = up;
    const viaRest = await h.rest('GET', `/v1/upstreams/${String(up.id)}`);
    assert.deepEqual(Object.fromEntries(Object.entries(viaRest.json as Record<string, unknown>).filter(([, v]) => v !== null)), fields);
    assert.equal(version, 1);
    assert.equal(viaRest.headers.get('etag'), '"1"');

    const masked = await c.upstreams('UpdateUpstream', { id: up.id, upstream: { read_timeout_ms: 999 }, update_mask: ['read_timeout_ms', 'tags'] });
    assert.equal(masked.read_timeout_ms, 999);
    assert.equal(masked.tags, undefined, 'tags named in the mask and unset are cleared');
    const unmasked = await c.upstreams('UpdateUpstream', { id: up.id, upstream: { name: 'g-up2' } });
    assert.equal(unmasked.name, 'g-up2');
    assert.equal(unmasked.read_timeout_ms, 999);
    const badMask = await failure(c.upstreams('UpdateUpstream', { id: up.id, upstream: {}, update_mask: ['nope'] }));
    assert.equal(badMask.code, status.INVALID_ARGUMENT);

    const svc = await c.services('CreateService', { name: 'g-svc', upstream_id: up.id, base_path: '/api' });
    assert.equal(svc.base_path, '/api');
    assert.equal(svc.lifecycle, 'published');
    assert.equal(svc.api_version ?? '', '');
    assert.equal(svc.openapi_json, undefined);
    const labelled = await c.services('UpdateService', {
      id: svc.id,
      service: { lifecycle: 'deprecated', api_version: 'v2', sunset_at: '2027-01-01T00:00:00Z', openapi_json: '{"openapi":"3.1.0"}' },
    });
    assert.equal(labelled.lifecycle, 'deprecated');
    assert.equal(labelled.api_version, 'v2');
    assert.equal(labelled.sunset_at, '2027-01-01T00:00:00.000Z');
    assert.deepEqual(JSON.parse(String(labelled.openapi_json)), { openapi: '3.1.0' });
    const viaRestSvc = await h.rest('GET', `/v1/services/${String(svc.id)}`);
    assert.equal(viaRestSvc.json.version, 'v2');
    assert.deepEqual(viaRestSvc.json.openapi, { openapi: '3.1.0' });
    const backToDraft = await failure(c.services('UpdateService', { id: svc.id, service: { lifecycle: 'draft' } }));
    assert.deepEqual(backToDraft.metadata.get('tp-error-code'), ['TP_ERR_CONFLICT']);
    const unlabelled = await c.services('UpdateService', { id: svc.id, service: { lifecycle: 'published', openapi_json: '', sunset_at: '' } });
    assert.equal(unlabelled.openapi_json, undefined);
    assert.equal(unlabelled.sunset_at, undefined);
    const route = await c.routes('CreateRoute', {
      name: 'g-route',
      service_id: svc.id,
      paths: ['/g/{id}'],
      methods: ['GET'],
      plugins: { key_auth: { header_names: ['x-key'] } },
    });
    assert.deepEqual(route.plugins, { key_auth: { header_names: ['x-key'], hide_credentials: true } });
    assert.deepEqual((await h.rest('GET', `/v1/routes/${String(route.id)}`)).json.plugins, { 'key-auth': { header_names: ['x-key'], hide_credentials: true } });
    const listed = await c.routes('ListRoutes', { limit: 10 });
    assert.ok((listed.data as Array<{ id: string }>).some((r) => r.id === route.id));
    assert.equal(listed.next, '', 'an empty next marks the last page');

    const inUse = await failure(c.upstreams('DeleteUpstream', { id: up.id }));
    assert.equal(inUse.code, status.ABORTED);
    assert.deepEqual(inUse.metadata.get('tp-error-code'), ['TP_ERR_IN_USE']);

    await c.routes('DeleteRoute', { id: route.id });
    await c.services('DeleteService', { id: svc.id });
    await c.upstreams('DeleteUpstream', { id: up.id });
    assert.equal((await failure(c.upstreams('GetUpstream', { id: up.id }))).code, status.NOT_FOUND);
  });

  it('maps validation, not-found, conflict and reference errors to gRPC statuses', async () => {
    const invalid = await failure(c.upstreams('CreateUpstream', { name: 'g bad', targets: [{ host: 'h', port: 70000 }] }));
    assert.equal(invalid.code, status.INVALID_ARGUMENT);
    const fields = JSON.parse(String(invalid.metadata.get('tp-error-fields')[0])) as Array<{ path: string }>;
    assert.deepEqual(fields.map((f) => f.path).sort(), ['/name', '/targets/0/port']);
    assert.match(invalid.details, /TP_ERR_VALIDATION: .*\/targets\/0\/port/);

    assert.equal((await failure(c.upstreams('GetUpstream', { id: 'not-a-uuid' }))).code, status.NOT_FOUND);
    assert.equal((await failure(c.upstreams('GetUpstream', { id: NIL }))).code, status.NOT_FOUND);
    assert.equal((await failure(c.upstreams('GetUpstream', {}))).code, status.NOT_FOUND);

    const up = await c.upstreams('CreateUpstream', { name: 'g-dup', targets: [{ host: 'h', port: 1 }] });
    const dup = await failure(c.upstreams('CreateUpstream', { name: 'g-dup', targets: [{ host: 'h', port: 1 }] }));
    assert.equal(dup.code, status.ALREADY_EXISTS);
    assert.deepEqual(dup.metadata.get('tp-error-code'), ['TP_ERR_CONFLICT']);

    const missing = await failure(c.services('CreateService', { name: 'g-orphan', upstream_id: NIL }));
    assert.equal(missing.code, status.FAILED_PRECONDITION);
    assert.deepEqual(missing.metadata.get('tp-error-code'), ['TP_ERR_UNPROCESSABLE']);

    const svc = await c.services('CreateService', { name: 'g-svc2', upstream_id: up.id });
    await c.routes('CreateRoute', { name: 'g-r1', service_id: svc.id, paths: ['/same'] });
    const clash = await failure(c.routes('CreateRoute', { name: 'g-r2', service_id: svc.id, paths: ['/same/'], methods: ['GET'] }));
    assert.equal(clash.code, status.ALREADY_EXISTS);
  });

  it('consumers and API keys: the clear key comes back once, stored hashed', async () => {
    const consumer = await c.consumers('CreateConsumer', { username: 'g-consumer', custom_id: 'g-ext' });
    assert.equal(consumer.custom_id, 'g-ext');
    const key = await c.consumers('CreateApiKey', { consumer_id: consumer.id, name: 'ci' });
    assert.match(String(key.key), /^tp_/);
    assert.equal(key.prefix, String(key.key).slice(0, 8));
    const [row] = await h.sql<{ key_sha256: string }[]>`SELECT key_sha256 FROM api_keys WHERE id = ${String(key.id)}`;
    assert.equal(row!.key_sha256, createHash('sha256').update(String(key.key)).digest('hex'));

    const got = await c.consumers('GetApiKey', { consumer_id: consumer.id, id: key.id });
    assert.equal(got.key, undefined);
    const list = await c.consumers('ListApiKeys', { consumer_id: consumer.id });
    assert.equal((list.data as unknown[]).length, 1);
    assert.equal((list.data as Array<{ key?: string }>)[0]!.key, undefined);

    const upd = await c.consumers('UpdateConsumer', { id: consumer.id, consumer: { tags: ['x'] } });
    assert.deepEqual(upd.tags, ['x']);
    assert.equal(upd.custom_id, 'g-ext');

    // Expiry: unset on a key without one; set, then cleared ("") by UpdateApiKey.
    assert.equal(got.expires_at, undefined);
    const expiring = await c.consumers('UpdateApiKey', { consumer_id: consumer.id, id: key.id, expires_at: '2030-01-01T00:00:00Z' });
    assert.equal(expiring.expires_at, '2030-01-01T00:00:00.000Z');
    assert.equal(expiring.name, 'ci');
    const cleared = await c.consumers('UpdateApiKey', { consumer_id: consumer.id, id: key.id, expires_at: '' });
    assert.equal(cleared.expires_at, undefined);
    const withExpiry = await c.consumers('CreateApiKey', { consumer_id: consumer.id, expires_at: '2031-01-01T00:00:00Z' });
    assert.equal(withExpiry.expires_at, '2031-01-01T00:00:00.000Z');
    await c.consumers('DeleteApiKey', { consumer_id: consumer.id, id: withExpiry.id });
    await c.consumers('DeleteApiKey', { consumer_id: consumer.id, id: key.id });
    assert.equal((await failure(c.consumers('GetApiKey', { consumer_id: consumer.id, id: key.id }))).code, status.NOT_FOUND);
    await c.consumers('CreateApiKey', { consumer_id: consumer.id });
    await c.consumers('DeleteConsumer', { id: consumer.id });
    assert.equal((await h.sql`SELECT id FROM api_keys WHERE consumer_id = ${String(consumer.id)}`).length, 0);
    assert.equal((await failure(c.consumers('ListApiKeys', { consumer_id: consumer.id }))).code, status.NOT_FOUND);
  });

  it('expected_version: updates and deletes are conditional, FAILED_PRECONDITION when stale', async () => {
    const up = await c.upstreams('CreateUpstream', { name: 'g-versioned', targets: [{ host: '10.0.0.9', port: 80 }] });
    assert.equal(up.version, 1);
    const v2 = await c.upstreams('UpdateUpstream', { id: up.id, upstream: { tags: ['a'] }, expected_version: 1 });
    assert.equal(v2.version, 2);
    const stale = await failure(c.upstreams('UpdateUpstream', { id: up.id, upstream: { tags: ['b'] }, expected_version: 1 }));
    assert.equal(stale.code, status.FAILED_PRECONDITION);
    assert.deepEqual(stale.metadata.get('tp-error-code'), ['TP_ERR_PRECONDITION_FAILED']);
    const staleDelete = await failure(c.upstreams('DeleteUpstream', { id: up.id, expected_version: 1 }));
    assert.equal(staleDelete.code, status.FAILED_PRECONDITION);
    // Unset means unconditional; REST sees the same version as its ETag.
    assert.equal((await c.upstreams('UpdateUpstream', { id: up.id, upstream: { tags: ['c'] } })).version, 3);
    assert.equal((await h.rest('GET', `/v1/upstreams/${String(up.id)}`)).headers.get('etag'), '"3"');
    await c.upstreams('DeleteUpstream', { id: up.id, expected_version: 3 });
    assert.equal((await failure(c.upstreams('GetUpstream', { id: up.id }))).code, status.NOT_FOUND);
  });
});
