// startGateway as a library (the `turnpike up` shape): in-process config bus, in-process log sink.
// Checks what the proxy reports per request (call records) and live reconfiguration.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { InProcessConfigBus, entityKey, type CallRecord, type EntityKind, type LogSink } from '@turnpike/common';
import { waitFor } from '@turnpike/common/testing';
import { startGateway, type Gateway } from '../src/index.js';

const now = new Date().toISOString();

describe('embedded gateway (in-process bus and sink)', { timeout: 60_000 }, () => {
  const bus = new InProcessConfigBus();
  const records: CallRecord[] = [];
  const sink: LogSink = {
    write: async (batch) => {
      records.push(...batch);
    },
    close: async () => undefined,
  };
  const dataDir = mkdtempSync(join(tmpdir(), 'tp-gw-emb-'));
  let upstream: Server;
  let gw: Gateway;
  let rev = 0;
  const ids = { up: randomUUID(), svc: randomUUID(), route: randomUUID(), secure: randomUUID(), consumer: randomUUID(), key: randomUUID() };
  const put = (kind: EntityKind, data: Record<string, unknown>) =>
    bus.put(entityKey(kind, data.id as string), JSON.stringify({ kind, revision: ++rev, data: { created_at: now, updated_at: now, tags: [], ...data } }));
  const url = (p: string) => `http://127.0.0.1:${gw.proxyPort}${p}`;
  const recordFor = (id: string) => waitFor(`call record ${id}`, () => records.find((r) => r.request_id === id), 5_000);

  before(async () => {
    upstream = createServer((req, res) => {
      req.resume();
      req.on('end', () => res.end(`hello ${req.url}`));
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', () => r()));
    const port = (upstream.address() as AddressInfo).port;
    await put('upstreams', { id: ids.up, name: 'up', targets: [{ host: '127.0.0.1', port }] });
    await put('services', { id: ids.svc, name: 'svc', upstream_id: ids.up });
    await put('routes', { id: ids.route, name: 'r', service_id: ids.svc, paths: ['/r'] });
    await put('routes', { id: ids.secure, name: 's', service_id: ids.svc, paths: ['/s'], plugins: { 'key-auth': {} } });
    await put('consumers', { id: ids.consumer, username: 'bob' });
    await put('keys', { id: ids.key, consumer_id: ids.consumer, key_sha256: createHash('sha256').update('bob-key-0123456789').digest('hex') });
    gw = await startGateway({ nodeId: 'emb-1', bus, logSink: sink, dataDir, host: '127.0.0.1', proxyPort: 0, statusPort: 0 });
  });

  after(async () => {
    await gw?.close();
    await new Promise((r) => upstream.close(r));
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('ports 0 resolve to real ports; the snapshot carries the revision; last-known-good is written', () => {
    assert.ok(gw.proxyPort > 0 && gw.statusPort > 0);
    assert.deepEqual(gw.snapshot(), { revision: rev, loaded: true, source: 'kv' });
    const lkg = JSON.parse(readFileSync(join(dataDir, 'config.json'), 'utf8')) as { revision: number; entries: Record<string, string> };
    assert.equal(lkg.revision, rev);
    assert.equal(Object.keys(lkg.entries).length, 6);
  });

  test('a proxied request produces a complete call record', async () => {
    const r = await request(url('/r/x?y=1'), { method: 'POST', body: 'abcdef' });
    assert.equal(await r.body.text(), 'hello /r/x?y=1');
    const rec = await recordFor(String(r.headers['x-request-id']));
    assert.equal(rec.node_id, 'emb-1');
    assert.equal(rec.route_id, ids.route);
    assert.equal(rec.service_id, ids.svc);
    assert.equal(rec.consumer_id, '');
    assert.equal(rec.method, 'POST');
    assert.equal(rec.path, '/r/x');
    assert.equal(rec.status, 200);
    assert.equal(rec.bytes_in, 6);
    assert.equal(rec.bytes_out, 'hello /r/x?y=1'.length);
    assert.equal(rec.error_code, '');
    assert.ok(rec.upstream_latency_ms > 0 && rec.total_latency_ms >= rec.upstream_latency_ms);
  });

  test('gateway-made errors and authenticated consumers are recorded', async () => {
    const miss = await request(url('/nope'));
    await miss.body.dump();
    const r1 = await recordFor(String(miss.headers['x-request-id']));
    assert.equal(r1.status, 404);
    assert.equal(r1.error_code, 'TP_ERR_ROUTE_NOT_FOUND');
    assert.equal(r1.upstream_latency_ms, 0);
    const ok = await request(url('/s'), { headers: { apikey: 'bob-key-0123456789' } });
    await ok.body.dump();
    assert.equal(ok.statusCode, 200);
    assert.equal((await recordFor(String(ok.headers['x-request-id']))).consumer_id, ids.consumer);
  });

  test('live changes are applied; the last write of a burst wins', async () => {
    const id = randomUUID();
    await put('routes', { id, name: 'n', service_id: ids.svc, paths: ['/new'], methods: ['GET'] });
    await put('routes', { id, name: 'n', service_id: ids.svc, paths: ['/newer'], methods: ['GET'] });
    await waitFor('route /newer', async () => (await request(url('/newer'))).statusCode === 200, 5_000, 5);
    assert.equal((await request(url('/new'))).statusCode, 404);
    await bus.delete(entityKey('routes', id));
    await waitFor('route gone', async () => (await request(url('/newer'))).statusCode === 404, 5_000, 5);
  });

  test('status server: healthz, readyz, metrics', async () => {
    const s = (p: string) => request(`http://127.0.0.1:${gw.statusPort}${p}`);
    assert.equal((await s('/healthz')).statusCode, 200);
    const ready = await s('/readyz');
    assert.equal(ready.statusCode, 200);
    assert.equal(((await ready.body.json()) as { nats_connected: boolean }).nats_connected, true);
    const text = await (await s('/metrics')).body.text();
    assert.match(text, /turnpike_gateway_requests_total\{status_class="2xx"\} [1-9]/);
    assert.match(text, /turnpike_gateway_requests_total\{status_class="4xx"\} [1-9]/);
    assert.match(text, /turnpike_gateway_request_duration_ms_count [1-9]/);
    assert.match(text, /turnpike_gateway_call_log_sent_total [1-9]/);
  });
});
