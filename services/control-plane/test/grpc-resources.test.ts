// The generic resource kinds over gRPC (grpc/resource-service.ts) through a real grpc-js client loading
// admin.proto: CRUD with list filters and update masks, actions with their role, optimistic concurrency,
// validation errors, and the same data as REST for the same entity.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { status } from '@grpc/grpc-js';
import { GRPC_RESOURCES } from '../src/grpc/resource-service.js';
import { RESOURCE_DEFS } from '../src/resources/index.js';
import { adminClients, failure, serviceClient, type AdminClients, type Call } from './grpc-client.js';
import { startHarness, type Harness } from './support.js';

type Obj = Record<string, unknown>;

const NIL = '00000000-0000-4000-8000-000000000000';

/**
 * REST and gRPC show the same entity: every REST field equal on the wire, except that proto3 cannot carry
 * null, '', 0, false or [] (they are unset); gRPC adds only `version`, which is the REST ETag.
 */
function assertSameEntity(rest: { json: Obj; headers: Headers }, grpcMsg: Obj): void {
  const zero = (v: unknown): boolean => v === null || v === '' || v === 0 || v === false || (Array.isArray(v) && v.length === 0);
  for (const [k, v] of Object.entries(rest.json)) {
    if (grpcMsg[k] === undefined) assert.ok(zero(v), `${k}: REST ${JSON.stringify(v)}, unset over gRPC`);
    else assert.deepEqual(grpcMsg[k], v, `field ${k}`);
  }
  for (const k of Object.keys(grpcMsg)) if (k !== 'version') assert.ok(k in rest.json, `gRPC field ${k} is in the REST entity`);
  assert.equal(rest.headers.get('etag'), `"${String(grpcMsg.version)}"`);
}

