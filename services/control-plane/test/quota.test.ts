// Usage-plan quotas in the control plane (real PostgreSQL and a private NATS): call-log batches counted
// exactly once into quota_usage (repeated in one call, applied again, replayed from the stream by a new
// durable consumer after a restart), usage snapshots written to the quota bucket within seconds, and
// GET /v1/consumers/{id}/usage.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { connect, headers, type NatsConnection } from '@nats-io/transport-node';
import { NatsKvConfigBus, callsSubject, ensureCallsStream, quotaBucketName, quotaUsageKey, type CallRecord } from '@turnpike/common';
import { startPrivateNats, waitFor, type PrivateNats } from '@turnpike/common/testing';
import { startControlPlane, type ControlPlane } from '../src/index.js';
import { applyCallBatches, pruneQuotaBatches } from '../src/quota/aggregate.js';
import { startHarness, type Harness } from './support.js';
import { adminClients } from './grpc-client.js';

function call(consumerId: string, serviceId: string, over: Partial<CallRecord> = {}): CallRecord {
  return {
    request_id: randomUUID(),
    ts: Date.now(),
    node_id: 'node-q',
    service_id: serviceId,
    route_id: randomUUID(),
    consumer_id: consumerId,
    method: 'GET',
    path: '/q',
    status: 200,
    upstream_latency_ms: 1,
    total_latency_ms: 2,
    bytes_in: 0,
    bytes_out: 10,
    error_code: '',
    ...over,
  };
}

