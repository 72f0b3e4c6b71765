// Usage-plan quotas in `turnpike up` (no NATS): the embedded call-log sink feeds the control plane's quota
// counting, whose usage snapshots reach the embedded node over an in-process quota bucket. A 3-a-day plan:
// the 4th request is refused with 429 and quota headers, the usage endpoint shows the count, and after a
// restart the node refuses at once (the in-process bucket is filled from PostgreSQL before it serves).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { freePort, waitFor } from '@turnpike/common/testing';
import { startProcess } from './support/process.js';
import { AdminClient } from './support/admin-client.js';
import { startEchoUpstream } from './support/upstream.js';

test('turnpike up: usage-plan quotas are counted and enforced, and hold across a restart', { timeout: 300_000 }, async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'tp-up-quota-'));
  chmodSync(dataDir, 0o755); // embedded PostgreSQL runs as `postgres` when we are root: it must reach the dir
  const upstream = await startEchoUpstream('up-quota-echo');
  const [proxyPort, statusPort, adminPort, grpcPort, pgPort] = [await freePort(), await freePort(), await freePort(), await freePort(), await freePort()];
  const args = ['up', '--data-dir', dataDir, '--host', '127.0.0.1', '--proxy-port', `${proxyPort}`, '--status-port', `${statusPort}`,
    '--admin-port', `${adminPort}`, '--grpc-port', `${grpcPort}`, '--pg-port', `${pgPort}`];
  const proxy = `http://127.0.0.1:${proxyPort}`;
  let tp: Awaited<ReturnType<typeof startProcess>> | null = null;
  try {
    tp = await startProcess(args, {}, 180_000);
    const admin = new AdminClient(`http://127.0.0.1:${adminPort}`, readFileSync(join(dataDir, 'admin-token'), 'utf8').trim());
    const up = await admin.create('/v1/upstreams', { name: 'echo', targets: [{ host: '127.0.0.1', port: upstream.port }] });
    const svc = await admin.create('/v1/services', { name: 'metered', upstream_id: up.id, subscription_required: true });
    const consumer = await admin.create('/v1/consumers', { username: 'up-quota-alice' });
    const apiKey = (await admin.create(`/v1/consumers/${consumer.id}/keys`, {})).key;
    const plan = await admin.create('/v1/plans', { name: 'three-a-day', approval: 'auto', quotas: [{ period: 'day', requests: 3 }] });
    const sub = await admin.create('/v1/subscriptions', { consumer_id: consumer.id, service_id: svc.id, plan_id: plan.id });
    assert.equal(sub.status, 'approved');
    await admin.create('/v1/routes', { name: 'metered', service_id: svc.id, paths: ['/metered'], plugins: { 'key-auth': {} } });
    const usedToday = async (): Promise<number> => {
      const r = await admin.call('GET', `/v1/consumers/${consumer.id}/usage`);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      return r.body.data.find((u: any) => u.period === 'day')?.requests.used ?? -1;
    };
    // Until the route and the subscription have reached the node: 401/403, nothing counted.
    await waitFor('route and subscription on the node', async () => {
      const r = await request(`${proxy}/metered`, { headers: { apikey: apiKey } });
      await r.body.text();
      return r.statusCode === 200 ? true : null;
    }, 20_000, 50);
    const remaining: string[] = [];
    for (let i = 0; i < 2; i++) {
      const r = await request(`${proxy}/metered`, { headers: { apikey: apiKey } });
      await r.body.text();
      assert.equal(r.statusCode, 200, `request ${i + 2}`);
      assert.equal(r.headers['x-quota-limit'], '3');
      remaining.push(String(r.headers['x-quota-remaining']));
    }
    assert.deepEqual(remaining, ['1', '0']);
    await waitFor('the 3 calls counted by the embedded control plane', async () => ((await usedToday()) === 3 ? true : null), 10_000, 100);

    const fourth = await request(`${proxy}/metered`, { headers: { apikey: apiKey } });
    const body = JSON.parse(await fourth.body.text());
    assert.equal(fourth.statusCode, 429);
    assert.equal(body.error.code, 'TP_ERR_QUOTA_EXCEEDED');
    assert.equal(fourth.headers['x-quota-limit'], '3');
    assert.equal(fourth.headers['x-quota-remaining'], '0');
    assert.ok(Number(fourth.headers['x-quota-reset']) > 0 && Number(fourth.headers['x-quota-reset']) <= 86_400);
    // A refused request is not counted.
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(await usedToday(), 3);

    // A restarted node knows only what the control plane's in-process bucket tells it: refused at once.
    assert.equal(await tp.stop('SIGINT'), 0);
    tp = await startProcess(args, {}, 180_000);
    const r = await waitFor('the route after the restart', async () => {
      const res = await request(`${proxy}/metered`, { headers: { apikey: apiKey } });
      const text = await res.body.text();
      return res.statusCode === 429 || res.statusCode === 200 ? { status: res.statusCode, body: JSON.parse(text) } : null;
    }, 20_000, 50);
    assert.equal(r.status, 429, `the restarted node refuses: ${JSON.stringify(r.body)}`);
    assert.equal(r.body.error.code, 'TP_ERR_QUOTA_EXCEEDED');
    assert.equal(await usedToday(), 3, 'counted nothing twice across the restart');
  } finally {
    // Also when it never started: the echo upstream left open would keep this file's process alive.
    await tp?.stop('SIGINT').catch(() => undefined);
    await upstream.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
});
