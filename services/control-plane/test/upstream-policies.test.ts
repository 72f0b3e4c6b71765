// Upstream policies and service integrations through the REST and gRPC admin APIs, against real PostgreSQL
// and NATS: defaults, bounds, cross-field rules (with field paths), normalization, references, publishing.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { entityKey, type ConfigEnvelope } from '@turnpike/common';
import { waitFor } from '@turnpike/common/testing';
import { adminClients, failure, type AdminClients } from './grpc-client.js';
import { startHarness, type Harness } from './support.js';

const targets = [{ host: '127.0.0.1', port: 9000 }];
const NIL = '00000000-0000-4000-8000-000000000000';

const FULL = {
  targets,
  scheme: 'https',
  algorithm: 'consistent-hash',
  hash_on: { source: 'header', name: 'X-User' },
  total_timeout_ms: 30_000,
  retries: { attempts: 3, on: ['connect-failure', '5xx'], budget_percent: 10, only_idempotent: false },
  health_checks: {
    active: {
      path: '/healthz',
      interval_ms: 5_000,
      timeout_ms: 1_000,
      healthy: { successes: 3, http_statuses: [200] },
      unhealthy: { failures: 2, timeouts: 4, http_statuses: [500, 503] },
    },
    passive: { unhealthy: { failures: 10, window_ms: 20_000 }, ejection_ms: 60_000 },
  },
  circuit_breaker: { failure_threshold: 20, window_ms: 10_000, open_ms: 30_000, half_open_requests: 2 },
  tls: { verify: true, sni: 'api.internal' },
};

