// The full call record through the real proxy port (issue 8): client address through a trusted proxy, user
// agent, host, credential and plan ids, upstream address and the timing breakdown, and call-capture's
// headers and bodies with redaction, as the control plane would configure them (an in-process config bus).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { SignJWT } from 'jose';
import { InProcessConfigBus, entityKey, type CallRecord, type EntityKind, type LogSink } from '@turnpike/common';
import { waitFor } from '@turnpike/common/testing';
import { startGateway, type Gateway } from '../src/index.js';

const now = new Date().toISOString();
const KEY = 'erin-key-0123456789abcdef';
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });

describe('the call record through the gateway proxy', { timeout: 60_000 }, () => {
  const bus = new InProcessConfigBus();
  const calls: CallRecord[] = [];
  const sink: LogSink = { write: async (batch) => void calls.push(...batch), close: async () => undefined };
  const dataDir = mkdtempSync(join(tmpdir(), 'tp-gw-record-'));
  let upstream: Server;
  let idp: Server;
  let gw: Gateway;
  let rev = 0;
  const id = () => randomUUID();
  const ids = { up: id(), svc: id(), erin: id(), alice: id(), plan: id(), jwtCred: id(), erinKey: id() };
  const put = (kind: EntityKind, data: Record<string, unknown>) =>
    bus.put(entityKey(kind, data.id as string), JSON.stringify({ kind, revision: ++rev, data: { created_at: now, updated_at: now, tags: [], ...data } }));
  const route = async (path: string) => {
    const rid = id();
    await put('routes', { id: rid, name: `r${rid.slice(0, 8)}`, service_id: ids.svc, paths: [path] });
    return rid;
  };
  const plugin = (type: string, scope: Record<string, string>, config: Record<string, unknown>) => put('plugins', { id: id(), type, enabled: true, scope, config });
  const url = (p: string) => `http://127.0.0.1:${gw.proxyPort}${p}`;
  async function call(path: string, opts: { method?: string; headers?: Record<string, string>; body?: string } = {}) {
    const r = await request(url(path), { method: (opts.method ?? (opts.body !== undefined ? 'POST' : 'GET')) as 'GET', headers: opts.headers ?? {}, body: opts.body });
    const text = await r.body.text();
    return { status: r.statusCode, text, requestId: String(r.headers['x-request-id']) };
  }
  const logged = (requestId: string) => waitFor(`call ${requestId} logged`, async () => calls.find((c) => c.request_id === requestId) ?? null, 5_000);
  const until = (what: string, check: () => Promise<boolean>) => waitFor(what, async () => ((await check()) ? true : null), 5_000);

  before(async () => {
    upstream = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        // A little upstream time, so upstream and total latencies are both measurably above 0.
        setTimeout(() => {
          res.setHeader('content-type', 'application/json');
          res.setHeader('set-cookie', 'session=upstream-secret');
          res.setHeader('x-upstream', 'yes');
          res.end(JSON.stringify({ ok: true, password: 'from-upstream', nested: { token: 't-up', keep: 1 } }));
        }, 15);
      });
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', () => r()));
    const jwk = { ...rsa.publicKey.export({ format: 'jwk' }), kid: 'k1', alg: 'RS256', use: 'sig' };
    idp = createServer((_req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ keys: [jwk] }));
    });
    await new Promise<void>((r) => idp.listen(0, '127.0.0.1', () => r()));
    await put('upstreams', { id: ids.up, name: 'up', targets: [{ host: '127.0.0.1', port: (upstream.address() as AddressInfo).port }] });
    await put('services', { id: ids.svc, name: 'svc', upstream_id: ids.up });
    await put('consumers', { id: ids.erin, username: 'erin' });
    await put('consumers', { id: ids.alice, username: 'alice' });
    await put('keys', { id: ids.erinKey, consumer_id: ids.erin, key_sha256: createHash('sha256').update(KEY).digest('hex') });
    await put('subscriptions', { id: id(), consumer_id: ids.erin, service_id: ids.svc, plan_id: ids.plan, status: 'approved' });
    await put('credentials', {
      id: ids.jwtCred,
      type: 'jwt',
      consumer_id: ids.alice,
      issuer: 'https://idp.test',
      algorithms: ['RS256'],
      jwks_uri: `http://127.0.0.1:${(idp.address() as AddressInfo).port}/jwks`,
      audiences: [],
      clock_skew_s: 30,
    });
    gw = await startGateway({ nodeId: 'record-1', bus, logSink: sink, dataDir, host: '127.0.0.1', proxyPort: 0, statusPort: 0, trustedProxies: ['127.0.0.1'] });
  });

  after(async () => {
    await gw?.close();
    await new Promise((r) => upstream.close(r));
    await new Promise((r) => idp.close(r));
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('key-auth: client ip from X-Forwarded-For via the trusted proxy, user agent cut to 256, host, plan of the approved subscription, upstream address, consistent timings', async () => {
    await route('/keyed');
    // The inline fast path (key-auth alone) records the same fields as a pipeline.
    await plugin('key-auth', { service_id: ids.svc }, {});
    await until('key-auth applied', async () => (await call('/keyed')).status === 401);
    const ua = 'agent/' + 'x'.repeat(400);
    const r = await call('/keyed?a=1', { headers: { apikey: KEY, 'x-forwarded-for': '198.51.100.23', 'user-agent': ua, host: 'api.example.test:8080' } });
    assert.equal(r.status, 200, r.text);
    const rec = await logged(r.requestId);
    assert.equal(rec.consumer_id, ids.erin);
    assert.equal(rec.credential_id, ids.erinKey, 'the key that matched');
    assert.equal(rec.plan_id, ids.plan);
    assert.equal(rec.client_ip, '198.51.100.23');
    assert.equal(rec.user_agent, ua.slice(0, 256));
    assert.equal(rec.host, 'api.example.test:8080');
    assert.equal(rec.upstream_addr, `127.0.0.1:${(upstream.address() as AddressInfo).port}`);
    assert.ok(rec.upstream_latency_ms >= 15 && rec.upstream_latency_ms <= rec.total_latency_ms, JSON.stringify(rec));
    assert.equal(rec.upstream_ttfb_ms, rec.upstream_latency_ms);
    // The h1 client (plain-http targets) reports when the request went out on a connection: before the head came.
    assert.ok(rec.upstream_connect_ms! >= 0 && rec.upstream_connect_ms! < rec.upstream_ttfb_ms!, JSON.stringify(rec));
    assert.ok(rec.gateway_latency_ms! >= 0);
    assert.ok(Math.abs(rec.gateway_latency_ms! + rec.upstream_latency_ms - rec.total_latency_ms) < 0.01, JSON.stringify(rec));
    assert.equal(rec.ai_provider, undefined, 'no AI usage: the field is left out (read as empty downstream)');
    assert.equal(rec.captured, undefined, 'nothing captured: left out');

    // A refused request still names its client; without a trusted hop the TCP peer is the client.
    const denied = await call('/keyed', { headers: { 'x-forwarded-for': '198.51.100.24' } });
    const d = await logged(denied.requestId);
    assert.equal(d.status, 401);
    assert.equal(d.client_ip, '198.51.100.24');
    assert.equal(d.plan_id, '');
    assert.equal(d.upstream_addr, '');
    assert.equal(d.upstream_latency_ms, 0);
  });

  test('jwt-auth: the credential id of the matched issuer; no subscription, no plan', async () => {
    const r = await route('/jwt');
    await plugin('jwt-auth', { route_id: r }, {});
    await until('jwt-auth applied', async () => (await call('/jwt')).status === 401);
    const token = await new SignJWT({ sub: 'alice' }).setProtectedHeader({ alg: 'RS256', kid: 'k1' }).setIssuer('https://idp.test').setIssuedAt().setExpirationTime('5m').sign(rsa.privateKey);
    const ok = await call('/jwt', { headers: { authorization: `Bearer ${token}` } });
    assert.equal(ok.status, 200, ok.text);
    const rec = await logged(ok.requestId);
    assert.equal(rec.consumer_id, ids.alice);
    assert.equal(rec.credential_id, ids.jwtCred);
    assert.equal(rec.plan_id, '');
  });

  test('call-capture: request and response headers and bodies, credentials and configured JSON fields redacted, bodies capped', async () => {
    const r = await route('/captured');
    await plugin('key-auth', { route_id: r }, { header_names: ['x-my-key'] });
    await plugin('call-capture', { route_id: r }, {
      request_headers: true,
      response_headers: true,
      request_body: true,
      response_body: true,
      redact_headers: ['X-Internal-Secret'],
      redact_json_fields: ['password', '/nested/token'],
    });
    await until('call-capture applied', async () => {
      const probe = await call('/captured', { headers: { 'x-my-key': KEY } });
      const rec = await logged(probe.requestId);
      return rec.captured !== undefined && rec.captured !== '';
    });
    const body = JSON.stringify({ user: 'erin', password: 'hunter2', nested: { token: 'abc', other: 'kept' }, list: [{ password: 'p' }] });
    const res = await call('/captured', {
      headers: { 'x-my-key': KEY, authorization: 'Bearer zzz', cookie: 'sid=1', 'x-internal-secret': 's', 'content-type': 'application/json', 'x-visible': 'v' },
      body,
    });
    assert.equal(res.status, 200, res.text);
    const rec = await logged(res.requestId);
    // key-auth as a pipeline step (with call-capture) names the key too.
    assert.equal(rec.credential_id, ids.erinKey);
    const c = JSON.parse(rec.captured!) as Record<string, unknown> & { request_headers: Record<string, string>; response_headers: Record<string, string> };
    assert.equal(c.request_headers['x-my-key'], '[REDACTED]', "the route's key-auth header");
    assert.equal(c.request_headers.authorization, '[REDACTED]');
    assert.equal(c.request_headers.cookie, '[REDACTED]');
    assert.equal(c.request_headers['x-internal-secret'], '[REDACTED]');
    assert.equal(c.request_headers['x-visible'], 'v');
    assert.deepEqual(JSON.parse(c.request_body as string), { user: 'erin', password: '[REDACTED]', nested: { token: '[REDACTED]', other: 'kept' }, list: [{ password: '[REDACTED]' }] });
    assert.equal(c.request_body_truncated, false);
    assert.equal(c.response_status, 200);
    assert.equal(c.response_headers['set-cookie'], '[REDACTED]');
    assert.equal(c.response_headers['x-upstream'], 'yes');
    assert.deepEqual(JSON.parse(c.response_body as string), { ok: true, password: '[REDACTED]', nested: { token: '[REDACTED]', keep: 1 } });
    assert.ok(!rec.captured!.includes(KEY) && !rec.captured!.includes('hunter2') && !rec.captured!.includes('upstream-secret'));
    // The client got the upstream's body unchanged.
    assert.equal(JSON.parse(res.text).password, 'from-upstream');
  });

  test('call-capture: a body over max_body_bytes is cut (text) and marked truncated', async () => {
    const r = await route('/capped');
    await plugin('call-capture', { route_id: r }, { request_body: true, max_body_bytes: 16 });
    await until('call-capture applied', async () => (await logged((await call('/capped', { body: 'x' })).requestId)).captured !== '');
    const res = await call('/capped', { headers: { 'content-type': 'text/plain' }, body: 'abcdefghijklmnopqrstuvwxyz' });
    const c = JSON.parse((await logged(res.requestId)).captured!) as Record<string, unknown>;
    assert.deepEqual(c, { request_body: 'abcdefghijklmnop', request_body_truncated: true, request_body_bytes: 26 });
  });
});
