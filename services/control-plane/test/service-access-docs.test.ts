// Two service fields for the gateway's access control and request validation, against real PostgreSQL and
// NATS: `subscription_required` (REST and gRPC, default false, in the `services.<id>` envelope), and the
// attached OpenAPI document, published under its own key `openapi_docs.<service id>` (put when it changes,
// deleted when it is detached or the service goes, repaired by the reconciler in both of its modes).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { META_REVISION_KEY } from '@turnpike/common';
import { waitFor } from '@turnpike/common/testing';
import { adminClients } from './grpc-client.js';
import { startHarness, type Harness, type RestResponse } from './support.js';

type Envelope = { kind: string; revision: number; data: Record<string, unknown> };

const ok = (r: RestResponse, status: number) => {
  assert.equal(r.status, status, `${status} expected: ${r.text}`);
  return r;
};
const kv = async (h: Harness, key: string): Promise<Envelope | null> => {
  const v = await h.bus.get(key);
  return v === null ? null : (JSON.parse(v) as Envelope);
};
/** Waits until everything written so far is on the bus. */
const published = async (h: Harness): Promise<void> => {
  const [r] = await h.sql<{ revision: string }[]>`SELECT revision FROM config_revision`;
  const want = Number(r!.revision);
  await waitFor('published', async () => {
    const meta = await h.bus.get(META_REVISION_KEY);
    return (meta !== null && (JSON.parse(meta) as { revision: number }).revision >= want) || null;
  });
};

const DOC_V1 = { openapi: '3.0.3', info: { title: 'pets', version: '1' }, paths: { '/pets': { get: { responses: { '200': { description: 'ok' } } } } } };
const DOC_V2 = { ...DOC_V1, info: { title: 'pets', version: '2' } };

