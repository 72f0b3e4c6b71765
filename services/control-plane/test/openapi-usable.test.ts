// A service's OpenAPI document must be able to drive request validation once a `request-validation` plugin
// with source `openapi` reads it (docs/configuration.md, request-validation): refused with 422 on the service
// write (paths into the document under /openapi) and on the plugin write (at its scope field), for plugins
// scoped to the service, to one of its routes, or global. Real PostgreSQL and NATS through REST.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness, type Harness, type RestResponse } from './support.js';

const ok = (r: RestResponse, status: number) => {
  assert.equal(r.status, status, `${status} expected: ${r.text}`);
  return r;
};
const paths = (r: RestResponse) => (r.json.error.fields as { path: string; message: string }[]).map((f) => f.path);

const GOOD = {
  openapi: '3.1.0',
  info: { title: 'pets', version: '1' },
  paths: { '/pets': { get: { parameters: [{ name: 'limit', in: 'query', schema: { type: 'integer' } }], responses: { '200': { description: 'ok' } } } } },
};
// A query parameter schema that is not JSON Schema (`integr`), and a body $ref the gateway cannot resolve.
const BAD = {
  openapi: '3.1.0',
  info: { title: 'pets', version: '1' },
  paths: {
    '/pets': {
      get: { parameters: [{ name: 'limit', in: 'query', schema: { type: 'integr' } }], responses: { '200': { description: 'ok' } } },
      post: { requestBody: { content: { 'application/json': { schema: { $ref: 'other.yaml#/Pet' } } } }, responses: { '200': { description: 'ok' } } },
    },
  },
};
const LIMIT_TYPE = '/openapi/paths/~1pets/get/parameters(query:limit)/schema/type';
const BODY_REF = '/openapi/paths/~1pets/post/requestBody/content/application~1json/schema';