describe('quota usage: aggregation, snapshots, usage endpoint', { timeout: 60_000 }, () => {
  let nats: PrivateNats;
  let nc: NatsConnection;
  let quotaBus: NatsKvConfigBus;
  let h: Harness;
  let cp2: ControlPlane | null = null;
  let consumerId = '';
  let serviceId = '';
  let otherServiceId = '';
  let planId = '';

  before(async () => {
    nats = await startPrivateNats();
    nc = await connect({ servers: nats.url });
    quotaBus = await NatsKvConfigBus.open(nc, quotaBucketName('q'));
    h = await startHarness({ natsUrl: nats.url, pollIntervalMs: 50, quota: { nc, bus: quotaBus } });
    const up = (await h.rest('POST', '/v1/upstreams', { name: 'q-up', targets: [{ host: '127.0.0.1', port: 9000 }] })).json.id;
    serviceId = (await h.rest('POST', '/v1/services', { name: 'q-svc', upstream_id: up, subscription_required: true })).json.id;
    otherServiceId = (await h.rest('POST', '/v1/services', { name: 'q-other', upstream_id: up })).json.id;
    consumerId = (await h.rest('POST', '/v1/consumers', { username: 'q-alice' })).json.id;
    planId = (await h.rest('POST', '/v1/plans', { name: 'q-plan', approval: 'auto', quotas: [{ period: 'day', requests: 5 }, { period: 'month', requests: 100 }] })).json.id;
    const sub = await h.rest('POST', '/v1/subscriptions', { consumer_id: consumerId, service_id: serviceId, plan_id: planId });
    assert.equal(sub.status, 201, sub.text);
    assert.equal(sub.json.status, 'approved');
  });

  after(async () => {
    await cp2?.close();
    await h?.close();
    await nc?.close();
    await nats?.destroy();
  });

  const usage = async (): Promise<Record<string, { used: number; limit: number | null; remaining: number | null; resets_at: string }>> => {
    const r = await h.rest('GET', `/v1/consumers/${consumerId}/usage`);
    assert.equal(r.status, 200, r.text);
    return Object.fromEntries(r.json.data.map((u: { period: string; requests: object; resets_at: string }) => [u.period, { ...u.requests, resets_at: u.resets_at }]));
  };

  it('counts each batch once, only calls the gateway let through, only for subscriptions with quotas', async () => {
    const a = {
      id: `batch-a-${randomUUID()}`,
      records: [
        call(consumerId, serviceId),
        call(consumerId, serviceId, { status: 404 }), // the upstream's 404: admitted, counted
        call(consumerId, serviceId, { status: 502, error_code: 'TP_ERR_UPSTREAM_UNAVAILABLE' }), // admitted, failed upstream: counted
        call(consumerId, serviceId, { status: 429, error_code: 'TP_ERR_QUOTA_EXCEEDED' }), // refused: not counted
        call(consumerId, otherServiceId), // no subscription: not counted
        call('', serviceId, { status: 401, error_code: 'TP_ERR_AUTH_KEY_MISSING' }),
      ],
    };
    const b = { id: `batch-b-${randomUUID()}`, records: [call(consumerId, serviceId)] };
    const touched = await applyCallBatches(h.sql, [a, a]);
    assert.deepEqual(touched, [{ consumer_id: consumerId, service_id: serviceId }]);
    assert.deepEqual(await applyCallBatches(h.sql, [a]), [], 'an applied batch adds nothing');
    await applyCallBatches(h.sql, [a, b]);
    const u = await usage();
    assert.equal(u.day!.used, 4);
    assert.equal(u.day!.limit, 5);
    assert.equal(u.day!.remaining, 1);
    assert.equal(u.month!.used, 4);
    assert.equal(u.month!.remaining, 96);
    const midnight = new Date();
    midnight.setUTCHours(24, 0, 0, 0);
    assert.equal(u.day!.resets_at, midnight.toISOString());
  });

  it('gRPC GetConsumerUsage mirrors the REST body (a null limit left unset)', async () => {
    const c = adminClients(h.cp.grpcPort, h.token);
    try {
      const rest = (await h.rest('GET', `/v1/consumers/${consumerId}/usage`)).json;
      const grpc = await c.consumers('GetConsumerUsage', { id: consumerId });
      assert.deepEqual(grpc, rest);
      await assert.rejects(c.consumers('GetConsumerUsage', { id: randomUUID() }), (e: { code: number }) => e.code === 5);
    } finally {
      c.close();
    }
  });

  it('usage: 404 for an unknown consumer, empty for a consumer without quota subscriptions', async () => {
    assert.equal((await h.rest('GET', `/v1/consumers/${randomUUID()}/usage`)).status, 404);
    const bob = (await h.rest('POST', '/v1/consumers', { username: 'q-bob' })).json.id;
    assert.deepEqual((await h.rest('GET', `/v1/consumers/${bob}/usage`)).json, { data: [] });
  });

  it('calls on the stream reach usage and the quota bucket within seconds; a restart replaying the stream counts nothing twice', async () => {
    await ensureCallsStream(nc);
    const publish = async (id: string, records: CallRecord[]): Promise<void> => {
      const hd = headers();
      hd.set('Nats-Msg-Id', id);
      await nc.request(callsSubject('node-q'), JSON.stringify(records), { headers: hd, timeout: 5_000 });
    };
    const before = (await usage()).day!.used;
    const t0 = performance.now();
    await publish(`s-${randomUUID()}`, [call(consumerId, serviceId), call(consumerId, serviceId)]);
    const key = quotaUsageKey(consumerId, serviceId);
    const snap = await waitFor('usage snapshot', async () => {
      const v = await quotaBus.get(key);
      const s = v ? (JSON.parse(v) as { usage: { period: string; requests: number }[] }) : null;
      return s?.usage.find((x) => x.period === 'day')?.requests === before + 2 ? s : null;
    }, 10_000, 20);
    console.log(`stream → quota bucket: ${(performance.now() - t0).toFixed(0)} ms`);
    assert.equal(snap.usage.find((x) => x.period === 'month')?.requests, before + 2);
    assert.equal((await usage()).day!.used, before + 2);

    // The control plane goes away, its durable consumer is lost (every message will be delivered again),
    // and a call arrives meanwhile.
    await h.cp.close();
    await nc.request('$JS.API.CONSUMER.DELETE.TURNPIKE_CALLS.turnpike-quota', undefined, { timeout: 5_000 });
    await publish(`s-${randomUUID()}`, [call(consumerId, serviceId)]);
    cp2 = await startControlPlane({ pgUrl: h.dbUrl, bus: h.bus, restPort: 0, grpcPort: 0, log: () => undefined, quota: { nc, bus: quotaBus } });
    await waitFor('the call made while down', async () => {
      const v = await quotaBus.get(key);
      return v && (JSON.parse(v) as { usage: { period: string; requests: number }[] }).usage.find((x) => x.period === 'day')?.requests === before + 3 ? true : null;
    }, 10_000, 20);
    // Give the replay time to finish: nothing of it may count again.
    await new Promise((r) => setTimeout(r, 1_000));
    const [row] = await h.sql<{ requests: string }[]>`SELECT requests FROM quota_usage WHERE consumer_id = ${consumerId} AND period = 'day'`;
    assert.equal(Number(row!.requests), before + 3);
  });

  it('batch ids are pruned by age only', async () => {
    assert.equal(await pruneQuotaBatches(h.sql, 8 * 86_400_000), 0, 'nothing is 8 days old');
    const [counted] = await h.sql<{ n: string }[]>`SELECT count(*) AS n FROM quota_batches`;
    const n = counted!.n;
    assert.ok(Number(n) >= 4);
    await h.sql`UPDATE quota_batches SET applied_at = now() - interval '9 days'`;
    assert.equal(await pruneQuotaBatches(h.sql, 8 * 86_400_000), Number(n));
  });
});
