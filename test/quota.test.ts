// Usage-plan quotas end to end on real processes: a plan of 5 requests a day, an approved subscription,
// requests through a real gateway node (its worker threads included). The control plane counts the calls
// from the call-log stream and pushes usage back; the 6th request is refused with 429 and quota headers
// within seconds; after a restart of both the control plane and the gateway the usage still holds.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Client, request } from 'undici';
import { createTestDatabase, freePort, startPrivateNats, uniqueName, waitFor, type PrivateNats } from '@turnpike/common/testing';
import { startProcess, type Running } from './support/process.js';
import { AdminClient } from './support/admin-client.js';
import { startEchoUpstream, type EchoUpstream } from './support/upstream.js';

describe('usage-plan quotas: counted by the control plane, enforced by the node, kept across restarts', { timeout: 60_000 }, () => {
  const cluster = uniqueName('quota');
  const token = `tpa_${randomBytes(24).toString('base64url')}`;
  let nats: PrivateNats;
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let cp: Running;
  let gateway: Running;
  let cpEnv: Record<string, string>;
  let gatewayEnv: Record<string, string>;
  let upstream: EchoUpstream;
  let admin: AdminClient;
  let proxy: string;
  let dataDir: string;
  let apiKey = '';
  let consumerId = '';

  before(async () => {
    [nats, db, upstream] = await Promise.all([startPrivateNats(), createTestDatabase('tp_quota'), startEchoUpstream('quota-echo')]);
    dataDir = mkdtempSync(join(tmpdir(), 'tp-quota-gw-'));
    const [adminPort, grpcPort, proxyPort, statusPort] = [await freePort(), await freePort(), await freePort(), await freePort()];
    cpEnv = { TP_NATS_URL: nats.url, TP_CLUSTER: cluster, TP_PG_URL: db.url, TP_ADMIN_PORT: `${adminPort}`, TP_GRPC_PORT: `${grpcPort}`, TP_BOOTSTRAP_TOKEN: token };
    gatewayEnv = { TP_NATS_URL: nats.url, TP_CLUSTER: cluster, TP_NODE_ID: 'quota-a', TP_PROXY_HOST: '127.0.0.1', TP_PROXY_PORT: `${proxyPort}`, TP_STATUS_PORT: `${statusPort}`, TP_DATA_DIR: dataDir, TP_WORKERS: '2' };
    [cp, gateway] = await Promise.all([startProcess(['control-plane'], cpEnv), startProcess(['gateway'], gatewayEnv)]);
    admin = new AdminClient(`http://127.0.0.1:${adminPort}`, token);
    proxy = `http://127.0.0.1:${proxyPort}`;
  });

  after(async () => {
    await Promise.all([gateway?.stop(), cp?.stop()]);
    await Promise.all([nats?.destroy(), db?.drop(), upstream?.close()]);
    rmSync(dataDir, { recursive: true, force: true });
  });

  const usedToday = async (): Promise<number> => {
    const r = await admin.call('GET', `/v1/consumers/${consumerId}/usage`);
    assert.equal(r.status, 200);
    return r.body.data.find((u: any) => u.period === 'day')?.requests.used ?? -1;
  };

  test('the 6th request of a 5-a-day plan gets 429 TP_ERR_QUOTA_EXCEEDED with quota headers', async () => {
    const up = await admin.create('/v1/upstreams', { name: 'echo', targets: [{ host: '127.0.0.1', port: upstream.port, weight: 100 }] });
    const svc = await admin.create('/v1/services', { name: 'metered', upstream_id: up.id, subscription_required: true });
    const consumer = await admin.create('/v1/consumers', { username: 'quota-alice' });
    consumerId = consumer.id;
    apiKey = (await admin.create(`/v1/consumers/${consumer.id}/keys`, {})).key;
    const plan = await admin.create('/v1/plans', { name: 'five-a-day', approval: 'auto', quotas: [{ period: 'day', requests: 5 }] });
    const sub = await admin.create('/v1/subscriptions', { consumer_id: consumer.id, service_id: svc.id, plan_id: plan.id });
    assert.equal(sub.status, 'approved');
    await admin.create('/v1/routes', { name: 'metered', service_id: svc.id, paths: ['/metered'], plugins: { 'key-auth': {} } });
    // Propagation is watched without a key (401: no consumer, nothing counted), then with the key until
    // the subscription has arrived too (403 before).
    await waitFor('route on the node', async () => {
      const r = await request(`${proxy}/metered`);
      await r.body.text();
      return r.statusCode === 401 ? true : null;
    }, 15_000, 20);

    // One connection: one worker thread, whose local count is exact until the first usage snapshot.
    const client = new Client(proxy);
    try {
      const remaining: string[] = [];
      for (let i = 0; i < 5; i++) {
        const r = await client.request({ path: '/metered', method: 'GET', headers: { apikey: apiKey } });
        await r.body.text();
        assert.equal(r.statusCode, 200, `request ${i + 1}`);
        assert.equal(r.headers['x-quota-limit'], '5');
        assert.ok(Number(r.headers['x-quota-reset']) > 0 && Number(r.headers['x-quota-reset']) <= 86_400);
        remaining.push(String(r.headers['x-quota-remaining']));
      }
      assert.deepEqual(remaining, ['4', '3', '2', '1', '0']);
    } finally {
      await client.close();
    }
    const t0 = performance.now();
    await waitFor('usage aggregated', async () => ((await usedToday()) === 5 ? true : null), 10_000, 50);
    console.log(`5 calls counted by the control plane ${(performance.now() - t0).toFixed(0)} ms after the 5th response`);

    // A fresh connection may land on the other worker, which admitted nothing itself: it refuses from the
    // control plane's snapshot (give its delivery a moment after the count committed).
    const sixth = await waitFor('the 6th request refused', async () => {
      const r = await request(`${proxy}/metered`, { headers: { apikey: apiKey }, reset: true } as any);
      const body = await r.body.text();
      return r.statusCode === 429 ? { r, body: JSON.parse(body) } : null;
    }, 5_000, 200).catch(() => null);
    assert.ok(sixth, 'refused within seconds');
    assert.equal(sixth.body.error.code, 'TP_ERR_QUOTA_EXCEEDED');
    assert.equal(sixth.r.headers['x-quota-limit'], '5');
    assert.equal(sixth.r.headers['x-quota-remaining'], '0');
    assert.ok(Number(sixth.r.headers['retry-after']) > 0);
    assert.equal(sixth.r.headers['retry-after'], sixth.r.headers['x-quota-reset']);
    const used = await usedToday();
    assert.ok(used >= 5 && used <= 6, `overshoot at most one request while the snapshot travels (used ${used})`);
  });

  test('after restarting the control plane and the gateway the quota is still used up', async () => {
    const usedBefore = await usedToday();
    assert.equal(await gateway.stop('SIGTERM'), 0);
    assert.equal(await cp.stop('SIGTERM'), 0);
    [cp, gateway] = await Promise.all([startProcess(['control-plane'], cpEnv), startProcess(['gateway'], gatewayEnv)]);
    const r = await waitFor('refused after the restart', async () => {
      const res = await request(`${proxy}/metered`, { headers: { apikey: apiKey } });
      const body = await res.body.text();
      return res.statusCode === 429 ? JSON.parse(body) : res.statusCode === 200 ? { admitted: true } : null;
    }, 15_000, 100);
    assert.equal(r.error?.code, 'TP_ERR_QUOTA_EXCEEDED', `the restarted node refuses: ${JSON.stringify(r)}`);
    assert.equal(await usedToday(), usedBefore, 'the restarted control plane counted nothing twice and lost nothing');
  });
});