describe('request-validation (source openapi) refuses unusable service documents', { timeout: 60_000 }, () => {
  let h: Harness;
  let upstreamId = '';
  let n = 0;
  const uniq = (p: string) => `${p}-${n++}`;
  const service = async (openapi: unknown) => ok(await h.rest('POST', '/v1/services', { name: uniq('svc'), upstream_id: upstreamId, openapi }), 201).json as { id: string; name: string };
  const route = async (serviceId: string) => ok(await h.rest('POST', '/v1/routes', { name: uniq('r'), service_id: serviceId, paths: [`/${uniq('p')}`] }), 201).json as { id: string };
  const validation = (scope: Record<string, string>, extra: Record<string, unknown> = {}) =>
    h.rest('POST', '/v1/plugins', { type: 'request-validation', scope, config: { source: 'openapi' }, ...extra });

  before(async () => {
    h = await startHarness({ pollIntervalMs: 50 });
    upstreamId = ok(await h.rest('POST', '/v1/upstreams', { name: 'oa-up', targets: [{ host: '127.0.0.1', port: 9000 }] }), 201).json.id;
  });
  after(async () => {
    await h?.close();
  });

  it('a plugin attached to a service, or to its route, whose document is unusable: 422 at the scope field', async () => {
    const s = await service(BAD); // nothing reads it yet: accepted
    const r = await route(s.id);
    const onService = ok(await validation({ service_id: s.id }), 422);
    assert.equal(onService.json.error.code, 'TP_ERR_UNPROCESSABLE');
    assert.ok(paths(onService).every((p) => p === '/scope/service_id'), JSON.stringify(onService.json.error.fields));
    assert.ok(onService.json.error.fields.some((f: { message: string }) => f.message.includes(LIMIT_TYPE.slice('/openapi'.length)) && f.message.includes(s.id)));
    assert.ok(onService.json.error.fields.some((f: { message: string }) => f.message.includes('other.yaml')), 'the unresolvable $ref is named');
    const onRoute = ok(await validation({ route_id: r.id.toUpperCase() }), 422);
    assert.ok(paths(onRoute).every((p) => p === '/scope/route_id'), JSON.stringify(onRoute.json.error.fields));

    // Plugins that do not read the document are not concerned.
    ok(await h.rest('POST', '/v1/plugins', { type: 'request-validation', scope: { route_id: (await route(s.id)).id }, config: { source: 'schemas', query_schema: { type: 'object' } } }), 201);
    const disabled = ok(await validation({ service_id: s.id }, { enabled: false }), 201).json;
    const enabling = ok(await h.rest('PATCH', `/v1/plugins/${disabled.id}`, { enabled: true }), 422);
    assert.deepEqual([...new Set(paths(enabling))], ['/scope/service_id'], 'enabling it is checked like attaching it');

    // Fixing the document makes both writes possible.
    ok(await h.rest('PATCH', `/v1/services/${s.id}`, { openapi: GOOD }), 200);
    ok(await h.rest('PATCH', `/v1/plugins/${disabled.id}`, { enabled: true }), 200);
    ok(await validation({ route_id: r.id }), 201);
  });

  it('a document changed on a service that such a plugin reads (service or route scope): 422 with paths into the document, nothing stored', async () => {
    const viaService = await service(GOOD);
    ok(await validation({ service_id: viaService.id }), 201);
    const refused = ok(await h.rest('PATCH', `/v1/services/${viaService.id}`, { openapi: BAD }), 422);
    assert.equal(refused.json.error.code, 'TP_ERR_UNPROCESSABLE');
    assert.ok(paths(refused).includes(LIMIT_TYPE), JSON.stringify(paths(refused)));
    assert.ok(paths(refused).includes(BODY_REF), JSON.stringify(paths(refused)));
    assert.deepEqual(ok(await h.rest('GET', `/v1/services/${viaService.id}`), 200).json.openapi, GOOD, 'the document is unchanged');
    const replaced = ok(await h.rest('PUT', `/v1/services/${viaService.id}`, { name: viaService.name, upstream_id: upstreamId, openapi: BAD }), 422);
    assert.ok(paths(replaced).includes(LIMIT_TYPE));
    // Other fields of the service still change (its document is not re-sent, so not re-checked).
    ok(await h.rest('PATCH', `/v1/services/${viaService.id}`, { base_path: '/v2' }), 200);

    const viaRoute = await service(GOOD);
    ok(await validation({ route_id: (await route(viaRoute.id)).id }), 201);
    assert.ok(paths(ok(await h.rest('PATCH', `/v1/services/${viaRoute.id}`, { openapi: BAD }), 422)).includes(BODY_REF));
    // A service no such plugin reads takes any document the schema accepts.
    const free = await service(GOOD);
    ok(await h.rest('POST', '/v1/plugins', { type: 'request-validation', scope: { service_id: free.id }, config: { source: 'schemas', body_schema: { type: 'object' } } }), 201);
    ok(await h.rest('PATCH', `/v1/services/${free.id}`, { openapi: BAD }), 200);
    ok(await h.rest('PATCH', `/v1/services/${free.id}`, { openapi: GOOD }), 200); // back, for the global test below
  });

  it('global: refused while any service has an unusable document; once attached, services are created and updated only with usable ones', async () => {
    const bad = await service(BAD);
    const refused = ok(await validation({}), 422);
    assert.ok(paths(refused).every((p) => p === '/scope'), JSON.stringify(paths(refused)));
    assert.ok(refused.json.error.message.includes(bad.name), refused.json.error.message);
    ok(await h.rest('PATCH', `/v1/services/${bad.id}`, { openapi: GOOD }), 200);
    // Earlier tests left BAD only on services that now hold GOOD, so the tenant is clean.
    const global = ok(await validation({}), 201).json;
    const created = ok(await h.rest('POST', '/v1/services', { name: uniq('svc'), upstream_id: upstreamId, openapi: BAD }), 422);
    assert.ok(paths(created).includes(LIMIT_TYPE), JSON.stringify(paths(created)));
    ok(await h.rest('POST', '/v1/services', { name: uniq('svc'), upstream_id: upstreamId, openapi: GOOD }), 201);
    ok(await h.rest('POST', '/v1/services', { name: uniq('svc'), upstream_id: upstreamId }), 201);
    ok(await h.rest('PATCH', `/v1/services/${bad.id}`, { openapi: BAD }), 422);
    ok(await h.rest('DELETE', `/v1/plugins/${global.id}`), 204);
    ok(await h.rest('PATCH', `/v1/services/${bad.id}`, { openapi: BAD }), 200);
  });
});