describe('service subscription_required and openapi_docs (REST, gRPC, bus)', { timeout: 90_000 }, () => {
  let h: Harness;
  let upstreamId = '';
  let n = 0;
  const uniq = (p: string) => `${p}-${n++}`;

  before(async () => {
    h = await startHarness({ pollIntervalMs: 50 });
    upstreamId = ok(await h.rest('POST', '/v1/upstreams', { name: 'sad-up', targets: [{ host: '127.0.0.1', port: 9000 }] }), 201).json.id;
  });
  after(async () => {
    await h?.close();
  });

  it('subscription_required: default false, set on create, patched, kept by other patches, in the services envelope', async () => {
    const plain = ok(await h.rest('POST', '/v1/services', { name: uniq('svc'), upstream_id: upstreamId }), 201).json;
    assert.equal(plain.subscription_required, false);
    const s = ok(await h.rest('POST', '/v1/services', { name: uniq('svc'), upstream_id: upstreamId, subscription_required: true }), 201).json;
    assert.equal(s.subscription_required, true);
    assert.equal(ok(await h.rest('GET', `/v1/services/${s.id}`), 200).json.subscription_required, true);
    assert.equal(ok(await h.rest('PATCH', `/v1/services/${s.id}`, { base_path: '/v2' }), 200).json.subscription_required, true, 'a patch without it keeps it');
    await published(h);
    assert.equal((await kv(h, `services.${s.id}`))!.data.subscription_required, true);
    assert.equal((await kv(h, `services.${plain.id}`))!.data.subscription_required, false);

    const off = ok(await h.rest('PATCH', `/v1/services/${s.id}`, { subscription_required: false }), 200).json;
    assert.equal(off.subscription_required, false);
    assert.equal(off.base_path, '/v2');
    await published(h);
    assert.equal((await kv(h, `services.${s.id}`))!.data.subscription_required, false);
    // A replace without it goes back to the default.
    ok(await h.rest('PATCH', `/v1/services/${s.id}`, { subscription_required: true }), 200);
    assert.equal(ok(await h.rest('PUT', `/v1/services/${s.id}`, { name: s.name, upstream_id: upstreamId }), 200).json.subscription_required, false);
  });

  it('subscription_required must be a boolean: 400 with its field path on create and patch', async () => {
    const created = ok(await h.rest('POST', '/v1/services', { name: uniq('svc'), upstream_id: upstreamId, subscription_required: 'yes' }), 400);
    assert.equal(created.json.error.code, 'TP_ERR_VALIDATION');
    assert.deepEqual(created.json.error.fields.map((f: { path: string }) => f.path), ['/subscription_required']);
    const s = ok(await h.rest('POST', '/v1/services', { name: uniq('svc'), upstream_id: upstreamId }), 201).json;
    const patched = ok(await h.rest('PATCH', `/v1/services/${s.id}`, { subscription_required: 1 }), 400);
    assert.deepEqual(patched.json.error.fields.map((f: { path: string }) => f.path), ['/subscription_required']);
  });

  it('subscription_required over gRPC: set on create, cleared by a masked update', async () => {
    const c = adminClients(h.cp.grpcPort, h.token);
    try {
      const s = await c.services('CreateService', { name: uniq('g-svc'), upstream_id: upstreamId, subscription_required: true });
      assert.equal(s.subscription_required, true);
      assert.equal(ok(await h.rest('GET', `/v1/services/${String(s.id)}`), 200).json.subscription_required, true);
      const kept = await c.services('UpdateService', { id: s.id, service: { base_path: '/x' }, update_mask: ['base_path'] });
      assert.equal(kept.subscription_required, true);
      const off = await c.services('UpdateService', { id: s.id, service: { subscription_required: false }, update_mask: ['subscription_required'] });
      assert.equal(off.subscription_required ?? false, false);
      assert.equal(ok(await h.rest('GET', `/v1/services/${String(s.id)}`), 200).json.subscription_required, false);
    } finally {
      c.close();
    }
  });

  it('openapi_docs.<service id>: put with the document, left alone by other changes, replaced, deleted when detached or the service goes', async () => {
    const s = ok(await h.rest('POST', '/v1/services', { name: uniq('svc'), upstream_id: upstreamId, openapi: DOC_V1 }), 201).json;
    await published(h);
    const first = await kv(h, `openapi_docs.${s.id}`);
    assert.ok(first, 'the document is on the bus');
    assert.equal(first.kind, 'openapi_docs');
    assert.deepEqual(first.data, { id: s.id, service_id: s.id, document: DOC_V1 });
    assert.equal((await kv(h, `services.${s.id}`))!.data.openapi, undefined, 'the services envelope still leaves it out');

    // Another change to the service (or a patch resending the same document) does not republish it.
    ok(await h.rest('PATCH', `/v1/services/${s.id}`, { base_path: '/pets-api' }), 200);
    ok(await h.rest('PATCH', `/v1/services/${s.id}`, { openapi: structuredClone(DOC_V1) }), 200);
    await published(h);
    assert.equal((await kv(h, `services.${s.id}`))!.data.base_path, '/pets-api');
    assert.equal((await kv(h, `openapi_docs.${s.id}`))!.revision, first.revision);

    ok(await h.rest('PATCH', `/v1/services/${s.id}`, { openapi: DOC_V2 }), 200);
    await published(h);
    const second = (await kv(h, `openapi_docs.${s.id}`))!;
    assert.ok(second.revision > first.revision);
    assert.deepEqual(second.data.document, DOC_V2);

    ok(await h.rest('PATCH', `/v1/services/${s.id}`, { openapi: null }), 200);
    await published(h);
    assert.equal(await kv(h, `openapi_docs.${s.id}`), null, 'detached: the key is gone');
    assert.equal(await h.rest('GET', `/v1/services/${s.id}`).then((r) => r.json.openapi), null);

    ok(await h.rest('PATCH', `/v1/services/${s.id}`, { openapi: DOC_V1 }), 200);
    await published(h);
    assert.deepEqual((await kv(h, `openapi_docs.${s.id}`))!.data.document, DOC_V1);
    ok(await h.rest('DELETE', `/v1/services/${s.id}`), 204);
    await published(h);
    assert.equal(await kv(h, `openapi_docs.${s.id}`), null, 'service deleted: the key is gone');
    assert.equal(await kv(h, `services.${s.id}`), null);
  });

  for (const mode of ['beside the publisher (compare-and-set)', 'under the bus lock'] as const) {
    it(`the reconciler (${mode}) restores a lost document, removes a stray one, and then finds nothing to do`, async () => {
      const own = mode === 'under the bus lock' ? await startHarness({ pollIntervalMs: 50, busWrites: undefined }) : h;
      try {
        const up = ok(await own.rest('POST', '/v1/upstreams', { name: uniq('rec-up'), targets: [{ host: '127.0.0.1', port: 9000 }] }), 201).json;
        const withDoc = ok(await own.rest('POST', '/v1/services', { name: uniq('svc'), upstream_id: up.id, openapi: DOC_V1 }), 201).json;
        const without = ok(await own.rest('POST', '/v1/services', { name: uniq('svc'), upstream_id: up.id }), 201).json;
        await published(own);
        const want = (await kv(own, `openapi_docs.${withDoc.id}`))!;
        await own.bus.delete(`openapi_docs.${withDoc.id}`);
        await own.bus.put(`openapi_docs.${without.id}`, JSON.stringify({ kind: 'openapi_docs', revision: 1, data: { id: without.id, service_id: without.id, document: {} } }));
        const report = await own.cp.reconcile();
        assert.equal(report.ran, true);
        assert.deepEqual(await kv(own, `openapi_docs.${withDoc.id}`), want);
        assert.equal(await kv(own, `openapi_docs.${without.id}`), null);
        const again = await own.cp.reconcile();
        assert.equal(again.put + again.deleted, 0, `a second pass finds nothing to repair: ${JSON.stringify(again)}`);
      } finally {
        if (own !== h) await own.close();
      }
    });
  }
});
