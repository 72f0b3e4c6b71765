// Outbox → config bus: envelopes in revision order, deletes, reconciliation of drift, and recovery after
// a NATS outage (a private nats-server that the test stops and restarts).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { META_REVISION_KEY, entityKey, type ConfigBus, type ConfigEnvelope, type ConfigEvent, type Upstream } from '@turnpike/common';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { NatsKvConfigBus } from '@turnpike/common';
import { startPrivateNats, testEnv, waitFor, type PrivateNats } from '@turnpike/common/testing';
import { startControlPlane, type ControlPlane } from '../src/index.js';
import { destroyBucket, startHarness, type Harness } from './support.js';
import { DEFAULT_TENANT_ID } from '../src/service/access.js';

async function envelope(bus: ConfigBus, key: string): Promise<ConfigEnvelope | null> {
  const v = await bus.get(key);
  return v === null ? null : (JSON.parse(v) as ConfigEnvelope);
}

async function metaRevision(bus: ConfigBus): Promise<number> {
  const v = await bus.get(META_REVISION_KEY);
  return v === null ? 0 : (JSON.parse(v) as { revision: number }).revision;
}

async function configRevision(h: Harness): Promise<number> {
  const [r] = await h.sql<{ revision: string }[]>`SELECT revision FROM config_revision`;
  return Number(r!.revision);
}

/** Every value of the bucket, in the order the bus delivers them (stream order = publication order). */
async function snapshotInOrder(bus: ConfigBus): Promise<ConfigEvent[]> {
  const events: ConfigEvent[] = [];
  let done = false;
  const w = await bus.watch({ onEvent: (e) => events.push(e), onInitialDone: () => (done = true) });
  await waitFor('initial values', () => done, 10_000);
  await w.stop();
  return events;
}

