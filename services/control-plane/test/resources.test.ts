// The generic resource store over REST against real PostgreSQL and NATS: consumer groups (and consumers'
// membership), plans, and subscriptions with their approval workflow — validation, uniqueness, references,
// cascades, tenancy, RBAC of the actions, and what reaches the config bus.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { waitFor } from '@turnpike/common/testing';
import { startHarness, type Harness, type RestResponse } from './support.js';

describe('generic resources (REST)', { timeout: 90_000 }, () => {
  let h: Harness;
  let serviceId = '';
  let n = 0;
  const uniq = (p: string) => `${p}-${n++}`;
  const ok = (r: RestResponse, status: number) => {
    assert.equal(r.status, status, `${status} expected: ${r.text}`);
    return r;
  };
  const as = (token: string) => (method: string, path: string, body?: unknown) => h.rest(method, path, body, { authorization: `Bearer ${token}` });
  const kv = async (key: string) => {
    const v = await h.bus.get(key);
    return v === null ? null : (JSON.parse(v) as { kind: string; revision: number; data: Record<string, unknown> });
  };
  const consumer = async (extra: Record<string, unknown> = {}) => ok(await h.rest('POST', '/v1/consumers', { username: uniq('c'), ...extra }), 201).json as { id: string; group_ids: string[] };

  before(async () => {
    h = await startHarness({ pollIntervalMs: 50 });
    const u = ok(await h.rest('POST', '/v1/upstreams', { name: 'res-up', targets: [{ host: '127.0.0.1', port: 9000 }] }), 201);
    serviceId = ok(await h.rest('POST', '/v1/services', { name: 'res-svc', upstream_id: u.json.id }), 201).json.id;
  });
  after(async () => {
    await h?.close();
  });

  describe('consumer groups', () => {
    it('create, read, list by name, update, and a duplicate name is 409', async () => {
      const g = ok(await h.rest('POST', '/v1/consumer-groups', { name: 'gold' }), 201);
      assert.equal(g.headers.get('location'), `/v1/consumer-groups/${g.json.id}`);
      assert.deepEqual({ ...g.json, id: 0, created_at: 0, updated_at: 0 }, { id: 0, name: 'gold', description: '', tags: [], created_at: 0, updated_at: 0 });
      assert.equal(g.headers.get('etag'), '"1"');
      const list = ok(await h.rest('GET', '/v1/consumer-groups?name=gold'), 200);
      assert.deepEqual(list.json.data.map((x: { id: string }) => x.id), [g.json.id]);
      const dup = ok(await h.rest('POST', '/v1/consumer-groups', { name: 'gold' }), 409);
      assert.deepEqual(dup.json.error.fields, [{ path: '/name', message: 'is already taken' }]);
      const up = ok(await h.rest('PATCH', `/v1/consumer-groups/${g.json.id}`, { description: 'paying' }, { 'if-match': '"1"' }), 200);
      assert.equal(up.json.description, 'paying');
      assert.equal(up.json.name, 'gold');
      ok(await h.rest('PATCH', `/v1/consumer-groups/${g.json.id}`, { description: 'stale' }, { 'if-match': '"1"' }), 412);
    });

    it('validation errors carry field paths; unknown query parameters are 400', async () => {
      const bad = ok(await h.rest('POST', '/v1/consumer-groups', { name: '', colour: 'red' }), 400);
      const paths = bad.json.error.fields.map((f: { path: string }) => f.path).sort();
      assert.ok(paths.includes('/name') && paths.some((p: string) => p.includes('colour')), JSON.stringify(bad.json));
      ok(await h.rest('GET', '/v1/consumer-groups?colour=red'), 400);
      ok(await h.rest('GET', '/v1/consumer-groups/not-a-uuid'), 404);
    });

    it('consumers join groups by id; an unknown group is 422 at its index; deleting a group takes it out of its members', async () => {
      const g = ok(await h.rest('POST', '/v1/consumer-groups', { name: uniq('grp') }), 201).json;
      const missing = '00000000-0000-4000-8000-00000000dead';
      const bad = ok(await h.rest('POST', '/v1/consumers', { username: uniq('c'), group_ids: [g.id, missing] }), 422);
      assert.deepEqual(bad.json.error.fields.map((f: { path: string }) => f.path), ['/group_ids/1']);
      const c = await consumer({ group_ids: [g.id] });
      assert.deepEqual(c.group_ids, [g.id]);
      await waitFor('bus', async () => (((await kv(`consumers.${c.id}`))?.data.group_ids as string[] | undefined)?.[0] === g.id) || null);
      ok(await h.rest('DELETE', `/v1/consumer-groups/${g.id}`), 204);
      assert.deepEqual(ok(await h.rest('GET', `/v1/consumers/${c.id}`), 200).json.group_ids, []);
      await waitFor('bus', async () => ((await kv(`consumer_groups.${g.id}`)) === null && ((await kv(`consumers.${c.id}`))?.data.group_ids as string[]).length === 0) || null);
    });
  });

  describe('plans', () => {
    it('defaults, partial update keeps other fields, rule errors have field paths', async () => {
      const p = ok(await h.rest('POST', '/v1/plans', { name: uniq('plan'), rate_limit: { requests: 10, per: 'second' } }), 201).json;
      assert.equal(p.approval, 'manual');
      assert.deepEqual(p.quotas, []);
      const up = ok(await h.rest('PATCH', `/v1/plans/${p.id}`, { quotas: [{ period: 'day', requests: 1000 }] }), 200).json;
      assert.deepEqual(up.rate_limit, { requests: 10, per: 'second' });
      assert.deepEqual(up.quotas, [{ period: 'day', requests: 1000 }]);
      const dupPeriod = ok(await h.rest('POST', '/v1/plans', { name: uniq('plan'), quotas: [{ period: 'day', requests: 1 }, { period: 'day', ai_tokens: 5 }] }), 422);
      assert.deepEqual(dupPeriod.json.error.fields, [{ path: '/quotas/1/period', message: 'is already used by another quota' }]);
      const empty = ok(await h.rest('POST', '/v1/plans', { name: uniq('plan'), quotas: [{ period: 'week' }] }), 422);
      assert.equal(empty.json.error.fields[0].path, '/quotas/0');
      const badUnit = ok(await h.rest('POST', '/v1/plans', { name: uniq('plan'), rate_limit: { requests: 10, per: 'fortnight' } }), 400);
      assert.ok(badUnit.json.error.fields.some((f: { path: string }) => f.path.startsWith('/rate_limit')));
      const replaced = ok(await h.rest('PUT', `/v1/plans/${p.id}`, { name: p.name }), 200).json;
      assert.equal(replaced.rate_limit, null, 'a full replacement resets omitted fields to their defaults');
    });
  });

  describe('subscriptions', () => {
    let manualPlan = '';
    let autoPlan = '';
    before(async () => {
      manualPlan = ok(await h.rest('POST', '/v1/plans', { name: uniq('manual') }), 201).json.id;
      autoPlan = ok(await h.rest('POST', '/v1/plans', { name: uniq('auto'), approval: 'auto' }), 201).json.id;
    });

    it('pending → approved → revoked, then a new request is allowed; decisions are recorded', async () => {
      const c = await consumer();
      const s = ok(await h.rest('POST', '/v1/subscriptions', { consumer_id: c.id, service_id: serviceId, plan_id: manualPlan, note: 'for the mobile app' }), 201).json;
      assert.equal(s.status, 'pending');
      assert.equal(s.decided_at, null);
      const dup = ok(await h.rest('POST', '/v1/subscriptions', { consumer_id: c.id, service_id: serviceId }), 409);
      assert.equal(dup.json.error.fields[0].path, '/service_id');
      const a = ok(await h.rest('POST', `/v1/subscriptions/${s.id}/approve`, { reason: 'looks fine' }), 200);
      assert.equal(a.json.status, 'approved');
      assert.equal(a.json.reason, 'looks fine');
      assert.ok(a.json.decided_at);
      assert.match(a.json.decided_by, /^[0-9a-f-]{36}$/);
      assert.equal(a.headers.get('etag'), '"2"');
      await waitFor('bus', async () => ((await kv(`subscriptions.${s.id}`))?.data.status === 'approved') || null);
      const again = ok(await h.rest('POST', `/v1/subscriptions/${s.id}/approve`, {}), 422);
      assert.match(again.json.error.message, /approved subscription cannot be approved/);
      ok(await h.rest('POST', `/v1/subscriptions/${s.id}/revoke`, {}, { 'if-match': '"1"' }), 412);
      assert.equal(ok(await h.rest('POST', `/v1/subscriptions/${s.id}/revoke`, {}, { 'if-match': '"2"' }), 200).json.status, 'revoked');
      const next = ok(await h.rest('POST', '/v1/subscriptions', { consumer_id: c.id, service_id: serviceId }), 201).json;
      assert.equal(next.status, 'pending');
      assert.equal(ok(await h.rest('POST', `/v1/subscriptions/${next.id}/reject`, { reason: 'no' }), 200).json.status, 'rejected');
      ok(await h.rest('POST', `/v1/subscriptions/${next.id}/approve`), 422);
      const audit = ok(await h.rest('GET', `/v1/audit?resource_type=subscriptions&resource_id=${s.id}`), 200).json.data;
      assert.deepEqual(audit.map((r: { action: string }) => r.action).sort(), ['create', 'update', 'update']);
    });

    it('a plan with automatic approval approves on creation', async () => {
      const c = await consumer();
      const s = ok(await h.rest('POST', '/v1/subscriptions', { consumer_id: c.id, service_id: serviceId, plan_id: autoPlan }), 201).json;
      assert.equal(s.status, 'approved');
      assert.equal(s.decided_by, null);
    });

    it('status and consumer/service change only through actions; references are checked', async () => {
      const c = await consumer();
      const s = ok(await h.rest('POST', '/v1/subscriptions', { consumer_id: c.id, service_id: serviceId }), 201).json;
      const statusPatch = ok(await h.rest('PATCH', `/v1/subscriptions/${s.id}`, { status: 'approved' }), 400);
      assert.ok(statusPatch.json.error.fields.some((f: { path: string; message: string }) => f.message.includes('status') || f.path.includes('status')));
      ok(await h.rest('PATCH', `/v1/subscriptions/${s.id}`, { consumer_id: c.id }), 400);
      assert.equal(ok(await h.rest('PATCH', `/v1/subscriptions/${s.id}`, { note: 'updated' }), 200).json.status, 'pending');
      const missing = '00000000-0000-4000-8000-00000000beef';
      const bad = ok(await h.rest('POST', '/v1/subscriptions', { consumer_id: missing, service_id: serviceId, plan_id: missing }), 422);
      assert.deepEqual(bad.json.error.fields.map((f: { path: string }) => f.path).sort(), ['/consumer_id', '/plan_id']);
      const filtered = ok(await h.rest('GET', `/v1/subscriptions?status=pending&consumer_id=${c.id}`), 200).json.data;
      assert.deepEqual(filtered.map((x: { id: string }) => x.id), [s.id]);
      ok(await h.rest('GET', '/v1/subscriptions?consumer_id=nope'), 400);
    });

    it('a subscribed plan cannot be deleted (409); deleting the consumer deletes its subscriptions everywhere', async () => {
      const plan = ok(await h.rest('POST', '/v1/plans', { name: uniq('busy') }), 201).json.id;
      const c = await consumer();
      const s = ok(await h.rest('POST', '/v1/subscriptions', { consumer_id: c.id, service_id: serviceId, plan_id: plan }), 201).json;
      const inUse = ok(await h.rest('DELETE', `/v1/plans/${plan}`), 409);
      assert.equal(inUse.json.error.code, 'TP_ERR_IN_USE');
      await waitFor('bus', async () => ((await kv(`subscriptions.${s.id}`)) !== null) || null);
      ok(await h.rest('DELETE', `/v1/consumers/${c.id}`), 204);
      ok(await h.rest('GET', `/v1/subscriptions/${s.id}`), 404);
      await waitFor('bus', async () => ((await kv(`subscriptions.${s.id}`)) === null) || null);
      ok(await h.rest('DELETE', `/v1/plans/${plan}`), 204);
    });

    it('approving needs the admin role: an editor may request but not decide; another tenant sees 404', async () => {
      const editor = ok(await h.rest('POST', '/v1/tokens', { name: uniq('editor'), role: 'editor' }), 201).json.token as string;
      const admin = ok(await h.rest('POST', '/v1/tokens', { name: uniq('admin'), role: 'admin' }), 201).json.token as string;
      const c = await consumer();
      const s = ok(await as(editor)('POST', '/v1/subscriptions', { consumer_id: c.id, service_id: serviceId }), 201).json;
      const denied = ok(await as(editor)('POST', `/v1/subscriptions/${s.id}/approve`, {}), 403);
      assert.equal(denied.json.error.code, 'TP_ERR_FORBIDDEN');
      ok(await as(admin)('POST', `/v1/subscriptions/${s.id}/approve`, {}), 200);

      ok(await h.rest('POST', '/v1/tenants', { name: 'res-other' }), 201);
      const other = ok(await h.rest('POST', '/v1/tokens', { name: uniq('other'), role: 'owner' }, { 'x-turnpike-tenant': 'res-other' }), 201).json.token as string;
      ok(await as(other)('GET', `/v1/subscriptions/${s.id}`), 404);
      ok(await as(other)('POST', `/v1/subscriptions/${s.id}/revoke`, {}), 404);
      assert.deepEqual(ok(await as(other)('GET', '/v1/subscriptions'), 200).json.data, []);
      const cross = ok(await as(other)('POST', '/v1/subscriptions', { consumer_id: c.id, service_id: serviceId }), 422);
      assert.deepEqual(cross.json.error.fields.map((f: { path: string }) => f.path).sort(), ['/consumer_id', '/service_id']);
    });
  });

  it('the reconciler republishes a resource missing from the bus', async () => {
    const g = ok(await h.rest('POST', '/v1/consumer-groups', { name: uniq('recon') }), 201).json;
    await waitFor('bus', async () => ((await kv(`consumer_groups.${g.id}`)) !== null) || null);
    await h.bus.delete(`consumer_groups.${g.id}`);
    const report = await h.cp.reconcile();
    assert.ok(report.put >= 1, JSON.stringify(report));
    assert.equal((await kv(`consumer_groups.${g.id}`))?.data.name, g.name);
  });
});