describe('upstream policies and service integrations', { timeout: 60_000 }, () => {
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

  it('a minimal upstream gets defaults that keep today’s behaviour', async () => {
    const r = await h.rest('POST', '/v1/upstreams', { name: 'pol-min', targets });
    assert.equal(r.status, 201, r.text);
    assert.equal(r.json.algorithm, 'round-robin');
    assert.equal(r.json.hash_on, null);
    assert.equal(r.json.total_timeout_ms, null);
    assert.deepEqual(r.json.retries, { attempts: 0, on: ['connect-failure'], budget_percent: 20, only_idempotent: true });
    assert.deepEqual(r.json.health_checks, {});
    assert.equal(r.json.circuit_breaker, null);
    assert.deepEqual(r.json.tls, { verify: true });
  });

  it('every policy field round-trips through create, get and put; nested defaults are filled in', async () => {
    const c1 = await h.rest('POST', '/v1/upstreams', { name: 'pol-full', ...FULL });
    assert.equal(c1.status, 201, c1.text);
    const { id: _id, created_at: _c, updated_at: _u, name: _n, connect_timeout_ms: _ct, read_timeout_ms: _rt, tags: _t, ...stored } = c1.json;
    assert.deepEqual(stored, { ...FULL, targets: [{ ...targets[0], weight: 100 }] });
    const g = await h.rest('GET', `/v1/upstreams/${c1.json.id}`);
    assert.deepEqual(g.json, c1.json);
    const put = await h.rest('PUT', `/v1/upstreams/${c1.json.id}`, { ...g.json, id: undefined, created_at: undefined, updated_at: undefined });
    assert.equal(put.status, 200, put.text);
    assert.deepEqual({ ...put.json, updated_at: null }, { ...g.json, updated_at: null });

    const partial = await h.rest('POST', '/v1/upstreams', { name: 'pol-partial', targets, health_checks: { active: { path: '/h' }, passive: {} }, retries: { attempts: 2 } });
    assert.equal(partial.status, 201, partial.text);
    assert.deepEqual(partial.json.health_checks, {
      active: {
        path: '/h',
        interval_ms: 10_000,
        timeout_ms: 2_000,
        healthy: { successes: 2, http_statuses: [200, 204, 301, 302] },
        unhealthy: { failures: 3, timeouts: 3, http_statuses: [429, 500, 502, 503, 504] },
      },
      passive: { unhealthy: { failures: 5, window_ms: 10_000 }, ejection_ms: 30_000 },
    });
    assert.deepEqual(partial.json.retries, { attempts: 2, on: ['connect-failure'], budget_percent: 20, only_idempotent: true });
    // A nested object given in a PATCH replaces the stored one whole (missing fields take their defaults).
    const p = await h.rest('PATCH', `/v1/upstreams/${partial.json.id}`, { retries: { budget_percent: 50 } });
    assert.equal(p.status, 200, p.text);
    assert.deepEqual(p.json.retries, { attempts: 0, on: ['connect-failure'], budget_percent: 50, only_idempotent: true });
    assert.deepEqual(p.json.health_checks, partial.json.health_checks, 'fields not in the patch are kept');
  });

  it('the policies are published to the data plane with the upstream', async () => {
    const r = await h.rest('POST', '/v1/upstreams', { name: 'pol-bus', targets, algorithm: 'least-connections', total_timeout_ms: 9_000 });
    const env = await waitFor('the upstream on the bus', async () => {
      const raw = await h.bus.get(entityKey('upstreams', r.json.id));
      return raw ? (JSON.parse(raw) as ConfigEnvelope) : undefined;
    });
    const data = env.data as Record<string, unknown>;
    assert.equal(data.algorithm, 'least-connections');
    assert.equal(data.total_timeout_ms, 9_000);
    assert.deepEqual(data.tls, { verify: true });
  });

  it('bounds are checked on every number (400 with field paths)', async () => {
    const r = await h.rest('POST', '/v1/upstreams', {
      name: 'pol-bounds',
      targets,
      algorithm: 'fastest',
      total_timeout_ms: 0,
      retries: { attempts: 11, budget_percent: 101, on: ['always'] },
      health_checks: { active: { path: '/h', interval_ms: 10, unhealthy: { failures: 0 } }, passive: { ejection_ms: 10 } },
      circuit_breaker: { failure_threshold: 0, window_ms: 10_000, open_ms: 30_000, half_open_requests: 1 },
      tls: { verify: 'yes' },
    });
    assert.equal(r.status, 400);
    assert.equal(r.json.error.code, 'TP_ERR_VALIDATION');
    for (const p of [
      '/algorithm',
      '/total_timeout_ms',
      '/retries/attempts',
      '/retries/budget_percent',
      '/retries/on/0',
      '/health_checks/active/interval_ms',
      '/health_checks/active/unhealthy/failures',
      '/health_checks/passive/ejection_ms',
      '/circuit_breaker/failure_threshold',
      '/tls/verify',
    ]) {
      assert.ok(paths(r).includes(p), `${p} in ${paths(r).join(' ')}`);
    }
  });

  it('cross-field rules answer 422 TP_ERR_UNPROCESSABLE with the field path', async () => {
    const cases: Array<[string, Record<string, unknown>, string]> = [
      ['hash_on without consistent-hash', { hash_on: { source: 'path' } }, '/hash_on'],
      ['consistent-hash without hash_on', { algorithm: 'consistent-hash' }, '/hash_on'],
      ['header hashing without a name', { algorithm: 'consistent-hash', hash_on: { source: 'header' } }, '/hash_on/name'],
      ['cookie hashing without a name', { algorithm: 'consistent-hash', hash_on: { source: 'cookie' } }, '/hash_on/name'],
      ['client-ip hashing with a name', { algorithm: 'consistent-hash', hash_on: { source: 'client-ip', name: 'x' } }, '/hash_on/name'],
      ['total budget below the connect timeout', { total_timeout_ms: 1_000, connect_timeout_ms: 2_000 }, '/total_timeout_ms'],
      ['retries without a condition', { retries: { attempts: 2, on: [] } }, '/retries/on'],
      ['health check timeout not below its interval', { health_checks: { active: { path: '/h', interval_ms: 2_000, timeout_ms: 2_000 } } }, '/health_checks/active/timeout_ms'],
      ['TLS settings on a plain http upstream', { tls: { sni: 'a.example' } }, '/tls'],
    ];
    for (const [what, extra, path] of cases) {
      const r = await h.rest('POST', '/v1/upstreams', { name: `pol-rule-${randomUUID().slice(0, 8)}`, targets, ...extra });
      assert.equal(r.status, 422, `${what}: ${r.text}`);
      assert.equal(r.json.error.code, 'TP_ERR_UNPROCESSABLE', what);
      assert.deepEqual(paths(r), [path], what);
    }
    // Patches are checked against the merged result: leaving consistent-hash needs hash_on cleared too.
    const up = await h.rest('POST', '/v1/upstreams', { name: 'pol-switch', targets, algorithm: 'consistent-hash', hash_on: { source: 'client-ip' } });
    assert.equal(up.status, 201, up.text);
    const bad = await h.rest('PATCH', `/v1/upstreams/${up.json.id}`, { algorithm: 'random' });
    assert.equal(bad.status, 422);
    assert.deepEqual(paths(bad), ['/hash_on']);
    const good = await h.rest('PATCH', `/v1/upstreams/${up.json.id}`, { algorithm: 'random', hash_on: null });
    assert.equal(good.status, 200, good.text);
    assert.equal(good.json.hash_on, null);
  });

  it('rows written before the migration read back with the defaults', async () => {
    const id = randomUUID();
    const [tenant] = await h.sql<{ tenant_id: string }[]>`SELECT tenant_id FROM upstreams LIMIT 1`;
    await h.sql`INSERT INTO upstreams (id, tenant_id, name, scheme, targets, connect_timeout_ms, read_timeout_ms, tags, revision, created_at, updated_at)
      VALUES (${id}, ${tenant!.tenant_id}, 'pol-legacy', 'http', ${h.sql.json(targets.map((t) => ({ ...t, weight: 100 })))}, 5000, 60000, '[]', 1, now(), now())`;
    const g = await h.rest('GET', `/v1/upstreams/${id}`);
    assert.equal(g.status, 200, g.text);
    assert.equal(g.json.algorithm, 'round-robin');
    assert.deepEqual(g.json.retries, { attempts: 0, on: ['connect-failure'], budget_percent: 20, only_idempotent: true });
    assert.deepEqual(g.json.tls, { verify: true });
  });

  it('services: upstream_id or one integration; http normalizes to upstream_id; lambda defaults are filled', async () => {
    const up = (await h.rest('POST', '/v1/upstreams', { name: 'int-up', targets })).json;
    const http = await h.rest('POST', '/v1/services', { name: 'int-http', integration: { type: 'http', upstream_id: up.id.toUpperCase() } });
    assert.equal(http.status, 201, http.text);
    assert.equal(http.json.upstream_id, up.id);
    assert.equal(http.json.integration, null);

    const lambda = await h.rest('POST', '/v1/services', {
      name: 'int-lambda',
      integration: { type: 'lambda', function_name: 'arn:aws:lambda:eu-west-1:123456789012:function:orders', region: 'eu-west-1', timeout_ms: 3_000, endpoint_url: 'http://127.0.0.1:3001' },
    });
    assert.equal(lambda.status, 201, lambda.text);
    assert.equal(lambda.json.upstream_id, null);
    assert.deepEqual(lambda.json.integration, {
      type: 'lambda',
      function_name: 'arn:aws:lambda:eu-west-1:123456789012:function:orders',
      region: 'eu-west-1',
      timeout_ms: 3_000,
      endpoint_url: 'http://127.0.0.1:3001',
      payload_format: '2.0',
      invocation_type: 'RequestResponse',
    });
    assert.deepEqual((await h.rest('GET', `/v1/services/${lambda.json.id}`)).json, lambda.json);

    const ai = await h.rest('POST', '/v1/services', { name: 'int-ai', integration: { type: 'ai', provider_ids: [], model: 'gpt-x' } });
    assert.equal(ai.status, 201, ai.text);
    assert.deepEqual(ai.json.integration, { type: 'ai', provider_ids: [], model: 'gpt-x' });

    // A patch names the new target with one field; the other is cleared.
    const toHttp = await h.rest('PATCH', `/v1/services/${lambda.json.id}`, { upstream_id: up.id });
    assert.equal(toHttp.status, 200, toHttp.text);
    assert.equal(toHttp.json.integration, null);
    assert.equal(toHttp.json.upstream_id, up.id);
    const unknownProvider = await h.rest('PATCH', `/v1/services/${lambda.json.id}`, { integration: { type: 'ai', provider_ids: [randomUUID()] } });
    assert.equal(unknownProvider.status, 422, unknownProvider.text);
    assert.equal(unknownProvider.json.error.fields[0].path, '/integration/provider_ids/0');
    const toAi = await h.rest('PATCH', `/v1/services/${lambda.json.id}`, { integration: { type: 'ai', provider_ids: [] } });
    assert.equal(toAi.status, 200, toAi.text);
    assert.equal(toAi.json.upstream_id, null);
  });

  it('services: exactly one target (422 with the field path), branch-specific errors, references checked', async () => {
    const up = (await h.rest('POST', '/v1/upstreams', { name: 'int-up2', targets })).json;
    const both = await h.rest('POST', '/v1/services', { name: 'int-both', upstream_id: up.id, integration: { type: 'ai', provider_ids: [] } });
    assert.equal(both.status, 422);
    assert.equal(both.json.error.code, 'TP_ERR_UNPROCESSABLE');
    assert.deepEqual(paths(both), ['/integration']);
    const neither = await h.rest('POST', '/v1/services', { name: 'int-neither' });
    assert.equal(neither.status, 422);
    assert.deepEqual(paths(neither), ['/upstream_id']);

    // Errors name the fields of the branch `type` selects, not every branch's.
    const lambdaBad = await h.rest('POST', '/v1/services', { name: 'int-lbad', integration: { type: 'lambda', function_name: 'f', region: 'nowhere', timeout_ms: 1_000, payload_format: '3.0' } });
    assert.equal(lambdaBad.status, 400);
    assert.deepEqual(paths(lambdaBad).sort(), ['/integration/payload_format', '/integration/region']);
    const unknown = await h.rest('POST', '/v1/services', { name: 'int-unk', integration: { type: 'grpc' } });
    assert.deepEqual(paths(unknown), ['/integration/type']);

    const missingUp = await h.rest('POST', '/v1/services', { name: 'int-ws-missing', integration: { type: 'websocket', upstream_id: NIL, idle_timeout_ms: 60_000 } });
    assert.equal(missingUp.status, 422);
    assert.deepEqual(paths(missingUp), ['/integration/upstream_id']);

    const ws = await h.rest('POST', '/v1/services', { name: 'int-ws', integration: { type: 'websocket', upstream_id: up.id, subprotocols: ['graphql-ws'], idle_timeout_ms: 60_000 } });
    assert.equal(ws.status, 201, ws.text);
    assert.equal(ws.json.upstream_id, null);
    assert.deepEqual(ws.json.integration, { type: 'websocket', upstream_id: up.id, subprotocols: ['graphql-ws'], idle_timeout_ms: 60_000 });
    // The upstream of a websocket integration is in use exactly like an http service's.
    const del = await h.rest('DELETE', `/v1/upstreams/${up.id}`);
    assert.equal(del.status, 409);
    assert.equal(del.json.error.code, 'TP_ERR_IN_USE');
    const filtered = await h.rest('GET', `/v1/services?upstream_id=${up.id}`);
    assert.deepEqual(filtered.json.data.map((s: { name: string }) => s.name), ['int-ws']);
    assert.equal((await h.rest('DELETE', `/v1/services/${ws.json.id}`)).status, 204);
    assert.equal((await h.rest('DELETE', `/v1/upstreams/${up.id}`)).status, 204);
  });

  it('gRPC: nested policy and integration messages round-trip and match REST', async () => {
    const up = await c.upstreams('CreateUpstream', {
      name: 'g-pol',
      targets,
      algorithm: 'consistent-hash',
      hash_on: { source: 'cookie', name: 'sid' },
      health_checks: { active: { path: '/ready', interval_ms: 3_000, unhealthy: { http_statuses: [502] } } },
      circuit_breaker: { failure_threshold: 5, window_ms: 10_000, open_ms: 20_000, half_open_requests: 1 },
    });
    assert.deepEqual(up.hash_on, { source: 'cookie', name: 'sid' });
    const viaRest = (await h.rest('GET', `/v1/upstreams/${String(up.id)}`)).json;
    assert.deepEqual(viaRest.health_checks.active.unhealthy, { failures: 3, timeouts: 3, http_statuses: [502] });
    assert.deepEqual((up.health_checks as typeof viaRest.health_checks).active, viaRest.health_checks.active);
    assert.deepEqual(up.circuit_breaker, viaRest.circuit_breaker);
    assert.equal(up.total_timeout_ms, undefined, 'null is unset on the wire');

    // update_mask naming a nullable field without setting it clears it.
    const cleared = await c.upstreams('UpdateUpstream', { id: up.id, upstream: { algorithm: 'random' }, update_mask: ['algorithm', 'hash_on', 'circuit_breaker'] });
    assert.equal(cleared.algorithm, 'random');
    assert.equal(cleared.hash_on, undefined);
    assert.equal((await h.rest('GET', `/v1/upstreams/${String(up.id)}`)).json.circuit_breaker, null);

    const svc = await c.services('CreateService', { name: 'g-lambda', integration: { type: 'lambda', function_name: 'fn', region: 'us-east-1', timeout_ms: 1_000 } });
    assert.equal(svc.upstream_id, undefined);
    assert.deepEqual(svc.integration, { type: 'lambda', function_name: 'fn', region: 'us-east-1', timeout_ms: 1_000, payload_format: '2.0', invocation_type: 'RequestResponse' });
    const ai = await c.services('CreateService', { name: 'g-ai', integration: { type: 'ai' } });
    assert.deepEqual((await h.rest('GET', `/v1/services/${String(ai.id)}`)).json.integration, { type: 'ai', provider_ids: [] });
    const both = await failure(c.services('CreateService', { name: 'g-both', upstream_id: up.id, integration: { type: 'ai' } }));
    assert.deepEqual(both.metadata.get('tp-error-code'), ['TP_ERR_UNPROCESSABLE']);
  });
});
