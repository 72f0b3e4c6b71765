// AI budgets over real HTTP, PostgreSQL and NATS: CRUD with defaults and the published KV entry; schema
// errors (400) and rule errors (422) with their field paths; 404 for a scope naming no key, consumer or
// tenant (and 422 for another tenant's id); scope immutable; cascade with the consumer; the usage endpoint
// reading the ledger the gateway nodes write (spent, unexpired reservations, limits, period bounds); gRPC.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import {
  AI_BUDGET_PERIODS,
  NatsBudgetLedgerStore,
  budgetBucketName,
  budgetLedgerKey,
  budgetPeriodEnd,
  budgetPeriodStart,
  entityKey,
  type LedgerRecord,
} from '@turnpike/common';
import { testEnv, waitFor } from '@turnpike/common/testing';
import { serviceClient, failure, type Call } from './grpc-client.js';
import { status } from '@grpc/grpc-js';
import { startHarness, type Harness } from './support.js';

const DEFAULT_TENANT = '00000000-0000-4000-8000-000000000001';
const UNKNOWN = '7b0e3c52-9d8e-4f61-8a55-2f7f0b0c9d11';

describe('AI budgets', { timeout: 120_000 }, () => {
  let h: Harness;
  let nc: NatsConnection;
  let store: NatsBudgetLedgerStore;
  let budgets: Call;
  let closeGrpc = (): void => undefined;
  const cluster = `b${randomBytes(4).toString('hex')}`;
  let consumerId = '';
  let keyId = '';

  before(async () => {
    nc = await connect({ servers: testEnv().natsUrl });
    store = new NatsBudgetLedgerStore(nc, cluster);
    h = await startHarness({ budgetLedger: store });
    consumerId = (await h.rest('POST', '/v1/consumers', { username: 'budget-user' })).json.id;
    const key = await h.rest('POST', `/v1/consumers/${consumerId}/keys`, { name: 'k1' });
    assert.equal(key.status, 201, key.text);
    keyId = key.json.id;
    const c = serviceClient(h.cp.grpcPort, 'AiBudgetService', h.token);
    budgets = c.call;
    closeGrpc = c.close;
  });
  after(async () => {
    closeGrpc();
    await h?.close();
    for (const p of AI_BUDGET_PERIODS) await nc.request(`$JS.API.STREAM.DELETE.KV_${budgetBucketName(cluster, p)}`, undefined, { timeout: 5_000 }).catch(() => undefined);
    await nc?.close();
  });

  it('creates a consumer budget with defaults, publishes it as ai_budgets.<id>, lists it by period', async () => {
    const res = await h.rest('POST', '/v1/ai-budgets', { name: 'tpm', scope: { type: 'consumer', id: consumerId }, period: 'minute', limits: { tokens: 10_000 } });
    assert.equal(res.status, 201, res.text);
    assert.equal(res.headers.get('location'), `/v1/ai-budgets/${res.json.id}`);
    assert.deepEqual(
      { scope: res.json.scope, period: res.json.period, limits: res.json.limits, enabled: res.json.enabled, description: res.json.description, tags: res.json.tags },
      { scope: { type: 'consumer', id: consumerId }, period: 'minute', limits: { tokens: 10_000 }, enabled: true, description: '', tags: [] },
    );
    assert.ok(res.json.created_at && res.json.updated_at);
    const published = await waitFor('budget in KV', async () => await h.bus.get(entityKey('ai_budgets', res.json.id)));
    const data = (JSON.parse(published) as { kind: string; data: Record<string, unknown> }).data;
    assert.deepEqual([data.id, data.period, data.limits, data.scope], [res.json.id, 'minute', { tokens: 10_000 }, { type: 'consumer', id: consumerId }]);

    const patched = await h.rest('PATCH', `/v1/ai-budgets/${res.json.id}`, { limits: { tokens: 20_000, requests: 60 }, enabled: false });
    assert.equal(patched.status, 200, patched.text);
    assert.deepEqual([patched.json.limits, patched.json.enabled], [{ tokens: 20_000, requests: 60 }, false]);
    assert.deepEqual((await h.rest('GET', '/v1/ai-budgets?period=minute')).json.data.map((b: { id: string }) => b.id), [res.json.id]);
    assert.equal((await h.rest('GET', '/v1/ai-budgets?period=day')).json.data.length, 0);
  });

  it('refuses bad input with field paths: schema errors 400, rules 422, a duplicate name 409, a changed scope 422', async () => {
    const base = { name: 'x', scope: { type: 'api_key', id: keyId }, period: 'day', limits: { requests: 10 } };
    const cases: Array<{ what: string; body: Record<string, unknown>; status: number; paths: string[] }> = [
      { what: 'no limit at all', body: { ...base, limits: {} }, status: 422, paths: ['/limits'] },
      { what: 'unknown period', body: { ...base, period: 'week' }, status: 400, paths: ['/period'] },
      { what: 'unknown scope type', body: { ...base, scope: { type: 'route', id: keyId } }, status: 400, paths: ['/scope/type'] },
      { what: 'scope id not a uuid', body: { ...base, scope: { type: 'consumer', id: 'bob' } }, status: 400, paths: ['/scope/id'] },
      { what: 'negative tokens', body: { ...base, limits: { tokens: -1 } }, status: 400, paths: ['/limits/tokens'] },
      { what: 'fractional requests', body: { ...base, limits: { requests: 1.5 } }, status: 400, paths: ['/limits/requests'] },
      { what: 'unknown limit', body: { ...base, limits: { dollars: 5 } }, status: 400, paths: ['/limits/dollars'] },
    ];
    for (const c of cases) {
      const res = await h.rest('POST', '/v1/ai-budgets', c.body);
      assert.equal(res.status, c.status, `${c.what}: ${res.text}`);
      const paths = (res.json.error.fields as Array<{ path: string }>).map((f) => f.path);
      for (const p of c.paths) assert.ok(paths.includes(p), `${c.what}: ${p} not in ${JSON.stringify(paths)}`);
    }
    const first = await h.rest('POST', '/v1/ai-budgets', { ...base, name: 'dup' });
    assert.equal(first.status, 201, first.text);
    const dup = await h.rest('POST', '/v1/ai-budgets', { ...base, name: 'dup' });
    assert.equal(dup.status, 409, dup.text);
    const moved = await h.rest('PATCH', `/v1/ai-budgets/${first.json.id}`, { scope: { type: 'consumer', id: consumerId } });
    assert.equal(moved.status, 422, moved.text);
    assert.deepEqual(moved.json.error.fields.map((f: { path: string }) => f.path), ['/scope']);
  });

  it('answers 404 at /scope/id for a key, consumer or tenant that does not exist, 422 for another tenant, 201 for this tenant', async () => {
    for (const type of ['api_key', 'consumer', 'tenant']) {
      const res = await h.rest('POST', '/v1/ai-budgets', { name: `missing-${type}`, scope: { type, id: UNKNOWN }, period: 'month', limits: { cost_usd: 5 } });
      assert.equal(res.status, 404, `${type}: ${res.text}`);
      assert.equal(res.json.error.code, 'TP_ERR_NOT_FOUND');
      assert.deepEqual(res.json.error.fields.map((f: { path: string }) => f.path), ['/scope/id']);
    }
    const other = await h.rest('POST', '/v1/tenants', { name: 'other-team' });
    assert.equal(other.status, 201, other.text);
    const foreign = await h.rest('POST', '/v1/ai-budgets', { name: 'foreign', scope: { type: 'tenant', id: other.json.id }, period: 'month', limits: { cost_usd: 5 } });
    assert.equal(foreign.status, 422, foreign.text);
    assert.deepEqual(foreign.json.error.fields.map((f: { path: string }) => f.path), ['/scope/id']);
    // Another tenant's consumer is invisible from here: 404, as if it did not exist.
    const theirs = await h.rest('POST', '/v1/consumers', { username: 'theirs' }, { 'x-turnpike-tenant': 'other-team' });
    assert.equal(theirs.status, 201, theirs.text);
    const cross = await h.rest('POST', '/v1/ai-budgets', { name: 'cross', scope: { type: 'consumer', id: theirs.json.id }, period: 'day', limits: { requests: 1 } });
    assert.equal(cross.status, 404, cross.text);
    const own = await h.rest('POST', '/v1/ai-budgets', { name: 'team-month', scope: { type: 'tenant', id: DEFAULT_TENANT }, period: 'month', limits: { cost_usd: 250.5 } });
    assert.equal(own.status, 201, own.text);
    // Without an id a tenant budget is the current tenant's; a key or consumer budget needs one.
    const implicit = await h.rest('POST', '/v1/ai-budgets', { name: 'team-day', scope: { type: 'tenant' }, period: 'day', limits: { requests: 10_000 } });
    assert.equal(implicit.status, 201, implicit.text);
    assert.deepEqual(implicit.json.scope, { type: 'tenant', id: DEFAULT_TENANT });
    const theirsImplicit = await h.rest('POST', '/v1/ai-budgets', { name: 'their-day', scope: { type: 'tenant' }, period: 'day', limits: { requests: 1 } }, { 'x-turnpike-tenant': 'other-team' });
    assert.equal(theirsImplicit.status, 201, theirsImplicit.text);
    assert.deepEqual(theirsImplicit.json.scope, { type: 'tenant', id: other.json.id });
    const noId = await h.rest('POST', '/v1/ai-budgets', { name: 'no-id', scope: { type: 'consumer' }, period: 'day', limits: { requests: 1 } });
    assert.equal(noId.status, 422, noId.text);
    assert.deepEqual(noId.json.error.fields.map((f: { path: string }) => f.path), ['/scope/id']);
  });

  it('GET /usage reads the ledger: spent, unexpired reservations, limits, remaining and the period bounds', async () => {
    const created = await h.rest('POST', '/v1/ai-budgets', { name: 'key-hourly', scope: { type: 'api_key', id: keyId }, period: 'hour', limits: { tokens: 1000, requests: 10 } });
    assert.equal(created.status, 201, created.text);
    const id = created.json.id as string;
    const empty = await h.rest('GET', `/v1/ai-budgets/${id}/usage`);
    assert.equal(empty.status, 200, empty.text);
    assert.deepEqual([empty.json.tokens, empty.json.cost_usd, empty.json.open_reservations], [{ spent: 0, reserved: 0, limit: 1000, remaining: 1000 }, { spent: 0, reserved: 0, limit: null, remaining: null }, 0]);

    // What gateway nodes write (services/gateway/src/ai/budget-ledger.ts): spent plus open reservations.
    const now = Date.now();
    const start = budgetPeriodStart('hour', now);
    const record: LedgerRecord = {
      v: 1,
      budget_id: id,
      period: 'hour',
      start,
      spent: { tokens: 420, cost_usd: 0.0123, requests: 3 },
      reservations: [
        { id: 'n1-1', amount: { tokens: 100, cost_usd: 0.001, requests: 1 }, node: 'n1', expires_at: now + 300_000 },
        { id: 'n2-7', amount: { tokens: 200, cost_usd: 0.002, requests: 1 }, node: 'n2', expires_at: now + 300_000 },
        { id: 'dead-1', amount: { tokens: 5000, cost_usd: 1, requests: 1 }, node: 'dead', expires_at: now - 1 },
      ],
    };
    const key = budgetLedgerKey(id, start);
    assert.equal(await store.putIf('hour', key, JSON.stringify(record), (await store.get('hour', key)).revision), true);
    const u = await h.rest('GET', `/v1/ai-budgets/${id}/usage`);
    assert.equal(u.status, 200, u.text);
    assert.equal(u.json.budget_id, id);
    assert.equal(u.json.period, 'hour');
    assert.equal(u.json.period_start, new Date(start).toISOString());
    assert.equal(u.json.resets_at, new Date(budgetPeriodEnd('hour', start)).toISOString());
    assert.deepEqual(u.json.tokens, { spent: 420, reserved: 300, limit: 1000, remaining: 280 });
    assert.deepEqual(u.json.requests, { spent: 3, reserved: 2, limit: 10, remaining: 5 });
    assert.deepEqual(u.json.cost_usd, { spent: 0.0123, reserved: 0.003, limit: null, remaining: null });
    assert.equal(u.json.open_reservations, 2);

    assert.equal((await h.rest('GET', `/v1/ai-budgets/${UNKNOWN}/usage`)).status, 404);
    assert.equal((await h.rest('GET', `/v1/ai-budgets/not-a-uuid/usage`)).status, 404);
    // The usage endpoint is in the OpenAPI document.
    const spec = (await h.rest('GET', '/v1/openapi.json')).json;
    assert.ok(spec.paths['/v1/ai-budgets/{id}/usage']?.get);
    assert.ok(spec.paths['/v1/ai-budgets']?.post);
  });

  it("deleting the consumer or the key deletes its budgets and their KV entries", async () => {
    const c = (await h.rest('POST', '/v1/consumers', { username: 'short-lived' })).json.id as string;
    const k = (await h.rest('POST', `/v1/consumers/${c}/keys`, { name: 'kk' })).json.id as string;
    const kb = await h.rest('POST', '/v1/ai-budgets', { name: 'short-lived-key', scope: { type: 'api_key', id: k }, period: 'day', limits: { requests: 5 } });
    assert.equal(kb.status, 201, kb.text);
    assert.equal((await h.rest('DELETE', `/v1/consumers/${c}/keys/${k}`)).status, 204);
    assert.equal((await h.rest('GET', `/v1/ai-budgets/${kb.json.id}`)).status, 404);
    const b = await h.rest('POST', '/v1/ai-budgets', { name: 'short-lived-rpm', scope: { type: 'consumer', id: c }, period: 'minute', limits: { requests: 60 } });
    assert.equal(b.status, 201, b.text);
    await waitFor('budget in KV', async () => await h.bus.get(entityKey('ai_budgets', b.json.id)));
    // A key budget also goes when its consumer does (the consumer's keys go with it).
    const k2 = (await h.rest('POST', `/v1/consumers/${c}/keys`, { name: 'kk2' })).json.id as string;
    const kb2 = await h.rest('POST', '/v1/ai-budgets', { name: 'short-lived-key2', scope: { type: 'api_key', id: k2 }, period: 'day', limits: { requests: 5 } });
    assert.equal(kb2.status, 201, kb2.text);
    assert.equal((await h.rest('DELETE', `/v1/consumers/${c}`)).status, 204);
    assert.equal((await h.rest('GET', `/v1/ai-budgets/${kb2.json.id}`)).status, 404);
    assert.equal((await h.rest('GET', `/v1/ai-budgets/${b.json.id}`)).status, 404);
    await waitFor('budget gone from KV', async () => ((await h.bus.get(entityKey('ai_budgets', b.json.id))) === null ? true : null));
  });

  it('is served over gRPC with the same rules', async () => {
    const created = await budgets('CreateAiBudget', { name: 'grpc-daily', scope: { type: 'consumer', id: consumerId }, period: 'day', limits: { cost_usd: 12.5, requests: 1000 } });
    assert.deepEqual([created.period, created.limits, created.enabled], ['day', { cost_usd: 12.5, requests: 1000 }, true]);
    const got = await budgets('GetAiBudget', { id: created.id });
    assert.equal(got.name, 'grpc-daily');
    const missing = await failure(budgets('CreateAiBudget', { name: 'grpc-missing', scope: { type: 'api_key', id: UNKNOWN }, period: 'day', limits: { requests: 1 } }));
    assert.equal(missing.code, status.NOT_FOUND);
    const noLimit = await failure(budgets('CreateAiBudget', { name: 'grpc-none', scope: { type: 'consumer', id: consumerId }, period: 'day', limits: {} }));
    assert.equal(noLimit.code, status.FAILED_PRECONDITION);
    const list = await budgets('ListAiBudgets', { period: 'day' });
    assert.ok((list.data as Array<{ id: string }>).some((b) => b.id === created.id));
  });
});
