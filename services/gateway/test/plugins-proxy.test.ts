// Plugin attachments through the real proxy port of a gateway started as a library on an in-process config
// bus (entries exactly as the control plane publishes them): a global key-auth plugin protects every route,
// a service-scoped request-size-limiting answers 413 with a JSON body (declared and streamed bodies), a
// consumer-scoped one overrides it for that consumer, and a disabled plugin has no effect.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { connect as netConnect, type AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { InProcessConfigBus, entityKey, type EntityKind, type LogSink } from '@turnpike/common';
import { waitFor } from '@turnpike/common/testing';
import { startGateway, type Gateway } from '../src/index.js';

const now = new Date().toISOString();
const KEY = 'alice-key-0123456789';

describe('plugins through the gateway proxy', { timeout: 60_000 }, () => {
  const bus = new InProcessConfigBus();
  const sink: LogSink = { write: async () => undefined, close: async () => undefined };
  const dataDir = mkdtempSync(join(tmpdir(), 'tp-gw-plugins-'));
  let upstream: Server;
  let gw: Gateway;
  let rev = 0;
  const ids = {
    up: randomUUID(),
    svcA: randomUUID(),
    svcB: randomUUID(),
    routeA: randomUUID(),
    routeA2: randomUUID(),
    routeB: randomUUID(),
    alice: randomUUID(),
    key: randomUUID(),
    globalAuth: randomUUID(),
    sizeA: randomUUID(),
    sizeAlice: randomUUID(),
    disabledRoute: randomUUID(),
    routeBAuth: randomUUID(),
    expiredKey: randomUUID(),
    rotatingKey: randomUUID(),
  };
  const put = (kind: EntityKind, data: Record<string, unknown>) =>
    bus.put(entityKey(kind, data.id as string), JSON.stringify({ kind, revision: ++rev, data: { created_at: now, updated_at: now, tags: [], ...data } }));
  const plugin = (id: string, type: string, scope: Record<string, string>, config: Record<string, unknown>, enabled = true) =>
    put('plugins', { id, type, enabled, scope, config });
  const url = (p: string) => `http://127.0.0.1:${gw.proxyPort}${p}`;
  const post = async (path: string, body: string, key?: string) => {
    const r = await request(url(path), { method: 'POST', body, headers: key ? { apikey: key } : {} });
    const text = await r.body.text();
    return { status: r.statusCode, requestId: String(r.headers['x-request-id']), contentType: String(r.headers['content-type']), text };
  };
  const statusOf = async (path: string, key?: string) => (await post(path, '', key)).status;

  before(async () => {
    upstream = createServer((req, res) => {
      let n = 0;
      req.on('data', (c: Buffer) => (n += c.length));
      req.on('end', () => res.end(`ok ${req.url} ${n} ${String(req.headers['x-consumer-username'] ?? '-')}`));
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', () => r()));
    const port = (upstream.address() as AddressInfo).port;
    await put('upstreams', { id: ids.up, name: 'up', targets: [{ host: '127.0.0.1', port }] });
    await put('services', { id: ids.svcA, name: 'a', upstream_id: ids.up });
    await put('services', { id: ids.svcB, name: 'b', upstream_id: ids.up });
    await put('routes', { id: ids.routeA, name: 'a', service_id: ids.svcA, paths: ['/a'] });
    await put('routes', { id: ids.routeA2, name: 'a2', service_id: ids.svcA, paths: ['/a2'] });
    await put('routes', { id: ids.routeB, name: 'b', service_id: ids.svcB, paths: ['/b'] });
    await put('consumers', { id: ids.alice, username: 'alice' });
    await put('keys', { id: ids.key, consumer_id: ids.alice, key_sha256: createHash('sha256').update(KEY).digest('hex') });
    gw = await startGateway({ nodeId: 'plugins-1', bus, logSink: sink, dataDir, host: '127.0.0.1', proxyPort: 0, statusPort: 0, maxBodyBytes: 1024 * 1024 });
  });

  after(async () => {
    await gw?.close();
    await new Promise((r) => upstream.close(r));
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('a global key-auth plugin protects every route (401 JSON with request id); a valid key passes and identifies the consumer', async () => {
    for (const p of ['/a', '/a2', '/b']) assert.equal(await statusOf(p), 200, `${p} open before the plugin`);
    await plugin(ids.globalAuth, 'key-auth', {}, { header_names: ['apikey'], hide_credentials: true });
    await waitFor('global key-auth applied', async () => ((await statusOf('/b')) === 401) || null, 5_000);
    for (const p of ['/a', '/a2', '/b']) {
      const r = await post(p, '');
      assert.equal(r.status, 401, p);
      assert.match(r.contentType, /application\/json/);
      assert.deepEqual(JSON.parse(r.text), { error: { code: 'TP_ERR_AUTH_KEY_MISSING', message: 'an API key is required', request_id: r.requestId } });
      assert.equal((await post(p, '', 'wrong-key-0123456789')).status, 401);
      const good = await post(p, 'xy', KEY);
      assert.equal(good.status, 200);
      assert.equal(good.text, `ok ${p} 2 alice`);
    }
  });

  test('a service-scoped request-size-limiting answers 413 JSON (declared and streamed bodies) on that service only', async () => {
    await plugin(ids.sizeA, 'request-size-limiting', { service_id: ids.svcA }, { max_body_bytes: 16 });
    await waitFor('size limit applied', async () => ((await post('/a', 'x'.repeat(17), KEY)).status === 413) || null, 5_000);
    for (const p of ['/a', '/a2']) {
      const r = await post(p, 'x'.repeat(17), KEY);
      assert.equal(r.status, 413, p);
      assert.match(r.contentType, /application\/json/);
      assert.deepEqual(JSON.parse(r.text), { error: { code: 'TP_ERR_BODY_TOO_LARGE', message: 'request body exceeds 16 bytes', request_id: r.requestId } });
      assert.equal((await post(p, 'x'.repeat(16), KEY)).status, 200, 'at the limit passes');
    }
    assert.equal((await post('/b', 'x'.repeat(1000), KEY)).status, 200, 'another service is not limited');
    // A chunked body has no Content-Length: the limit is enforced on the bytes as they stream in.
    const streamed = await rawExchange(gw.proxyPort, `POST /a HTTP/1.1\r\nHost: x\r\napikey: ${KEY}\r\nTransfer-Encoding: chunked\r\n\r\n40\r\n${'y'.repeat(64)}\r\n`);
    assert.match(streamed, /^HTTP\/1\.1 413 /);
    const body = JSON.parse(streamed.slice(streamed.indexOf('\r\n\r\n') + 4)) as { error: { code: string; request_id: string } };
    assert.equal(body.error.code, 'TP_ERR_BODY_TOO_LARGE');
    assert.ok(body.error.request_id.length > 0);
  });

  test('a consumer-scoped instance overrides the service limit once key-auth has identified the consumer', async () => {
    await plugin(ids.sizeAlice, 'request-size-limiting', { consumer_id: ids.alice }, { max_body_bytes: 64 });
    await waitFor('consumer limit applied', async () => ((await post('/a', 'x'.repeat(40), KEY)).status === 200) || null, 5_000);
    assert.equal((await post('/a', 'x'.repeat(65), KEY)).status, 413);
    assert.equal((await post('/b', 'x'.repeat(65), KEY)).status, 413, 'her limit applies on every route, the unlimited service included');
  });

  test('a disabled plugin has no effect; disabling the global key-auth opens the routes again', async () => {
    await plugin(ids.disabledRoute, 'request-size-limiting', { route_id: ids.routeB }, { max_body_bytes: 1 }, false);
    // Make a later change observable, so the disabled one has certainly been compiled by then.
    await plugin(ids.sizeAlice, 'request-size-limiting', { consumer_id: ids.alice }, { max_body_bytes: 64 }, false);
    await waitFor('consumer limit disabled', async () => ((await post('/b', 'x'.repeat(100), KEY)).status === 200) || null, 5_000);
    assert.equal((await post('/a', 'x'.repeat(17), KEY)).status, 413, 'back to the service limit');
    await plugin(ids.globalAuth, 'key-auth', {}, { header_names: ['apikey'], hide_credentials: true }, false);
    await waitFor('global key-auth disabled', async () => ((await statusOf('/b')) === 200) || null, 5_000);
    assert.equal(await statusOf('/a2'), 200);
  });

  test('API key expiry: a key past its expires_at gets 401 TP_ERR_AUTH_KEY_EXPIRED; one expiring during the run works until then; the consumer keeps her other key (rotation)', async () => {
    await plugin(ids.routeBAuth, 'key-auth', { route_id: ids.routeB }, { header_names: ['apikey'], query_names: ['api_key'], hide_credentials: true });
    await waitFor('route key-auth applied', async () => ((await statusOf('/b')) === 401) || null, 5_000);
    const sha = (k: string) => createHash('sha256').update(k).digest('hex');
    const EXPIRED = 'alice-expired-key-0123456789';
    await put('keys', { id: ids.expiredKey, consumer_id: ids.alice, key_sha256: sha(EXPIRED), expires_at: new Date(Date.now() - 1_000).toISOString() });
    const expiredBody = async () => {
      const r = await post('/b', '', EXPIRED);
      return r.status === 401 ? (JSON.parse(r.text) as { error: { code: string } }).error.code : String(r.status);
    };
    // Before the key reaches the node it is unknown (INVALID); once there, it is expired.
    await waitFor('expired key indexed', async () => ((await expiredBody()) === 'TP_ERR_AUTH_KEY_EXPIRED') || null, 5_000);
    assert.equal((await post('/b', 'xy', KEY)).status, 200, 'her key without expiry still works');

    // Rotation with overlap: the old key is given an expiry a few seconds out; it works until then, not after.
    const ROTATING = 'alice-rotating-key-0123456789';
    await put('keys', { id: ids.rotatingKey, consumer_id: ids.alice, key_sha256: sha(ROTATING) });
    await waitFor('rotating key accepted', async () => ((await post('/b', '', ROTATING)).status === 200) || null, 5_000);
    const expiresAt = Date.now() + 2_500;
    await put('keys', { id: ids.rotatingKey, consumer_id: ids.alice, key_sha256: sha(ROTATING), expires_at: new Date(expiresAt).toISOString() });
    const seen: { at: number; status: number; code: string }[] = [];
    await waitFor(
      'rotating key expired',
      async () => {
        const before = Date.now();
        const r = await post('/b', '', ROTATING);
        const code = r.status === 200 ? '' : (JSON.parse(r.text) as { error: { code: string } }).error.code;
        seen.push({ at: before, status: r.status, code });
        if (code === 'TP_ERR_AUTH_KEY_EXPIRED') return true;
        await new Promise((res) => setTimeout(res, 100));
        return null;
      },
      10_000,
    );
    assert.ok(seen.some((s) => s.status === 200), 'it worked before its expiry');
    for (const s of seen) if (s.at < expiresAt - 50) assert.equal(s.status, 200, `refused ${expiresAt - s.at} ms before its expiry`);
    assert.equal((await post('/b', 'xy', KEY)).status, 200, 'the other key keeps working');
  });

  test(
    'a key in a configured query parameter is accepted and removed from the query the upstream sees',
    async () => {
      await waitFor('route key-auth applied', async () => ((await statusOf('/b')) === 401) || null, 5_000);
      const r = await post(`/b?x=1&api_key=${encodeURIComponent(KEY)}&y=2`, 'xy');
      assert.equal(r.status, 200);
      assert.equal(r.text, 'ok /b?x=1&y=2 2 alice', 'the key is not forwarded');
      assert.equal((await post('/b?api_key=wrong-key-0123456789', '')).status, 401);
    },
  );
});

/** Sends raw bytes and returns everything the server writes until it closes the connection (or 5 s pass). */
function rawExchange(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = netConnect(port, '127.0.0.1', () => s.write(text));
    let out = '';
    const timer = setTimeout(() => {
      s.destroy();
      resolve(out);
    }, 5_000);
    s.on('data', (d: Buffer) => (out += d.toString()));
    s.on('close', () => {
      clearTimeout(timer);
      resolve(out);
    });
    s.on('error', (e) => {
      clearTimeout(timer);
      if (out) resolve(out);
      else reject(e);
    });
  });
}
