// Service lifecycle, version label, sunset, catalog visibility and the attached OpenAPI document over REST,
// against real PostgreSQL and NATS.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness, type Harness } from './support.js';

describe('service lifecycle (REST)', { timeout: 60_000 }, () => {
  let h: Harness;
  let upstreamId = '';
  let n = 0;
  const newService = async (extra: Record<string, unknown> = {}) => {
    const r = await h.rest('POST', '/v1/services', { name: `svc-life-${n++}`, upstream_id: upstreamId, ...extra });
    assert.equal(r.status, 201, r.text);
    return r.json as { id: string; lifecycle: string };
  };
  const setLifecycle = (id: string, lifecycle: string) => h.rest('PATCH', `/v1/services/${id}`, { lifecycle });

  before(async () => {
    h = await startHarness();
    const u = await h.rest('POST', '/v1/upstreams', { name: 'life-up', targets: [{ host: '127.0.0.1', port: 9000 }] });
    upstreamId = u.json.id;
  });
  after(async () => {
    await h?.close();
  });

  it('defaults: published, empty version, no sunset, private, no openapi document', async () => {
    const s = await h.rest('GET', `/v1/services/${(await newService()).id}`);
    assert.equal(s.json.lifecycle, 'published');
    assert.equal(s.json.version, '');
    assert.equal(s.json.sunset_at, null);
    assert.equal(s.json.catalog_visibility, 'private');
    assert.equal(s.json.openapi, null);
  });

  it('allowed transitions: draft → published → deprecated → published → retired, deprecated → retired', async () => {
    const a = await newService({ lifecycle: 'draft' });
    assert.equal(a.lifecycle, 'draft');
    for (const next of ['published', 'deprecated', 'published', 'retired']) {
      const r = await setLifecycle(a.id, next);
      assert.equal(r.status, 200, `→ ${next}: ${r.text}`);
      assert.equal(r.json.lifecycle, next);
    }
    const b = await newService();
    assert.equal((await setLifecycle(b.id, 'deprecated')).status, 200);
    assert.equal((await setLifecycle(b.id, 'retired')).status, 200);
  });

  it('denied transitions answer 409 TP_ERR_CONFLICT with the field path /lifecycle', async () => {
    const draft = await newService({ lifecycle: 'draft' });
    const published = await newService();
    const retired = await newService();
    assert.equal((await setLifecycle(retired.id, 'retired')).status, 200);
    const cases: Array<[string, string]> = [
      [draft.id, 'deprecated'],
      [draft.id, 'retired'],
      [published.id, 'draft'],
      [retired.id, 'published'],
      [retired.id, 'draft'],
      [retired.id, 'deprecated'],
    ];
    for (const [id, to] of cases) {
      const r = await setLifecycle(id, to);
      assert.equal(r.status, 409, `${id} → ${to}: ${r.text}`);
      assert.equal(r.json.error.code, 'TP_ERR_CONFLICT');
      assert.deepEqual(r.json.error.fields.map((f: { path: string }) => f.path), ['/lifecycle']);
    }
    const r = await setLifecycle(retired.id, 'published');
    assert.match(r.json.error.message, /retired services cannot change lifecycle/);
    // A PUT without lifecycle means `published`: the same rule applies.
    const put = await h.rest('PUT', `/v1/services/${retired.id}`, { name: 'x-retired', upstream_id: upstreamId });
    assert.equal(put.status, 409);
    // Other fields of a retired service may still change.
    assert.equal((await h.rest('PATCH', `/v1/services/${retired.id}`, { tags: ['old'] })).status, 200);
  });

  it('version, sunset_at, visibility and the openapi document round-trip; the envelope leaves the document out', async () => {
    const doc = { openapi: '3.1.0', info: { title: 'Billing', version: '2.0.0' }, paths: { '/invoices': { get: { responses: { '200': { description: 'ok' } } } } } };
    const s = await newService({ lifecycle: 'deprecated', version: 'v2', sunset_at: '2027-01-01T00:00:00Z', catalog_visibility: 'public', openapi: doc });
    const g = await h.rest('GET', `/v1/services/${s.id}`);
    assert.equal(g.json.version, 'v2');
    assert.equal(g.json.sunset_at, '2027-01-01T00:00:00.000Z');
    assert.equal(g.json.catalog_visibility, 'public');
    assert.deepEqual(g.json.openapi, doc);
    const [row] = await h.sql<{ payload: { data: Record<string, unknown> } }[]>`
      SELECT payload FROM outbox WHERE entity_id = ${s.id} AND kind = 'services' AND op = 'put' ORDER BY revision DESC, id DESC LIMIT 1`;
    assert.ok(row);
    assert.equal(row.payload.data.lifecycle, 'deprecated');
    assert.equal(row.payload.data.sunset_at, '2027-01-01T00:00:00.000Z');
    assert.equal('openapi' in row.payload.data, false);
    // Detach the document and clear the sunset.
    const p = await h.rest('PATCH', `/v1/services/${s.id}`, { openapi: null, sunset_at: null });
    assert.equal(p.status, 200, p.text);
    assert.equal(p.json.openapi, null);
    assert.equal(p.json.sunset_at, null);
  });

  it('rejects an unknown lifecycle and a non-object openapi document (400)', async () => {
    const bad = await h.rest('POST', '/v1/services', { name: 'svc-bad', upstream_id: upstreamId, lifecycle: 'archived' });
    assert.equal(bad.status, 400);
    const badDoc = await h.rest('POST', '/v1/services', { name: 'svc-bad', upstream_id: upstreamId, openapi: 'nope' });
    assert.equal(badDoc.status, 400);
  });
});
