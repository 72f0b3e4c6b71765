// Canary and weighted splits of a service through the REST and gRPC admin APIs, against real PostgreSQL and
// NATS: rules (422 with field paths), references to upstreams (422 at /splits/<i>/upstream_id), an upstream a
// split names cannot be deleted (409), and the splits reach the data plane with their service.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { entityKey, type ConfigEnvelope } from '@turnpike/common';
import { waitFor } from '@turnpike/common/testing';
import { adminClients, type AdminClients } from './grpc-client.js';
import { startHarness, type Harness } from './support.js';

const targets = [{ host: '127.0.0.1', port: 9000 }];
const NIL = '00000000-0000-4000-8000-000000000000';

describe('service splits', { timeout: 60_000 }, () => {
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

  it('splits round-trip, default to [], and are published to the data plane with the service', async () => {
    const main = await upstream('sp-main');
    const canary = await upstream('sp-canary');
    const plain = await h.rest('POST', '/v1/services', { name: 'sp-plain', upstream_id: main });
    assert.equal(plain.status, 201, plain.text);
    assert.deepEqual(plain.json.splits, []);
    const splits = [
      { upstream_id: canary, weight: 10 },
      { upstream_id: canary, weight: 0, header: { name: 'X-Canary', value: 'always' } },
    ];
    const r = await h.rest('POST', '/v1/services', { name: 'sp-svc', upstream_id: main, splits });
    assert.equal(r.status, 201, r.text);
    assert.deepEqual(r.json.splits, splits);
    assert.deepEqual((await h.rest('GET', `/v1/services/${r.json.id}`)).json.splits, splits);
    const env = await waitFor('the service on the bus', async () => {
      const raw = await h.bus.get(entityKey('services', r.json.id));
      return raw ? (JSON.parse(raw) as ConfigEnvelope) : undefined;
    });
    assert.deepEqual((env.data as { splits: unknown }).splits, splits);
    // A patch replaces them; [] removes them.
    const p = await h.rest('PATCH', `/v1/services/${r.json.id}`, { splits: [{ upstream_id: canary, weight: 50 }] });
    assert.equal(p.status, 200, p.text);
    assert.deepEqual(p.json.splits, [{ upstream_id: canary, weight: 50 }]);
    const none = await h.rest('PATCH', `/v1/services/${r.json.id}`, { splits: [] });
    assert.deepEqual(none.json.splits, []);
  });

  it('rules answer 422 with field paths: weights above 100 in sum, own upstream, never-chosen split, non-http service', async () => {
    const main = await upstream('sp-rules-main');
    const other = await upstream('sp-rules-other');
    const over = await h.rest('POST', '/v1/services', { name: 'sp-over', upstream_id: main, splits: [{ upstream_id: other, weight: 60 }, { upstream_id: other, weight: 41 }] });
    assert.equal(over.status, 422, over.text);
    assert.equal(over.json.error.code, 'TP_ERR_UNPROCESSABLE');
    assert.deepEqual(paths(over), ['/splits']);
    const own = await h.rest('POST', '/v1/services', { name: 'sp-own', upstream_id: main, splits: [{ upstream_id: main, weight: 10 }] });
    assert.equal(own.status, 422);
    assert.deepEqual(paths(own), ['/splits/0/upstream_id']);
    const never = await h.rest('POST', '/v1/services', { name: 'sp-never', upstream_id: main, splits: [{ upstream_id: other, weight: 0 }] });
    assert.equal(never.status, 422);
    assert.deepEqual(paths(never), ['/splits/0']);
    const lambda = await h.rest('POST', '/v1/services', {
      name: 'sp-lambda',
      integration: { type: 'lambda', function_name: 'fn', region: 'us-east-1', timeout_ms: 1_000 },
      splits: [{ upstream_id: other, weight: 10 }],
    });
    assert.equal(lambda.status, 422);
    assert.deepEqual(paths(lambda), ['/splits']);
    // Bounds are the schema's: 400 with the path.
    const big = await h.rest('POST', '/v1/services', { name: 'sp-big', upstream_id: main, splits: [{ upstream_id: other, weight: 101 }] });
    assert.equal(big.status, 400);
    assert.deepEqual(paths(big), ['/splits/0/weight']);
    // A patch that would break a rule is refused the same way, and changes nothing.
    const ok = await h.rest('POST', '/v1/services', { name: 'sp-ok', upstream_id: main, splits: [{ upstream_id: other, weight: 70 }] });
    assert.equal(ok.status, 201, ok.text);
    const bad = await h.rest('PATCH', `/v1/services/${ok.json.id}`, { upstream_id: other });
    assert.equal(bad.status, 422);
    assert.deepEqual(paths(bad), ['/splits/0/upstream_id']);
    assert.equal((await h.rest('GET', `/v1/services/${ok.json.id}`)).json.upstream_id, main);
  });

  it('a split must name an existing upstream (422 at its path); an upstream a split names cannot be deleted (409)', async () => {
    const main = await upstream('sp-ref-main');
    const canary = await upstream('sp-ref-canary');
    const missing = await h.rest('POST', '/v1/services', { name: 'sp-missing', upstream_id: main, splits: [{ upstream_id: canary, weight: 5 }, { upstream_id: NIL, weight: 5 }] });
    assert.equal(missing.status, 422, missing.text);
    assert.deepEqual(paths(missing), ['/splits/1/upstream_id']);
    const s = await h.rest('POST', '/v1/services', { name: 'sp-ref', upstream_id: main, splits: [{ upstream_id: canary.toUpperCase(), weight: 5 }] });
    assert.equal(s.status, 201, s.text);
    assert.equal(s.json.splits[0].upstream_id, canary, 'ids are stored lowercased');
    const del = await h.rest('DELETE', `/v1/upstreams/${canary}`);
    assert.equal(del.status, 409);
    assert.equal(del.json.error.code, 'TP_ERR_IN_USE');
    assert.match(del.json.error.message, /sp-ref/);
    assert.equal((await h.rest('PATCH', `/v1/services/${s.json.id}`, { splits: [] })).status, 200);
    assert.equal((await h.rest('DELETE', `/v1/upstreams/${canary}`)).status, 204);
  });

  it('gRPC: splits round-trip (a zero weight included) and match REST', async () => {
    const main = await upstream('sp-g-main');
    const canary = await upstream('sp-g-canary');
    const svc = await c.services('CreateService', {
      name: 'sp-g',
      upstream_id: main,
      splits: [{ upstream_id: canary, weight: 0, header: { name: 'x-beta', value: '1' } }, { upstream_id: canary, weight: 25 }],
    });
    const viaRest = (await h.rest('GET', `/v1/services/${String(svc.id)}`)).json;
    assert.deepEqual(viaRest.splits, [{ upstream_id: canary, weight: 0, header: { name: 'x-beta', value: '1' } }, { upstream_id: canary, weight: 25 }]);
    assert.equal((svc.splits as unknown[]).length, 2);
    const cleared = await c.services('UpdateService', { id: svc.id, service: {}, update_mask: ['splits'] });
    assert.equal(cleared.splits, undefined, 'an empty list is unset on the wire');
    assert.deepEqual((await h.rest('GET', `/v1/services/${String(svc.id)}`)).json.splits, []);
  });
});
