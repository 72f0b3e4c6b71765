// The whole shape on real components: control plane (Postgres) → NATS KV → gateway node → JetStream →
// ingester → ClickHouse → analytics API. Every process is the real `turnpike` binary on real ports.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'undici';
import { freePort, waitFor, type PrivateNats } from '@turnpike/common/testing';
import type { AdminClient } from './support/admin-client.js';
import type { EchoUpstream } from './support/upstream.js';
import { startStack, type Stack } from './support/stack.js';

describe('cluster: control plane, gateway node, ingester on PostgreSQL, NATS and ClickHouse', { timeout: 300_000 }, () => {
  let stack: Stack;
  let nats: PrivateNats;
  let upstream: EchoUpstream;
  let admin: AdminClient;
  let proxy: string;
  let apiKey: string;
  let serviceId: string;

  before(async () => {
    stack = await startStack('e2e');
    ({ nats, upstream, admin, proxy } = stack);
  });

  after(async () => {
    await stack?.close();
  });

  test('a new key-auth route reaches the node: 401 JSON without a key, 200 with it (propagation measured)', async () => {
    const up = await admin.create('/v1/upstreams', { name: 'echo', targets: [{ host: '127.0.0.1', port: upstream.port, weight: 100 }] });
    const svc = await admin.create('/v1/services', { name: 'orders', upstream_id: up.id });
    serviceId = svc.id;
    const consumer = await admin.create('/v1/consumers', { username: 'alice' });
    const key = await admin.create(`/v1/consumers/${consumer.id}/keys`, {});
    apiKey = key.key;
    assert.match(apiKey, /^tp_/);

    const t0 = performance.now();
    await admin.create('/v1/routes', { name: 'orders', service_id: svc.id, paths: ['/orders/{id}'], methods: ['GET'], plugins: { 'key-auth': {} } });
    const first = await waitFor('route to propagate', async () => {
      const r = await request(`${proxy}/orders/42`);
      const body = await r.body.text();
      return r.statusCode === 404 ? null : { status: r.statusCode, body: JSON.parse(body), headers: r.headers };
    }, 15_000, 2);
    const propagationMs = performance.now() - t0;
    console.log(`config propagation (admin write → node enforces new route): ${propagationMs.toFixed(1)} ms`);
    assert.equal(first.status, 401);
    assert.equal(first.body.error.code, 'TP_ERR_AUTH_KEY_MISSING');
    assert.equal(first.body.error.request_id, first.headers['x-request-id']);

    const bad = await request(`${proxy}/orders/42`, { headers: { apikey: 'tp_not-a-real-key-000000000000' } });
    assert.equal(bad.statusCode, 401);
    assert.equal((await bad.body.json() as any).error.code, 'TP_ERR_AUTH_KEY_INVALID');

    const ok = await request(`${proxy}/orders/42?expand=1`, { headers: { apikey: apiKey } });
    assert.equal(ok.statusCode, 200);
    const echoed = (await ok.body.json()) as any;
    assert.equal(echoed.url, '/orders/42?expand=1');
    assert.equal(echoed.headers['x-consumer-username'], 'alice');
    assert.equal(echoed.headers.apikey, undefined, 'the credential is hidden from the upstream');
    assert.ok(echoed.headers['x-request-id']);
  });

  test('route changes take effect on the node: propagation over 10 successive changes', async () => {
    const upstreams = (await admin.call('GET', '/v1/upstreams?limit=100')).body.data;
    const svc = await admin.create('/v1/services', { name: 'moving', upstream_id: upstreams.find((u: any) => u.name === 'echo').id });
    const route = await admin.create('/v1/routes', { name: 'moving', service_id: svc.id, paths: ['/moving-0'] });
    await waitFor('first path', async () => {
      const r = await request(`${proxy}/moving-0`);
      await r.body.text();
      return r.statusCode === 200;
    }, 15_000);
    const samples: number[] = [];
    for (let i = 1; i <= 10; i++) {
      const t0 = performance.now();
      const patched = await admin.call('PATCH', `/v1/routes/${route.id}`, { paths: [`/moving-${i}`] });
      assert.equal(patched.status, 200);
      await waitFor(`path /moving-${i}`, async () => {
        const r = await request(`${proxy}/moving-${i}`);
        await r.body.text();
        return r.statusCode === 200;
      }, 15_000, 1);
      samples.push(performance.now() - t0);
      const old = await request(`${proxy}/moving-${i - 1}`);
      await old.body.text();
      assert.equal(old.statusCode, 404, 'the old path is gone once the new one answers');
    }
    samples.sort((a, b) => a - b);
    const q = (p: number) => samples[Math.min(samples.length - 1, Math.floor(p * samples.length))]!.toFixed(1);
    console.log(`config propagation over 10 route changes (PATCH sent → node serves new path): min ${q(0)} ms, median ${q(0.5)} ms, max ${q(1)} ms`);
  });

  test('no route → 404 JSON with request id; upstream down → 502', async () => {
    const nf = await request(`${proxy}/nowhere`);
    assert.equal(nf.statusCode, 404);
    const body = (await nf.body.json()) as any;
    assert.equal(body.error.code, 'TP_ERR_ROUTE_NOT_FOUND');
    assert.ok(body.error.request_id);

    const deadPort = await freePort();
    const up = await admin.create('/v1/upstreams', { name: 'dead', targets: [{ host: '127.0.0.1', port: deadPort }] });
    const svc = await admin.create('/v1/services', { name: 'dead', upstream_id: up.id });
    await admin.create('/v1/routes', { name: 'dead', service_id: svc.id, paths: ['/dead'] });
    const r = await waitFor('dead route', async () => {
      const x = await request(`${proxy}/dead`);
      const b = await x.body.text();
      return x.statusCode === 404 ? null : { status: x.statusCode, body: JSON.parse(b) };
    }, 15_000);
    assert.equal(r.status, 502);
    assert.equal(r.body.error.code, 'TP_ERR_UPSTREAM_UNAVAILABLE');
  });

  test('call logs reach ClickHouse with the right fields and the analytics API returns them', async () => {
    const sent = await request(`${proxy}/orders/7`, { headers: { apikey: apiKey } });
    const rid = sent.headers['x-request-id'] as string;
    await sent.body.text();
    const rec = await waitFor('the call record in ClickHouse', async () => {
      const r = await admin.call('GET', `/v1/analytics/calls?service_id=${serviceId}&limit=100`);
      return r.status === 200 && r.body.data.find((c: any) => c.request_id === rid);
    }, 30_000, 100);
    assert.equal(rec.node_id, 'node-a');
    assert.equal(rec.service_id, serviceId);
    assert.equal(rec.method, 'GET');
    assert.equal(rec.path, '/orders/7');
    assert.equal(rec.status, 200);
    assert.ok(rec.consumer_id, 'consumer id recorded');
    assert.ok(rec.total_latency_ms >= rec.upstream_latency_ms);
    assert.ok(rec.bytes_out > 0);

    const unauth = await admin.call('GET', `/v1/analytics/calls?service_id=${serviceId}&status=401`);
    assert.ok(unauth.body.data.length >= 1 && unauth.body.data.every((c: any) => c.status === 401));

    const trend = await admin.call('GET', `/v1/analytics/trend?service_id=${serviceId}&from=${Date.now() - 3_600_000}`);
    assert.equal(trend.status, 200);
    const totals = trend.body.data.reduce((a: any, p: any) => ({ s2xx: a.s2xx + p.s2xx, s4xx: a.s4xx + p.s4xx }), { s2xx: 0, s4xx: 0 });
    assert.ok(totals.s2xx >= 2 && totals.s4xx >= 2, `trend counts by status class: ${JSON.stringify(totals)}`);
  });

  test('NATS down: the node keeps serving, restarts from last-known-good, and takes new config once NATS is back', async () => {
    await nats.stop();
    const during = await request(`${proxy}/orders/1`, { headers: { apikey: apiKey } });
    await during.body.text();
    assert.equal(during.statusCode, 200, 'serves while NATS is down');

    assert.equal(await stack.restartGateway(), 0);
    const lkg = await request(`${proxy}/orders/2`, { headers: { apikey: apiKey } });
    await lkg.body.text();
    assert.equal(lkg.statusCode, 200, 'a restarted node serves from last-known-good config');

    await nats.start();
    const svc = await admin.create('/v1/services', { name: 'after-outage', upstream_id: (await admin.call('GET', '/v1/upstreams?limit=100')).body.data.find((u: any) => u.name === 'echo').id });
    await admin.create('/v1/routes', { name: 'after-outage', service_id: svc.id, paths: ['/after'] });
    await waitFor('new route after NATS recovery', async () => {
      const r = await request(`${proxy}/after`);
      await r.body.text();
      return r.statusCode === 200;
    }, 60_000, 100);
  });
});