describe('gRPC generic resource kinds', { timeout: 90_000 }, () => {
  let h: Harness;
  let c: AdminClients;
  let groups: Call;
  let plans: Call;
  let subs: Call;
  let editorToken: string;
  const closers: Array<() => void> = [];
  const client = (service: string): Call => {
    const made = serviceClient(h.cp.grpcPort, service, h.token);
    closers.push(made.close);
    return made.call;
  };

  before(async () => {
    h = await startHarness();
    c = adminClients(h.cp.grpcPort, h.token);
    groups = client('ConsumerGroupService');
    plans = client('PlanService');
    subs = client('SubscriptionService');
    const tok = await h.rest('POST', '/v1/tokens', { name: 'grpc-res-editor', role: 'editor' });
    assert.equal(tok.status, 201, tok.text);
    editorToken = tok.json.token as string;
  });
  after(async () => {
    c?.close();
    closers.forEach((close) => close());
    await h?.close();
  });

  it('every generic kind of the registry has a gRPC service', () => {
    const served = new Set(GRPC_RESOURCES.map((r) => r.kind));
    for (const def of RESOURCE_DEFS) assert.ok(served.has(def.kind), `${def.kind} has no gRPC registration: follow the recipe in src/grpc/resource-service.ts`);
  });

  it('consumer groups: create, get, list with filters, masked update, delete; consumers carry group_ids', async () => {
    const gold = await groups('CreateConsumerGroup', { name: 'gold', tags: ['tier'] });
    assert.equal(gold.name, 'gold');
    assert.deepEqual(gold.tags, ['tier']);
    assert.equal(gold.description, '', 'an unset field takes its default');
    assert.equal(gold.version, 1);
    const silver = await groups('CreateConsumerGroup', { name: 'silver', description: 'second' });
    assert.deepEqual(await groups('GetConsumerGroup', { id: gold.id }), gold);
    assertSameEntity(await h.rest('GET', `/v1/consumer-groups/${String(gold.id)}`), gold);

    const all = (await groups('ListConsumerGroups', {})).data as Obj[];
    assert.deepEqual(all.map((g) => g.name), ['gold', 'silver']);
    assert.deepEqual(((await groups('ListConsumerGroups', { name: 'silver' })).data as Obj[]).map((g) => g.id), [silver.id]);
    assert.deepEqual(((await groups('ListConsumerGroups', { tag: 'tier' })).data as Obj[]).map((g) => g.id), [gold.id]);
    const page = await groups('ListConsumerGroups', { limit: 1 });
    assert.equal((page.data as Obj[]).length, 1);
    assert.ok(page.next);

    const described = await groups('UpdateConsumerGroup', { id: gold.id, consumer_group: { description: 'first' }, update_mask: ['description'] });
    assert.equal(described.description, 'first');
    assert.deepEqual(described.tags, ['tier'], 'fields outside the mask keep their values');
    assert.equal(described.version, 2);
    const cleared = await groups('UpdateConsumerGroup', { id: gold.id, consumer_group: {}, update_mask: ['tags', 'description'] });
    assert.equal(cleared.tags, undefined, 'a list named in the mask and unset is cleared');
    assert.equal(cleared.description, '', 'a field named in the mask and unset takes its default');
    assert.deepEqual((await h.rest('GET', `/v1/consumer-groups/${String(gold.id)}`)).json.tags, []);
    const renamed = await groups('UpdateConsumerGroup', { id: gold.id, consumer_group: { name: 'platinum' } });
    assert.equal(renamed.name, 'platinum');
    const taken = await failure(groups('UpdateConsumerGroup', { id: gold.id, consumer_group: { name: 'silver' } }));
    assert.equal(taken.code, status.ALREADY_EXISTS);

    // Consumers name their groups (group_ids), and a mask can clear them.
    const alice = await c.consumers('CreateConsumer', { username: 'alice', group_ids: [gold.id, silver.id] });
    assert.deepEqual(alice.group_ids, [gold.id, silver.id]);
    assertSameEntity(await h.rest('GET', `/v1/consumers/${String(alice.id)}`), alice);
    const one = await c.consumers('UpdateConsumer', { id: alice.id, consumer: { group_ids: [silver.id] } });
    assert.deepEqual(one.group_ids, [silver.id]);
    const none = await c.consumers('UpdateConsumer', { id: alice.id, consumer: {}, update_mask: ['group_ids'] });
    assert.equal(none.group_ids, undefined);
    assert.deepEqual((await h.rest('GET', `/v1/consumers/${String(alice.id)}`)).json.group_ids, []);
    await c.consumers('UpdateConsumer', { id: alice.id, consumer: { group_ids: [silver.id] } });

    // Deleting a group takes it out of its members.
    assert.deepEqual(await groups('DeleteConsumerGroup', { id: silver.id }), {});
    assert.equal((await failure(groups('GetConsumerGroup', { id: silver.id }))).code, status.NOT_FOUND);
    assert.equal((await c.consumers('GetConsumer', { id: alice.id })).group_ids, undefined);
    await groups('DeleteConsumerGroup', { id: gold.id });
    await c.consumers('DeleteConsumer', { id: alice.id });
  });

  it('plans: nested rate_limit and quotas, masked update clears a nullable message, same as REST', async () => {
    const basic = await plans('CreatePlan', {
      name: 'basic',
      rate_limit: { requests: 10, per: 'minute' },
      quotas: [
        { period: 'day', requests: 5_000_000_000 },
        { period: 'month', ai_cost_usd: 2.5, ai_tokens: 100_000 },
      ],
      tags: ['public'],
    });
    assert.equal(basic.approval, 'manual', 'an unset field takes its default');
    assert.deepEqual(basic.rate_limit, { requests: 10, per: 'minute' });
    assert.deepEqual(basic.quotas, [
      { period: 'day', requests: 5_000_000_000 },
      { period: 'month', ai_tokens: 100_000, ai_cost_usd: 2.5 },
    ]);
    assertSameEntity(await h.rest('GET', `/v1/plans/${String(basic.id)}`), basic);
    const free = await plans('CreatePlan', { name: 'free', approval: 'auto' });
    assert.equal(free.rate_limit, undefined);
    assert.equal(free.quotas, undefined);

    assert.deepEqual(((await plans('ListPlans', { name: 'free' })).data as Obj[]).map((p) => p.id), [free.id]);
    assert.deepEqual(((await plans('ListPlans', { tag: 'public' })).data as Obj[]).map((p) => p.id), [basic.id]);
    assert.deepEqual(((await plans('ListPlans', { tag: 'nope' })).data as Obj[] | undefined) ?? [], []);

    const burst = await plans('UpdatePlan', { id: basic.id, plan: { rate_limit: { requests: 20, per: 'second', burst: 40 } } });
    assert.deepEqual(burst.rate_limit, { requests: 20, per: 'second', burst: 40 });
    assert.equal((burst.quotas as Obj[]).length, 2, 'an unset list outside a mask is unchanged');
    const unlimited = await plans('UpdatePlan', { id: basic.id, plan: { approval: 'auto' }, update_mask: ['rate_limit', 'quotas', 'approval'] });
    assert.equal(unlimited.rate_limit, undefined);
    assert.equal(unlimited.quotas, undefined);
    assert.equal(unlimited.approval, 'auto');
    const viaRest = await h.rest('GET', `/v1/plans/${String(basic.id)}`);
    assert.equal(viaRest.json.rate_limit, null);
    assert.deepEqual(viaRest.json.quotas, []);
    assertSameEntity(viaRest, unlimited);

    // Checks beyond the schema (the kind's `check`) map like the rest: FAILED_PRECONDITION with fields.
    const twice = await failure(plans('UpdatePlan', { id: basic.id, plan: { quotas: [{ period: 'day', requests: 1 }, { period: 'day', requests: 2 }] } }));
    assert.equal(twice.code, status.FAILED_PRECONDITION);
    assert.deepEqual(JSON.parse(String(twice.metadata.get('tp-error-fields')[0])), [{ path: '/quotas/1/period', message: 'is already used by another quota' }]);

    await plans('DeletePlan', { id: free.id });
    await plans('DeletePlan', { id: basic.id, expected_version: unlimited.version });
    assert.equal((await failure(plans('GetPlan', { id: basic.id }))).code, status.NOT_FOUND);
  });

  it('INVALID_ARGUMENT with tp-error-fields for a validation error; bad mask and filter too', async () => {
    const bad = await failure(plans('CreatePlan', { name: 'no spaces allowed', rate_limit: { requests: 0, per: 'fortnight' } }));
    assert.equal(bad.code, status.INVALID_ARGUMENT);
    assert.deepEqual(bad.metadata.get('tp-error-code'), ['TP_ERR_VALIDATION']);
    const fields = JSON.parse(String(bad.metadata.get('tp-error-fields')[0])) as Array<{ path: string }>;
    const paths = fields.map((f) => f.path);
    assert.ok(paths.includes('/name'), paths.join(', '));
    assert.ok(paths.some((p) => p.startsWith('/rate_limit')), paths.join(', '));
    assert.match(bad.details, /^TP_ERR_VALIDATION: /);

    const missing = await failure(subs('CreateSubscription', { note: 'no ids' }));
    assert.equal(missing.code, status.INVALID_ARGUMENT);
    const g = await groups('CreateConsumerGroup', { name: 'masked' });
    const badMask = await failure(groups('UpdateConsumerGroup', { id: g.id, consumer_group: {}, update_mask: ['nope'] }));
    assert.equal(badMask.code, status.INVALID_ARGUMENT);
    assert.deepEqual(JSON.parse(String(badMask.metadata.get('tp-error-fields')[0])), [{ path: '/update_mask/nope', message: 'is not a field' }]);
    const badFilter = await failure(subs('ListSubscriptions', { consumer_id: 'not-a-uuid' }));
    assert.equal(badFilter.code, status.INVALID_ARGUMENT);
    await groups('DeleteConsumerGroup', { id: g.id });
  });

  it('subscriptions: create pending, status filter, approve (admin only), stale expected_version, revoke, masked plan removal', async () => {
    const up = await c.upstreams('CreateUpstream', { name: 'sub-up', targets: [{ host: '10.0.0.9', port: 80 }] });
    const svc = await c.services('CreateService', { name: 'sub-svc', upstream_id: up.id });
    const bob = await c.consumers('CreateConsumer', { username: 'bob' });
    const carol = await c.consumers('CreateConsumer', { username: 'carol' });
    const manual = await plans('CreatePlan', { name: 'manual-plan' });
    const auto = await plans('CreatePlan', { name: 'auto-plan', approval: 'auto' });

    const sub = await subs('CreateSubscription', { consumer_id: bob.id, service_id: svc.id, plan_id: manual.id, note: 'please', tags: ['x'] });
    assert.equal(sub.status, 'pending');
    assert.equal(sub.plan_id, manual.id);
    assert.equal(sub.decided_at, undefined);
    assert.equal(sub.decided_by, undefined);
    assertSameEntity(await h.rest('GET', `/v1/subscriptions/${String(sub.id)}`), sub);
    const autoSub = await subs('CreateSubscription', { consumer_id: carol.id, service_id: svc.id, plan_id: auto.id });
    assert.equal(autoSub.status, 'approved');
    const dup = await failure(subs('CreateSubscription', { consumer_id: bob.id, service_id: svc.id }));
    assert.equal(dup.code, status.ALREADY_EXISTS);

    const ids = async (req: Obj): Promise<unknown[]> => (((await subs('ListSubscriptions', req)).data as Obj[] | undefined) ?? []).map((s) => s.id);
    assert.deepEqual(await ids({ status: 'pending' }), [sub.id]);
    assert.deepEqual(await ids({ status: 'approved' }), [autoSub.id]);
    assert.deepEqual(await ids({ consumer_id: String(carol.id).toUpperCase() }), [autoSub.id]);
    assert.deepEqual(await ids({ plan_id: manual.id, status: 'pending' }), [sub.id]);
    assert.deepEqual(await ids({ tag: 'x' }), [sub.id]);
    assert.deepEqual(await ids({}), [sub.id, autoSub.id]);

    // An editor may create and update subscriptions but not decide on them.
    const denied = await failure(subs('ApproveSubscription', { id: sub.id }, editorToken));
    assert.equal(denied.code, status.PERMISSION_DENIED);
    assert.deepEqual(denied.metadata.get('tp-error-code'), ['TP_ERR_FORBIDDEN']);
    const noted = await subs('UpdateSubscription', { id: sub.id, subscription: { note: 'please, soon' } }, editorToken);
    assert.equal(noted.note, 'please, soon');
    assert.equal(noted.version, 2);

    // Optimistic concurrency: a stale expected_version fails for actions, updates and deletes alike.
    for (const stale of [
      () => subs('ApproveSubscription', { id: sub.id, expected_version: 1 }),
      () => subs('UpdateSubscription', { id: sub.id, subscription: { note: 'late' }, expected_version: 1 }),
      () => subs('DeleteSubscription', { id: sub.id, expected_version: 1 }),
    ]) {
      const err = await failure(stale());
      assert.equal(err.code, status.FAILED_PRECONDITION);
      assert.deepEqual(err.metadata.get('tp-error-code'), ['TP_ERR_PRECONDITION_FAILED']);
    }

    const approved = await subs('ApproveSubscription', { id: sub.id, reason: 'welcome', expected_version: 2 });
    assert.equal(approved.status, 'approved');
    assert.equal(approved.reason, 'welcome');
    assert.ok(approved.decided_at);
    assert.ok(approved.decided_by);
    assert.equal(approved.version, 3);
    assertSameEntity(await h.rest('GET', `/v1/subscriptions/${String(sub.id)}`), approved);
    assert.deepEqual(await ids({ status: 'approved' }), [sub.id, autoSub.id]);
    // A transition that is not allowed: FAILED_PRECONDITION (TP_ERR_UNPROCESSABLE).
    const again = await failure(subs('RejectSubscription', { id: sub.id }));
    assert.equal(again.code, status.FAILED_PRECONDITION);
    assert.deepEqual(again.metadata.get('tp-error-code'), ['TP_ERR_UNPROCESSABLE']);

    // A mask naming the nullable plan_id, unset: the plan is removed (REST null).
    const planless = await subs('UpdateSubscription', { id: sub.id, subscription: {}, update_mask: ['plan_id'] });
    assert.equal(planless.plan_id, undefined);
    assert.equal((await h.rest('GET', `/v1/subscriptions/${String(sub.id)}`)).json.plan_id, null);
    const immutable = await failure(subs('UpdateSubscription', { id: sub.id, subscription: { consumer_id: carol.id } }));
    assert.equal(immutable.code, status.INVALID_ARGUMENT, 'consumer_id is not an update field');

    const revoked = await subs('RevokeSubscription', { id: sub.id, reason: 'done' });
    assert.equal(revoked.status, 'revoked');
    assert.deepEqual(await ids({ status: 'revoked' }), [sub.id]);
    assert.equal((await failure(subs('ApproveSubscription', { id: NIL }))).code, status.NOT_FOUND);

    await subs('DeleteSubscription', { id: sub.id, expected_version: revoked.version });
    assert.equal((await failure(subs('GetSubscription', { id: sub.id }))).code, status.NOT_FOUND);
    // The plan still has a subscriber (restrict): ABORTED (TP_ERR_IN_USE) until it goes.
    const inUse = await failure(plans('DeletePlan', { id: auto.id }));
    assert.equal(inUse.code, status.ABORTED);
    await subs('DeleteSubscription', { id: autoSub.id });
    await plans('DeletePlan', { id: auto.id });
  });
});
