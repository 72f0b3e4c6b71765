// Plugins over REST against real PostgreSQL and NATS: CRUD, the type's config schema with defaults and
// `/config/...` field paths, scope rules per type, one instance per type and exact scope, cascades when the
// service/route/consumer goes (KV key removed), and GET /v1/plugin-types.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { status } from '@grpc/grpc-js';
import { PLUGIN_TYPE_NAMES } from '@turnpike/common';
import { waitFor } from '@turnpike/common/testing';
import { failure, serviceClient } from './grpc-client.js';
import { startHarness, type Harness, type RestResponse } from './support.js';

describe('plugins (REST)', { timeout: 90_000 }, () => {
  let h: Harness;
  let serviceId = '';
  let n = 0;
  const uniq = (p: string) => `${p}-${n++}`;
  const ok = (r: RestResponse, status: number) => {
    assert.equal(r.status, status, `${status} expected: ${r.text}`);
    return r;
  };
  const kv = async (key: string) => {
    const v = await h.bus.get(key);
    return v === null ? null : (JSON.parse(v) as { kind: string; revision: number; data: Record<string, unknown> });
  };
  const fields = (r: RestResponse) => r.json.error.fields as { path: string; message: string }[];
  const route = async () => ok(await h.rest('POST', '/v1/routes', { name: uniq('r'), service_id: serviceId, paths: [`/${uniq('p')}`] }), 201).json as { id: string };
  const service = async (): Promise<string> => {
    const u = ok(await h.rest('POST', '/v1/upstreams', { name: uniq('up'), targets: [{ host: '127.0.0.1', port: 9000 }] }), 201).json;
    return ok(await h.rest('POST', '/v1/services', { name: uniq('svc'), upstream_id: u.id }), 201).json.id as string;
  };
  const consumer = async () => ok(await h.rest('POST', '/v1/consumers', { username: uniq('c') }), 201).json as { id: string };

  before(async () => {
    h = await startHarness({ pollIntervalMs: 50 });
    const u = ok(await h.rest('POST', '/v1/upstreams', { name: 'plg-up', targets: [{ host: '127.0.0.1', port: 9000 }] }), 201);
    serviceId = ok(await h.rest('POST', '/v1/services', { name: 'plg-svc', upstream_id: u.json.id }), 201).json.id;
  });
  after(async () => {
    await h?.close();
  });

  it('create fills the defaults of the plugin and of its type config; read, list by type, update, delete; reaches the bus', async () => {
    const p = ok(await h.rest('POST', '/v1/plugins', { type: 'request-size-limiting', scope: { service_id: serviceId.toUpperCase() } }), 201);
    assert.equal(p.headers.get('location'), `/v1/plugins/${p.json.id}`);
    assert.deepEqual(
      { ...p.json, id: 0, created_at: 0, updated_at: 0 },
      { id: 0, type: 'request-size-limiting', enabled: true, scope: { service_id: serviceId }, config: { max_body_bytes: 1048576 }, tags: [], created_at: 0, updated_at: 0 },
    );
    ok(await h.rest('GET', `/v1/plugins/${p.json.id}`), 200);
    const ka = ok(await h.rest('POST', '/v1/plugins', { name: 'everyone-needs-a-key', type: 'key-auth' }), 201).json;
    assert.deepEqual(ka.config, { header_names: ['apikey', 'x-api-key'], hide_credentials: true });
    assert.deepEqual(ka.scope, {});
    const list = ok(await h.rest('GET', '/v1/plugins?type=key-auth'), 200).json.data.map((x: { id: string }) => x.id);
    assert.deepEqual(list, [ka.id]);
    assert.deepEqual(ok(await h.rest('GET', '/v1/plugins?name=everyone-needs-a-key'), 200).json.data.map((x: { id: string }) => x.id), [ka.id]);

    const up = ok(await h.rest('PATCH', `/v1/plugins/${p.json.id}`, { enabled: false, config: { max_body_bytes: 10 } }), 200).json;
    assert.equal(up.enabled, false);
    assert.deepEqual(up.config, { max_body_bytes: 10 });
    assert.deepEqual(up.scope, { service_id: serviceId }, 'a patch keeps the fields it does not send');
    await waitFor('bus', async () => ((await kv(`plugins.${p.json.id}`))?.data.enabled === false) || null);
    assert.deepEqual((await kv(`plugins.${p.json.id}`))?.data.config, { max_body_bytes: 10 });

    ok(await h.rest('DELETE', `/v1/plugins/${p.json.id}`), 204);
    ok(await h.rest('DELETE', `/v1/plugins/${ka.id}`), 204);
    ok(await h.rest('GET', `/v1/plugins/${p.json.id}`), 404);
    await waitFor('bus', async () => ((await kv(`plugins.${p.json.id}`)) === null && (await kv(`plugins.${ka.id}`)) === null) || null);
  });

  it('an unknown type is 422 at /type listing the known types', async () => {
    const r = ok(await h.rest('POST', '/v1/plugins', { type: 'rate-limiting-advanced' }), 422);
    assert.equal(r.json.error.code, 'TP_ERR_UNPROCESSABLE');
    const known = PLUGIN_TYPE_NAMES.map((t) => JSON.stringify(t)).join(', ');
    assert.ok(known.startsWith('"key-auth", "request-size-limiting", '), known);
    assert.deepEqual(fields(r), [{ path: '/type', message: `must be one of: ${known}` }]);
    assert.ok(r.json.error.message.endsWith(`known types: ${known}`), r.json.error.message);
  });

  it('config errors carry /config/... field paths; the plugin document itself is schema-checked', async () => {
    const wrong = ok(await h.rest('POST', '/v1/plugins', { type: 'request-size-limiting', config: { max_body_bytes: -1 } }), 400);
    assert.equal(wrong.json.error.code, 'TP_ERR_VALIDATION');
    assert.deepEqual(fields(wrong).map((f) => f.path), ['/config/max_body_bytes']);
    const typed = ok(await h.rest('POST', '/v1/plugins', { type: 'request-size-limiting', config: { max_body_bytes: 'big' } }), 400);
    assert.deepEqual(fields(typed).map((f) => f.path), ['/config/max_body_bytes']);
    const extra = ok(await h.rest('POST', '/v1/plugins', { type: 'key-auth', config: { header_names: [], colour: 'red' } }), 400);
    assert.deepEqual(fields(extra).map((f) => f.path).sort(), ['/config/colour', '/config/header_names']);
    const nested = ok(await h.rest('POST', '/v1/plugins', { type: 'key-auth', config: { header_names: ['ok', 'not ok'] } }), 400);
    assert.deepEqual(fields(nested).map((f) => f.path), ['/config/header_names/1']);
    const doc = ok(await h.rest('POST', '/v1/plugins', { type: 'key-auth', enabled: 'yes', scope: { route_id: 'nope', owner: 'x' } }), 400);
    assert.deepEqual(fields(doc).map((f) => f.path).sort(), ['/enabled', '/scope/owner', '/scope/route_id']);
    ok(await h.rest('POST', '/v1/plugins', {}), 400);
    // A PATCH is checked against the type too.
    const p = ok(await h.rest('POST', '/v1/plugins', { type: 'request-size-limiting', scope: { route_id: (await route()).id } }), 201).json;
    const bad = ok(await h.rest('PATCH', `/v1/plugins/${p.id}`, { config: { max_body_bytes: 1.5 } }), 400);
    assert.deepEqual(fields(bad).map((f) => f.path), ['/config/max_body_bytes']);
    const typeChange = ok(await h.rest('PATCH', `/v1/plugins/${p.id}`, { type: 'key-auth' }), 422);
    assert.deepEqual(fields(typeChange), [{ path: '/type', message: 'cannot change after creation' }]);
  });

  it('scope rules: at most one of service/route; consumer only for types that allow it; referenced entities must exist', async () => {
    const r = await route();
    const c = await consumer();
    const both = ok(await h.rest('POST', '/v1/plugins', { type: 'request-size-limiting', scope: { service_id: serviceId, route_id: r.id } }), 422);
    assert.deepEqual(fields(both).map((f) => f.path), ['/scope']);
    const kaConsumer = ok(await h.rest('POST', '/v1/plugins', { type: 'key-auth', scope: { consumer_id: c.id } }), 422);
    assert.deepEqual(fields(kaConsumer), [{ path: '/scope', message: 'key-auth cannot be attached at scope consumer; allowed: global, service, route' }]);
    ok(await h.rest('POST', '/v1/plugins', { type: 'key-auth', scope: { route_id: r.id, consumer_id: c.id } }), 422);
    const missing = '00000000-0000-4000-8000-00000000dead';
    const gone = ok(await h.rest('POST', '/v1/plugins', { type: 'request-size-limiting', scope: { route_id: missing, consumer_id: c.id } }), 422);
    assert.deepEqual(fields(gone).map((f) => f.path), ['/scope/route_id']);
    // Every allowed combination of request-size-limiting.
    for (const scope of [{ consumer_id: c.id }, { service_id: serviceId, consumer_id: c.id }, { route_id: r.id, consumer_id: c.id }, { route_id: r.id }]) {
      ok(await h.rest('POST', '/v1/plugins', { type: 'request-size-limiting', scope, config: { max_body_bytes: 5 } }), 201);
    }
    // The scope may move (unlike the type), within the type's rules.
    const moved = ok(await h.rest('POST', '/v1/plugins', { type: 'key-auth', scope: { route_id: r.id } }), 201).json;
    ok(await h.rest('PATCH', `/v1/plugins/${moved.id}`, { scope: { consumer_id: c.id } }), 422);
    const other = await service();
    assert.deepEqual(ok(await h.rest('PATCH', `/v1/plugins/${moved.id}`, { scope: { service_id: other } }), 200).json.scope, { service_id: other });
  });

  it('one plugin of a type per exact scope: a second is 409; another scope or type is fine', async () => {
    const r = await route();
    ok(await h.rest('POST', '/v1/plugins', { type: 'key-auth', scope: { route_id: r.id } }), 201);
    const dup = ok(await h.rest('POST', '/v1/plugins', { type: 'key-auth', scope: { route_id: r.id.toUpperCase() }, enabled: false }), 409);
    assert.equal(dup.json.error.code, 'TP_ERR_CONFLICT');
    assert.deepEqual(fields(dup), [{ path: '/scope', message: 'is already taken' }]);
    ok(await h.rest('POST', '/v1/plugins', { type: 'request-size-limiting', scope: { route_id: r.id } }), 201);
    const other = ok(await h.rest('POST', '/v1/plugins', { type: 'key-auth', scope: { service_id: serviceId } }), 201).json;
    // Moving onto a taken scope is a conflict too.
    const r2 = await route();
    const p2 = ok(await h.rest('POST', '/v1/plugins', { type: 'key-auth', scope: { route_id: r2.id } }), 201).json;
    ok(await h.rest('PATCH', `/v1/plugins/${p2.id}`, { scope: { route_id: r.id } }), 409);
    ok(await h.rest('DELETE', `/v1/plugins/${other.id}`), 204);
    ok(await h.rest('POST', '/v1/plugins', { type: 'key-auth', scope: { service_id: serviceId } }), 201);
  });

  it('deleting a route, consumer or service deletes the plugins attached to it (KV keys removed)', async () => {
    const r = await route();
    const c = await consumer();
    const onRoute = ok(await h.rest('POST', '/v1/plugins', { type: 'request-size-limiting', scope: { route_id: r.id } }), 201).json;
    const onConsumer = ok(await h.rest('POST', '/v1/plugins', { type: 'request-size-limiting', scope: { consumer_id: c.id } }), 201).json;
    await waitFor('bus', async () => ((await kv(`plugins.${onRoute.id}`)) !== null && (await kv(`plugins.${onConsumer.id}`)) !== null) || null);
    ok(await h.rest('DELETE', `/v1/routes/${r.id}`), 204);
    ok(await h.rest('GET', `/v1/plugins/${onRoute.id}`), 404);
    await waitFor('route plugin gone from KV', async () => ((await kv(`plugins.${onRoute.id}`)) === null) || null);
    ok(await h.rest('DELETE', `/v1/consumers/${c.id}`), 204);
    ok(await h.rest('GET', `/v1/plugins/${onConsumer.id}`), 404);
    await waitFor('consumer plugin gone from KV', async () => ((await kv(`plugins.${onConsumer.id}`)) === null) || null);

    const svc = await service();
    const onService = ok(await h.rest('POST', '/v1/plugins', { type: 'key-auth', scope: { service_id: svc } }), 201).json;
    ok(await h.rest('DELETE', `/v1/services/${svc}`), 204);
    ok(await h.rest('GET', `/v1/plugins/${onService.id}`), 404);
    await waitFor('service plugin gone from KV', async () => ((await kv(`plugins.${onService.id}`)) === null) || null);
  });

  it('gRPC PluginService: config as a Struct with defaults filled, list by type, masked update, the same checks and entity as REST', async () => {
    const { call, close } = serviceClient(h.cp.grpcPort, 'PluginService', h.token);
    try {
      const r = await route();
      const struct = (o: Record<string, number>) => ({ fields: Object.fromEntries(Object.entries(o).map(([k, v]) => [k, { numberValue: v }])) });
      const p = await call('CreatePlugin', { type: 'request-size-limiting', scope: { route_id: r.id }, config: struct({ max_body_bytes: 2048 }), tags: ['grpc'] });
      assert.equal(p.enabled, true);
      assert.deepEqual(p.scope, { route_id: r.id });
      assert.deepEqual(p.config, struct({ max_body_bytes: 2048 }));
      const rest = ok(await h.rest('GET', `/v1/plugins/${String(p.id)}`), 200);
      assert.deepEqual(rest.json.config, { max_body_bytes: 2048 });
      assert.equal(rest.headers.get('etag'), `"${String(p.version)}"`);
      const defaults = await call('CreatePlugin', { type: 'key-auth', scope: { route_id: r.id } });
      assert.equal(((defaults.config as { fields: Record<string, { boolValue?: boolean }> }).fields.hide_credentials)?.boolValue, true);
      const listed = (await call('ListPlugins', { type: 'request-size-limiting', tag: 'grpc' })).data as { id: string }[];
      assert.deepEqual(listed.map((x) => x.id), [p.id]);
      const off = await call('UpdatePlugin', { id: p.id, plugin: { enabled: false }, update_mask: ['enabled'] });
      assert.equal(off.enabled ?? false, false);
      assert.deepEqual(off.config, p.config, 'the mask leaves config alone');
      const bad = await failure(call('UpdatePlugin', { id: p.id, plugin: { config: struct({ max_body_bytes: -5 }) }, update_mask: ['config'] }));
      assert.equal(bad.code, status.INVALID_ARGUMENT);
      assert.match(bad.details, /\/config\/max_body_bytes/);
      assert.equal((await failure(call('CreatePlugin', { type: 'nope' }))).code, status.FAILED_PRECONDITION);
      assert.equal((await failure(call('CreatePlugin', { type: 'key-auth', scope: { route_id: r.id } }))).code, status.ALREADY_EXISTS);
      await call('DeletePlugin', { id: p.id });
      ok(await h.rest('GET', `/v1/plugins/${String(p.id)}`), 404);
    } finally {
      close();
    }
  });

  it('GET /v1/plugin-types lists every type with its config JSON Schema, scopes and phase; the OpenAPI document has it', async () => {
    const r = ok(await h.rest('GET', '/v1/plugin-types'), 200);
    const types = r.json.data as { name: string; scopes: string[]; phase: string; description: string; config_schema: Record<string, unknown> }[];
    assert.deepEqual(types.map((t) => t.name), PLUGIN_TYPE_NAMES);
    assert.deepEqual(types.slice(0, 2).map((t) => t.name), ['key-auth', 'request-size-limiting']);
    const size = types[1]!;
    assert.deepEqual(size.scopes, ['global', 'service', 'route', 'consumer']);
    assert.equal(size.phase, 'access');
    assert.deepEqual(size.config_schema, {
      type: 'object',
      additionalProperties: false,
      required: ['max_body_bytes'],
      properties: { max_body_bytes: { type: 'integer', minimum: 0, maximum: 1073741824, default: 1048576 } },
    });
    assert.deepEqual(types[0]!.scopes, ['global', 'service', 'route']);
    assert.equal(types[0]!.phase, 'auth');
    ok(await h.rest('GET', '/v1/plugin-types', undefined, { authorization: 'Bearer nope' }), 401);
    const doc = ok(await h.rest('GET', '/v1/openapi.json'), 200).json;
    assert.ok(doc.paths['/v1/plugin-types']?.get, 'plugin-types path in the OpenAPI document');
    assert.ok(doc.paths['/v1/plugins']?.post && doc.paths['/v1/plugins/{id}']?.patch, 'plugin CRUD paths in the OpenAPI document');
  });
});
