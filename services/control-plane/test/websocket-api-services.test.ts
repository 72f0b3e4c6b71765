// Services with a `websocket-api` integration through the REST and gRPC admin APIs, against real PostgreSQL
// and NATS: the integration round-trips (defaults filled, upstream ids lowercased), a bad selection
// expression, route key or missing upstream answers 422 with field paths, an upstream a route names cannot
// be deleted (409), and the service reaches the data plane.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { entityKey, type ConfigEnvelope } from '@turnpike/common';
import { waitFor } from '@turnpike/common/testing';
import { adminClients, type AdminClients } from './grpc-client.js';
import { startHarness, type Harness } from './support.js';

const targets = [{ host: '127.0.0.1', port: 9000 }];
const NIL = '00000000-0000-4000-8000-000000000000';

describe('websocket-api services', { timeout: 60_000 }, () => {
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

  const paths = (r: { json: { error: { fields?: Array<{ path: string }> } } }): string[] => (r.json.error.fields ?? []).map((f) => f.path);
  const upstream = async (name: string): Promise<string> => {
    const r = await h.rest('POST', '/v1/upstreams', { name, targets });
    assert.equal(r.status, 201, r.text);
    return r.json.id as string;
  };
  const api = (routes: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
    type: 'websocket-api',
    route_selection_expression: '$request.body.action',
    routes,
    ...extra,
  });
  const lambdaRoute = { type: 'lambda', function_name: 'chat-fn', region: 'eu-west-1', qualifier: 'live', timeout_ms: 3_000 };

  it('round-trips with defaults and reaches the data plane', async () => {
    const up = await upstream('wsa-up');
    const integration = api({ $connect: { type: 'http', upstream_id: up.toUpperCase(), path: '/connect' }, sendmessage: lambdaRoute }, { max_message_bytes: 4096, message_rate_limit: 10 });
    const r = await h.rest('POST', '/v1/services', { name: 'wsa-svc', integration });
    assert.equal(r.status, 201, r.text);
    assert.equal(r.json.upstream_id, null);
    assert.deepEqual(r.json.integration, {
      ...integration,
      routes: { $connect: { type: 'http', upstream_id: up, path: '/connect' }, sendmessage: lambdaRoute },
      idle_timeout_ms: 600_000,
    });
    const env = await waitFor('the service on the bus', async () => {
      const raw = await h.bus.get(entityKey('services', r.json.id));
      return raw ? (JSON.parse(raw) as ConfigEnvelope) : undefined;
    });
    assert.deepEqual((env.data as { integration: unknown }).integration, r.json.integration);
  });

  it('422 with field paths: selection expression, route keys, missing upstream, no routes', async () => {
    const up = await upstream('wsa-rules');
    const bad = await h.rest('POST', '/v1/services', { name: 'wsa-bad', integration: { ...api({ $default: lambdaRoute }), route_selection_expression: '$request.header.x' } });
    assert.equal(bad.status, 422, bad.text);
    assert.deepEqual(paths(bad), ['/integration/route_selection_expression']);
    const key = await h.rest('POST', '/v1/services', { name: 'wsa-key', integration: api({ $other: lambdaRoute, 'a b': lambdaRoute }) });
    assert.equal(key.status, 422, key.text);
    assert.deepEqual(paths(key).sort(), ['/integration/routes/$other', '/integration/routes/a b'].sort());
    const missing = await h.rest('POST', '/v1/services', { name: 'wsa-missing', integration: api({ ok: { type: 'http', upstream_id: up }, gone: { type: 'http', upstream_id: NIL } }) });
    assert.equal(missing.status, 422, missing.text);
    assert.deepEqual(paths(missing), ['/integration/routes/gone/upstream_id']);
    const none = await h.rest('POST', '/v1/services', { name: 'wsa-none', integration: api({}) });
    assert.equal(none.status, 422, none.text);
    assert.deepEqual(paths(none), ['/integration/routes']);
    // Schema bounds: 400 with the path inside the route.
    const schema = await h.rest('POST', '/v1/services', { name: 'wsa-schema', integration: api({ x: { type: 'lambda', function_name: 'f', region: 'nowhere', timeout_ms: 1 } }) });
    assert.equal(schema.status, 400, schema.text);
    assert.ok(paths(schema).some((p) => p.startsWith('/integration/routes/x')), schema.text);
  });

  it('an upstream a route names is in use (409) until the service stops naming it; a patch checks new references', async () => {
    const up = await upstream('wsa-ref');
    const s = await h.rest('POST', '/v1/services', { name: 'wsa-ref-svc', integration: api({ $default: { type: 'http', upstream_id: up } }) });
    assert.equal(s.status, 201, s.text);
    const del = await h.rest('DELETE', `/v1/upstreams/${up}`);
    assert.equal(del.status, 409, del.text);
    assert.equal(del.json.error.code, 'TP_ERR_IN_USE');
    assert.match(del.json.error.message, /wsa-ref-svc/);
    const patchMissing = await h.rest('PATCH', `/v1/services/${s.json.id}`, { integration: api({ $default: { type: 'http', upstream_id: NIL } }) });
    assert.equal(patchMissing.status, 422, patchMissing.text);
    assert.deepEqual(paths(patchMissing), ['/integration/routes/$default/upstream_id']);
    assert.equal((await h.rest('PATCH', `/v1/services/${s.json.id}`, { integration: api({ $default: lambdaRoute }) })).status, 200);
    assert.equal((await h.rest('DELETE', `/v1/upstreams/${up}`)).status, 204);
  });

  it('gRPC: the integration (routes map included) round-trips and matches REST', async () => {
    const up = await upstream('wsa-g');
    const svc = await c.services('CreateService', {
      name: 'wsa-g',
      integration: {
        type: 'websocket-api',
        route_selection_expression: '$request.body.meta.action',
        routes: { $connect: { type: 'http', upstream_id: up, path: '/c' }, go: { type: 'lambda', function_name: 'go-fn', region: 'us-east-1', timeout_ms: 2_000 } },
        message_rate_limit: 5,
      },
    });
    const viaRest = (await h.rest('GET', `/v1/services/${String(svc.id)}`)).json;
    assert.deepEqual(viaRest.integration, {
      type: 'websocket-api',
      route_selection_expression: '$request.body.meta.action',
      routes: { $connect: { type: 'http', upstream_id: up, path: '/c' }, go: { type: 'lambda', function_name: 'go-fn', region: 'us-east-1', timeout_ms: 2_000 } },
      message_rate_limit: 5,
      idle_timeout_ms: 600_000,
    });
    const integration = svc.integration as { type: string; routes: Record<string, { type: string; upstream_id?: string }> };
    assert.equal(integration.type, 'websocket-api');
    assert.equal(integration.routes.$connect!.upstream_id, up);
  });
});