describe('outbox publisher and reconciler', { timeout: 90_000 }, () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({ pollIntervalMs: 200 });
  });
  after(async () => {
    await h?.close();
  });

  it('writes appear in the bucket as envelopes with increasing revisions, then meta.revision', async () => {
    const up = (await h.rest('POST', '/v1/upstreams', { name: 'pub-up', targets: [{ host: 'h', port: 1 }] })).json;
    const svc = (await h.rest('POST', '/v1/services', { name: 'pub-svc', upstream_id: up.id })).json;
    const route = (await h.rest('POST', '/v1/routes', { name: 'pub-route', service_id: svc.id, paths: ['/p'] })).json;
    const consumer = (await h.rest('POST', '/v1/consumers', { username: 'pub-c' })).json;
    const key = (await h.rest('POST', `/v1/consumers/${consumer.id}/keys`, {})).json;
    const rev = await configRevision(h);
    await waitFor('meta.revision to reach the config revision', async () => (await metaRevision(h.bus)) === rev);

    const eUp = await envelope(h.bus, entityKey('upstreams', up.id));
    const eSvc = await envelope(h.bus, entityKey('services', svc.id));
    const eRoute = await envelope(h.bus, entityKey('routes', route.id));
    const eCons = await envelope(h.bus, entityKey('consumers', consumer.id));
    const eKey = await envelope(h.bus, entityKey('keys', key.id));
    assert.deepEqual(eUp, { kind: 'upstreams', revision: eUp!.revision, data: up });
    const { openapi: _openapi, ...svcOnBus } = svc as Record<string, unknown>;
    assert.deepEqual(eSvc!.data, { ...svcOnBus, tenant_id: DEFAULT_TENANT_ID }, 'a service as REST returns it, less its OpenAPI document, plus its tenant (AI budgets)');
    assert.deepEqual(eRoute!.data, route);
    assert.deepEqual(eCons!.data, consumer);
    assert.deepEqual(eKey, {
      kind: 'keys',
      revision: eKey!.revision,
      data: { id: key.id, consumer_id: consumer.id, key_sha256: createHash('sha256').update(key.key).digest('hex') },
    });
    const revs = [eUp, eSvc, eRoute, eCons, eKey].map((e) => e!.revision);
    for (let i = 1; i < revs.length; i++) assert.ok(revs[i]! > revs[i - 1]!, `revisions increase: ${revs.join(',')}`);
    assert.equal(revs[revs.length - 1], rev);

    const status = (await h.rest('GET', '/v1/status')).json;
    assert.equal(status.published_revision, status.config_revision);

    // An update republishes with a newer revision.
    const patched = (await h.rest('PATCH', `/v1/upstreams/${up.id}`, { tags: ['v2'] })).json;
    await waitFor('the update on the bus', async () => (await envelope(h.bus, entityKey('upstreams', up.id)))?.revision === rev + 1);
    assert.deepEqual((await envelope(h.bus, entityKey('upstreams', up.id)))!.data, patched);
  });

  it('concurrent writes get distinct, gap-free revisions, each with its outbox row', async () => {
    const before = await configRevision(h);
    const results = await Promise.all(
      Array.from({ length: 12 }, (_, i) => h.rest('POST', '/v1/consumers', { username: `conc-${i}` })),
    );
    assert.ok(results.every((r) => r.status === 201));
    const rows = await h.sql<{ revision: string }[]>`SELECT revision FROM outbox WHERE revision > ${before} ORDER BY revision`;
    assert.deepEqual(rows.map((r) => Number(r.revision)), Array.from({ length: 12 }, (_, i) => before + i + 1));
  });

  it('deletes remove keys; deleting a consumer removes its keys', async () => {
    const up = (await h.rest('POST', '/v1/upstreams', { name: 'del-up', targets: [{ host: 'h', port: 1 }] })).json;
    const consumer = (await h.rest('POST', '/v1/consumers', { username: 'del-c' })).json;
    const k1 = (await h.rest('POST', `/v1/consumers/${consumer.id}/keys`, {})).json;
    const k2 = (await h.rest('POST', `/v1/consumers/${consumer.id}/keys`, {})).json;
    await waitFor('keys published', async () => (await h.bus.get(entityKey('keys', k2.id))) !== null);
    assert.equal((await h.rest('DELETE', `/v1/upstreams/${up.id}`)).status, 204);
    assert.equal((await h.rest('DELETE', `/v1/consumers/${consumer.id}`)).status, 204);
    const rev = await configRevision(h);
    await waitFor('deletes published', async () => (await metaRevision(h.bus)) === rev);
    const keys = await h.bus.keys();
    for (const k of [entityKey('upstreams', up.id), entityKey('consumers', consumer.id), entityKey('keys', k1.id), entityKey('keys', k2.id)]) {
      assert.ok(!keys.includes(k), `${k} should be gone`);
    }
  });

  it('the reconciler repairs keys deleted, changed or added behind its back', async () => {
    const up = (await h.rest('POST', '/v1/upstreams', { name: 'rec-up', targets: [{ host: 'h', port: 1 }] })).json;
    const c = (await h.rest('POST', '/v1/consumers', { username: 'rec-c' })).json;
    const rev = await configRevision(h);
    await waitFor('published', async () => (await metaRevision(h.bus)) === rev);
    const upKey = entityKey('upstreams', up.id);
    const cKey = entityKey('consumers', c.id);
    const want = await h.bus.get(cKey);
    const stray = entityKey('routes', randomUUID());

    await h.bus.delete(upKey);
    await h.bus.put(cKey, JSON.stringify({ kind: 'consumers', revision: 1, data: { ...c, username: 'tampered' } }));
    await h.bus.put(stray, JSON.stringify({ kind: 'routes', revision: 1, data: {} }));
    await h.bus.put(META_REVISION_KEY, JSON.stringify({ revision: 1 }));

    const report = await h.cp.reconcile();
    assert.equal(report.ran, true);
    assert.ok(report.put >= 2 && report.deleted >= 1, JSON.stringify(report));
    assert.deepEqual((await envelope(h.bus, upKey))!.data, up);
    assert.deepEqual(JSON.parse((await h.bus.get(cKey))!), JSON.parse(want!));
    assert.equal(await h.bus.get(stray), null);
    assert.equal(await metaRevision(h.bus), rev);

    const again = await h.cp.reconcile();
    assert.equal(again.put + again.deleted, 0, 'a second pass finds nothing to repair');
  });
});

describe('publisher across a NATS outage', { timeout: 120_000 }, () => {
  let nats: PrivateNats;
  let h: Harness;
  before(async () => {
    nats = await startPrivateNats();
    h = await startHarness({ natsUrl: nats.url, pollIntervalMs: 200, maxBackoffMs: 500 });
  });
  after(async () => {
    await h?.close();
    await nats?.destroy();
  });

  it('keeps accepting writes while the bus is down, then publishes everything in order', async () => {
    const first = (await h.rest('POST', '/v1/upstreams', { name: 'out-0', targets: [{ host: 'h', port: 1 }] })).json;
    await waitFor('first publish', async () => (await h.bus.get(entityKey('upstreams', first.id))) !== null);

    await nats.stop();
    const ids: string[] = [];
    for (let i = 1; i <= 6; i++) {
      const r = await h.rest('POST', '/v1/upstreams', { name: `out-${i}`, targets: [{ host: 'h', port: i }] });
      assert.equal(r.status, 201, 'writes do not depend on the bus');
      ids.push(r.json.id);
    }
    assert.equal((await h.rest('PATCH', `/v1/upstreams/${ids[0]}`, { tags: ['late'] })).status, 200);
    assert.equal((await h.rest('DELETE', `/v1/upstreams/${ids[1]}`)).status, 204);
    const status = (await h.rest('GET', '/v1/status')).json;
    assert.ok(status.published_revision < status.config_revision, 'nothing can be published while NATS is down');
    await waitFor('the publish failure to be logged (not thrown)', () => h.logs.some((l) => l.event === 'config_publish_failed'), 20_000, 100);

    await nats.start();
    const rev = await configRevision(h);
    await waitFor('publisher catches up after the outage', async () => (await metaRevision(h.bus)) === rev, 30_000, 100);

    assert.equal(await h.bus.get(entityKey('upstreams', ids[1]!)), null);
    assert.deepEqual(((await envelope(h.bus, entityKey('upstreams', ids[0]!)))!.data as Upstream).tags, ['late']);
    for (const id of ids.slice(2)) assert.ok(await h.bus.get(entityKey('upstreams', id)));

    // The stream holds values in publication order: envelope revisions never go backwards.
    const events = await snapshotInOrder(h.bus);
    const revs = events.filter((e) => e.op === 'put' && e.key !== META_REVISION_KEY).map((e) => (JSON.parse((e as { value: string }).value) as ConfigEnvelope).revision);
    assert.ok(revs.length >= 6);
    for (let i = 1; i < revs.length; i++) assert.ok(revs[i]! >= revs[i - 1]!, `published in order: ${revs.join(',')}`);
    assert.equal((await h.rest('GET', '/v1/status')).json.published_revision, rev);
  });
});

describe('two control planes on one database', { timeout: 60_000 }, () => {
  let a: Harness;
  let bCp: ControlPlane;
  before(async () => {
    a = await startHarness({ pollIntervalMs: 100 });
    bCp = await startControlPlane({ pgUrl: a.dbUrl, bus: a.bus, restPort: 0, grpcPort: 0, pollIntervalMs: 100, log: () => undefined });
  });
  after(async () => {
    await bCp?.close();
    await a?.close();
  });

  it('share the bootstrap token, take turns publishing, and leave the bus consistent', async () => {
    assert.equal(bCp.bootstrapToken, undefined, 'only the first start creates a token');
    const viaB = async (body: unknown): Promise<Response> =>
      await fetch(`http://127.0.0.1:${bCp.restPort}/v1/consumers`, {
        method: 'POST',
        headers: { authorization: `Bearer ${a.token}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    const made = await Promise.all(
      Array.from({ length: 10 }, async (_, i) => (i % 2 ? await viaB({ username: `two-${i}` }) : (await a.rest('POST', '/v1/consumers', { username: `two-${i}` })).status)),
    );
    assert.ok(made.every((r) => (typeof r === 'number' ? r : r.status) === 201));
    const rev = await configRevision(a);
    await waitFor('both publishers caught up', async () => (await metaRevision(a.bus)) === rev);
    const report = await a.cp.reconcile();
    assert.equal(report.put + report.deleted, 0, `no drift: ${JSON.stringify(report)}`);
  });
});

describe('publisher backoff after bus failures', { timeout: 60_000 }, () => {
  let h: Harness;
  let nc: NatsConnection;
  before(async () => {
    // A long backoff cap, so that a change waiting for the backoff cannot pass for one published at once.
    h = await startHarness({ pollIntervalMs: 100, maxBackoffMs: 20_000 });
    nc = await connect({ servers: testEnv().natsUrl });
  });
  after(async () => {
    await h?.close();
    await nc?.close();
  });

  it('a write committed after the bus is back is published at once, not when the backoff runs out', async () => {
    const first = (await h.rest('POST', '/v1/upstreams', { name: 'bo-0', targets: [{ host: 'h', port: 1 }] })).json;
    await waitFor('first publish', async () => (await h.bus.get(entityKey('upstreams', first.id))) !== null);

    // The bucket gone: every publish fails at once (no stream answers), as fast as the test can make failures.
    await destroyBucket(nc, h.bucket);
    let retryAt = 0;
    for (let i = 1; retryAt === 0; i++) {
      assert.equal((await h.rest('POST', '/v1/upstreams', { name: `bo-${i}`, targets: [{ host: 'h', port: i }] })).status, 201);
      const failed = h.logs.filter((l) => l.event === 'config_publish_failed' && Number(l.retry_in_ms) >= 6_400);
      if (failed.length > 0) retryAt = Date.now() + Number(failed[failed.length - 1]!.retry_in_ms);
      else await new Promise((r) => setTimeout(r, 200));
      assert.ok(i < 200, 'the backoff grows while publishing fails');
    }

    // The bus is back; the next committed write must not wait for the seconds of backoff left.
    await NatsKvConfigBus.open(nc, h.bucket);
    const t0 = Date.now();
    const late = await h.rest('POST', '/v1/upstreams', { name: 'bo-late', targets: [{ host: 'h', port: 9 }] });
    assert.equal(late.status, 201);
    assert.ok(retryAt - Date.now() > 3_000, 'the backoff still has seconds to run (else this test proves nothing)');
    const rev = await configRevision(h);
    await waitFor('the late write reaches the bus', async () => (await metaRevision(h.bus)) >= rev, 10_000, 25);
    const ms = Date.now() - t0;
    assert.ok(ms < 1_000, `published ${ms} ms after the write (backoff had ${retryAt - t0} ms left)`);
    assert.ok(await h.bus.get(entityKey('upstreams', late.json.id)));
  });
});
