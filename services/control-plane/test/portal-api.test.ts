// The developer portal's REST API (/portal/api/v1) against real PostgreSQL and NATS: sign-up and sign-in
// (closed by default, field-path errors, lockout, expiry, sign-out), the catalog's visibility rules, keys
// (shown once, rotation with grace, revocation; published and audited with the developer as actor),
// subscriptions (pending / auto-approved, cancel), isolation between developers, usage, and "try it"
// relayed to a real HTTP server standing in for the gateway.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startHarness, type Harness, type RestResponse } from './support.js';

interface Dev {
  id: string;
  token: string;
  email: string;
}

describe('developer portal API', { timeout: 90_000 }, () => {
  let h: Harness;
  let base = '';
  let gateway: Server;
  let gatewayBase = '';
  const seen: Array<{ method: string; url: string; headers: IncomingMessage['headers']; body: string }> = [];
  const ids: Record<string, string> = {};
  let alice: Dev;
  let bob: Dev;

  const portal = async (method: string, path: string, body?: unknown, token?: string, headers: Record<string, string> = {}): Promise<RestResponse> => {
    const hd: Record<string, string> = { ...headers };
    if (token) hd.authorization = `Bearer ${token}`;
    if (body !== undefined) hd['content-type'] = 'application/json';
    const res = await fetch(`${base}/portal/api/v1${path}`, { method, headers: hd, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    return { status: res.status, headers: res.headers, text, json };
  };
  const paths = (r: RestResponse): string[] => [...new Set<string>((r.json?.error?.fields ?? []).map((f: { path: string }) => f.path))];
  const signUp = async (email: string, tenant?: string): Promise<Dev> => {
    const r = await portal('POST', `/accounts${tenant ? `?tenant=${tenant}` : ''}`, { email, password: 'correct horse battery', display_name: email.split('@')[0] });
    assert.equal(r.status, 201, r.text);
    assert.match(r.json.token, /^tps_/);
    return { id: r.json.developer.id, token: r.json.token, email };
  };

  before(async () => {
    gateway = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
        res.writeHead(req.headers.apikey ? 200 : 401, { 'content-type': 'application/json', 'set-cookie': 'x=1' });
        res.end(JSON.stringify({ url: req.url, method: req.method }));
      });
    });
    await new Promise<void>((r) => gateway.listen(0, '127.0.0.1', r));
    gatewayBase = `http://127.0.0.1:${(gateway.address() as AddressInfo).port}`;
    process.env.TP_PORTAL_GATEWAY_URL = `${gatewayBase}/`;
    h = await startHarness();
    delete process.env.TP_PORTAL_GATEWAY_URL;
    base = `http://127.0.0.1:${h.cp.restPort}`;
    const up = await h.rest('POST', '/v1/upstreams', { name: 'portal-up', targets: [{ host: '127.0.0.1', port: 9 }] });
    const doc = { openapi: '3.1.0', info: { title: 'Orders', version: '1.0.0' }, paths: { '/orders/{id}': { get: { responses: { '200': { description: 'ok' } } } } } };
    const services: Array<[string, Record<string, unknown>]> = [
      ['orders', { catalog_visibility: 'public', openapi: doc, subscription_required: true }],
      ['legacy', { catalog_visibility: 'public', lifecycle: 'deprecated', sunset_at: '2030-01-01T00:00:00Z' }],
      ['internal', { catalog_visibility: 'private' }],
      ['upcoming', { catalog_visibility: 'public', lifecycle: 'draft' }],
      ['gone', { catalog_visibility: 'public' }],
    ];
    for (const [name, extra] of services) {
      const s = await h.rest('POST', '/v1/services', { name, upstream_id: up.json.id, ...extra });
      assert.equal(s.status, 201, s.text);
      ids[name] = s.json.id;
    }
    assert.equal((await h.rest('PATCH', `/v1/services/${ids.gone}`, { lifecycle: 'retired' })).status, 200);
    const route = await h.rest('POST', '/v1/routes', { name: 'orders', service_id: ids.orders, paths: ['/orders/{id}'], methods: ['GET'], plugins: { 'key-auth': { header_names: ['apikey'] } } });
    assert.equal(route.status, 201, route.text);
    ids.ordersRoute = route.json.id;
    for (const [name, extra] of [['manual', { tags: ['portal'] }], ['auto', { tags: ['portal'], approval: 'auto', quotas: [{ period: 'day', requests: 1000 }] }], ['internal-auto', { approval: 'auto' }]] as const) {
      const p = await h.rest('POST', '/v1/plans', { name, ...extra });
      assert.equal(p.status, 201, p.text);
      ids[`plan-${name}`] = p.json.id;
    }
    // Another tenant with a public service of its own.
    assert.equal((await h.rest('POST', '/v1/tenants', { name: 'other' })).status, 201);
    const oup = await h.rest('POST', '/v1/upstreams', { name: 'o-up', targets: [{ host: '127.0.0.1', port: 9 }] }, { 'x-turnpike-tenant': 'other' });
    const os = await h.rest('POST', '/v1/services', { name: 'other-public', upstream_id: oup.json.id, catalog_visibility: 'public' }, { 'x-turnpike-tenant': 'other' });
    assert.equal(os.status, 201, os.text);
    ids.otherPublic = os.json.id;
  });

  after(async () => {
    await h?.close();
    await new Promise<void>((r) => (gateway ? gateway.close(() => r()) : r()));
  });

  it('sign-up is closed until an operator opens it for the tenant; settings validate with field paths', async () => {
    const closed = await portal('POST', '/accounts', { email: 'early@example.com', password: 'long enough pw', display_name: 'Early' });
    assert.equal(closed.status, 403);
    assert.equal(closed.json.error.code, 'TP_ERR_PORTAL_SIGNUP_CLOSED');
    const cfg = await portal('GET', '/config');
    assert.deepEqual(cfg.json, { tenant: 'default', signup: 'closed', gateway_url: gatewayBase });
    const bad = await h.rest('PATCH', '/v1/portal/settings', { signup: 'maybe', gateway_url: 'ftp://x' });
    assert.equal(bad.status, 400);
    assert.deepEqual(paths(bad).sort(), ['/gateway_url', '/signup']);
    const ok = await h.rest('PATCH', '/v1/portal/settings', { signup: 'open' });
    assert.equal(ok.status, 200, ok.text);
    assert.equal(ok.json.signup, 'open');
    assert.equal(ok.json.effective_gateway_url, gatewayBase);
    assert.equal(ok.json.gateway_url, null);
    assert.equal((await portal('GET', '/config')).json.signup, 'open');
    // The other tenant stays closed.
    assert.equal((await portal('POST', '/accounts?tenant=other', { email: 'x@example.com', password: 'long enough pw', display_name: 'X' })).status, 403);
    assert.equal((await portal('GET', '/config?tenant=nope')).status, 404);
    // The change is in the audit log under its own resource type, and the operator endpoints are documented.
    const audit = await h.rest('GET', '/v1/audit?resource_type=portal_settings');
    assert.equal(audit.status, 200, audit.text);
    assert.ok(audit.json.data.some((e: { action: string; after: { signup?: string } }) => e.action === 'create' && e.after.signup === 'open'));
    const doc = (await h.rest('GET', '/v1/openapi.json')).json;
    assert.ok(doc.paths['/v1/portal/settings']?.patch && doc.paths['/v1/portal/developers']?.get);
  });

  it('sign-up creates the consumer and the account; bad input answers field paths; a taken email is 409', async () => {
    const bad = await portal('POST', '/accounts', { email: 'not-an-email', password: 'short', display_name: '' });
    assert.equal(bad.status, 400);
    assert.equal(bad.json.error.code, 'TP_ERR_VALIDATION');
    assert.deepEqual(paths(bad).sort(), ['/display_name', '/email', '/password']);
    const extra = await portal('POST', '/accounts', { email: 'a@example.com', password: 'long enough pw', display_name: 'A', role: 'admin' });
    assert.equal(extra.status, 400);

    alice = await signUp('Alice@Example.com');
    const me = await portal('GET', '/me', undefined, alice.token);
    assert.equal(me.status, 200);
    assert.equal(me.json.email, 'alice@example.com');
    assert.equal(me.json.tenant, 'default');
    const consumer = await h.rest('GET', `/v1/consumers/${alice.id}`);
    assert.equal(consumer.status, 200);
    assert.deepEqual(consumer.json.tags, ['portal']);
    assert.equal(consumer.json.custom_id, 'portal:alice@example.com');

    const dup = await portal('POST', '/accounts', { email: 'ALICE@example.com', password: 'another password', display_name: 'Eve' });
    assert.equal(dup.status, 409);
    assert.deepEqual(paths(dup), ['/email']);
    bob = await signUp('bob@example.com');

    const [row] = await h.sql<{ password_hash: Buffer; password_salt: Buffer; password_params: string }[]>`SELECT * FROM developers WHERE consumer_id = ${alice.id}`;
    assert.match(row!.password_params, /^scrypt:\d+:\d+:\d+$/);
    assert.equal(row!.password_salt.length, 16);
    const [bobRow] = await h.sql<{ password_salt: Buffer }[]>`SELECT password_salt FROM developers WHERE consumer_id = ${bob.id}`;
    assert.notDeepEqual(row!.password_salt, bobRow!.password_salt, 'a salt per account');
    const sessions = await h.sql<{ token_sha256: string }[]>`SELECT token_sha256 FROM developer_sessions WHERE consumer_id = ${alice.id}`;
    assert.ok(sessions.length >= 1 && sessions.every((s) => /^[0-9a-f]{64}$/.test(s.token_sha256) && !s.token_sha256.includes(alice.token)));
    const list = await h.rest('GET', '/v1/portal/developers');
    assert.deepEqual(list.json.data.map((d: { email: string }) => d.email), ['alice@example.com', 'bob@example.com']);
  });

  it('sign-in: wrong password and unknown email are the same 401; a good one gets a new session', async () => {
    const wrong = await portal('POST', '/sessions', { email: 'alice@example.com', password: 'wrong password' });
    assert.equal(wrong.status, 401);
    assert.equal(wrong.json.error.code, 'TP_ERR_PORTAL_SIGNIN_FAILED');
    const unknown = await portal('POST', '/sessions', { email: 'nobody@example.com', password: 'wrong password' });
    assert.equal(unknown.status, 401);
    assert.equal(unknown.json.error.message, wrong.json.error.message);
    const missing = await portal('POST', '/sessions', { email: 'alice@example.com' });
    assert.equal(missing.status, 400);
    assert.deepEqual(paths(missing), ['/password']);
    const ok = await portal('POST', '/sessions', { email: 'ALICE@example.com', password: 'correct horse battery' });
    assert.equal(ok.status, 201, ok.text);
    assert.notEqual(ok.json.token, alice.token);
    assert.equal(ok.json.developer.id, alice.id);
    assert.ok(Date.parse(ok.json.expires_at) > Date.now() + 3600_000);
  });

  it('five failed sign-ins in a row lock the account: even the right password answers 429 with Retry-After', async () => {
    const carol = await signUp('carol@example.com');
    for (let i = 0; i < 5; i++) assert.equal((await portal('POST', '/sessions', { email: carol.email, password: `guess number ${i}` })).status, 401);
    const locked = await portal('POST', '/sessions', { email: carol.email, password: 'correct horse battery' });
    assert.equal(locked.status, 429);
    assert.equal(locked.json.error.code, 'TP_ERR_PORTAL_ACCOUNT_LOCKED');
    assert.ok(Number(locked.headers.get('retry-after')) > 800);
    const dev = (await h.rest('GET', '/v1/portal/developers')).json.data.find((d: { email: string }) => d.email === carol.email);
    assert.ok(dev.locked_until);
    // Once the lock has passed, the right password works and resets the count.
    await h.sql`UPDATE developers SET locked_until = now() - interval '1 second' WHERE consumer_id = ${carol.id}`;
    assert.equal((await portal('POST', '/sessions', { email: carol.email, password: 'correct horse battery' })).status, 201);
    const [row] = await h.sql<{ failed_signins: number }[]>`SELECT failed_signins FROM developers WHERE consumer_id = ${carol.id}`;
    assert.equal(row!.failed_signins, 0);
  });

  it('sessions: missing, garbage, expired and signed-out tokens are 401', async () => {
    assert.equal((await portal('GET', '/me')).status, 401);
    assert.equal((await portal('GET', '/me', undefined, 'tps_garbage')).json.error.code, 'TP_ERR_PORTAL_SESSION_INVALID');
    assert.equal((await portal('GET', '/keys', undefined, h.token)).status, 401, 'an admin token is no session');
    const s1 = (await portal('POST', '/sessions', { email: 'bob@example.com', password: 'correct horse battery' })).json.token as string;
    const s2 = (await portal('POST', '/sessions', { email: 'bob@example.com', password: 'correct horse battery' })).json.token as string;
    assert.equal((await portal('GET', '/me', undefined, s1)).status, 200);
    await h.sql`UPDATE developer_sessions SET expires_at = now() - interval '1 second' WHERE token_sha256 = encode(sha256(${s1}::bytea), 'hex')`;
    assert.equal((await portal('GET', '/me', undefined, s1)).status, 401, 'expired');
    assert.equal((await portal('DELETE', '/sessions/current', undefined, s2)).status, 204);
    assert.equal((await portal('GET', '/me', undefined, s2)).status, 401, 'signed out');
    assert.equal((await portal('GET', '/me', undefined, bob.token)).status, 200, 'other sessions live on');
  });

  it('catalog: public published and deprecated services of the tenant only, with offered plans; the rest is 404', async () => {
    const list = await portal('GET', '/catalog', undefined, alice.token);
    assert.equal(list.status, 200);
    assert.deepEqual(list.json.data.map((e: { name: string }) => e.name), ['legacy', 'orders']);
    const legacy = list.json.data[0];
    assert.equal(legacy.deprecated, true);
    assert.equal(legacy.sunset_at, '2030-01-01T00:00:00.000Z');
    const orders = list.json.data[1];
    assert.equal(orders.openapi, undefined, 'the list leaves documents out');
    assert.equal(orders.has_openapi, true);
    assert.equal(orders.title, 'Orders');
    assert.deepEqual(orders.auth, { type: 'key-auth', header: 'apikey' });
    assert.deepEqual(orders.routes, [{ id: ids.ordersRoute, paths: ['/orders/{id}'], methods: ['GET'], hosts: [] }]);
    assert.deepEqual(orders.plans.map((p: { name: string }) => p.name), ['manual', 'auto'], 'only plans tagged portal');
    const one = await portal('GET', `/catalog/${ids.orders}`, undefined, alice.token);
    assert.equal(one.json.openapi.info.title, 'Orders');
    for (const hidden of [ids.internal, ids.upcoming, ids.gone, ids.otherPublic, 'not-a-uuid']) {
      assert.equal((await portal('GET', `/catalog/${hidden}`, undefined, alice.token)).status, 404, hidden);
    }
    // Anonymous browsing names the tenant; the other tenant's catalog is its own.
    assert.deepEqual((await portal('GET', '/catalog')).json.data.length, 2);
    assert.deepEqual((await portal('GET', '/catalog?tenant=other')).json.data.map((e: { name: string }) => e.name), ['other-public']);
  });

  it('keys: created (clear key once), listed without it, rotated with grace or at once, revoked; published and audited as the developer', async () => {
    const created = await portal('POST', '/keys', { name: 'laptop' }, alice.token);
    assert.equal(created.status, 201, created.text);
    assert.match(created.json.key, /^tp_/);
    const keyId = created.json.id as string;
    const listed = await portal('GET', '/keys', undefined, alice.token);
    assert.deepEqual(listed.json.data.map((k: { id: string }) => k.id), [keyId]);
    assert.equal(listed.json.data[0].key, undefined);
    assert.equal((await portal('POST', '/keys', { key: 'tp_chosen-by-me-0000000000' }, alice.token)).status, 400, 'no caller-chosen keys');
    assert.deepEqual(paths(await portal('POST', '/keys', { name: '', expires_at: 'soon' }, alice.token)).sort(), ['/expires_at', '/name']);

    const outbox = await h.sql`SELECT op FROM outbox WHERE kind = 'keys' AND entity_id = ${keyId}`;
    assert.deepEqual(outbox.map((r) => r.op), ['put'], 'the key goes to the gateways through the outbox');
    const audit = await h.rest('GET', `/v1/audit?resource_type=keys&resource_id=${keyId}`);
    assert.equal(audit.json.data[0].actor_user_id, alice.id, 'audited with the developer as actor');

    const rotated = await portal('POST', `/keys/${keyId}/rotate`, { grace_seconds: 600 }, alice.token);
    assert.equal(rotated.status, 201, rotated.text);
    assert.match(rotated.json.key.key, /^tp_/);
    assert.equal(rotated.json.key.name, 'laptop');
    assert.equal(rotated.json.replaced.revoked, false);
    const left = Date.parse(rotated.json.replaced.expires_at) - Date.now();
    assert.ok(left > 500_000 && left <= 600_000, `grace ${left} ms`);
    const again = await portal('POST', `/keys/${rotated.json.key.id}/rotate`, { grace_seconds: 0 }, alice.token);
    assert.equal(again.json.replaced.revoked, true);
    const now = (await portal('GET', '/keys', undefined, alice.token)).json.data.map((k: { id: string }) => k.id);
    assert.deepEqual(now, [keyId, again.json.key.id]);
    assert.equal((await portal('POST', `/keys/${keyId}/rotate`, { grace_seconds: -1 }, alice.token)).status, 400);

    assert.equal((await portal('DELETE', `/keys/${keyId}`, undefined, alice.token)).status, 204);
    assert.equal((await portal('DELETE', `/keys/${keyId}`, undefined, alice.token)).status, 404);
    const del = await h.sql`SELECT op FROM outbox WHERE kind = 'keys' AND entity_id = ${keyId} ORDER BY id`;
    assert.equal(del.at(-1)!.op, 'del');
  });

  it('subscriptions: pending under a manual plan, approved at once under an auto plan, one live per service, cancel', async () => {
    const pending = await portal('POST', '/subscriptions', { service_id: ids.orders, plan_id: ids['plan-manual'], note: 'for my shop' }, alice.token);
    assert.equal(pending.status, 201, pending.text);
    assert.equal(pending.json.status, 'pending');
    assert.equal(pending.json.consumer_id, alice.id);
    assert.equal(pending.json.service_name, 'orders');
    const dup = await portal('POST', '/subscriptions', { service_id: ids.orders }, alice.token);
    assert.equal(dup.status, 409);
    assert.deepEqual(paths(dup), ['/service_id']);
    for (const sid of [ids.internal, ids.gone, ids.otherPublic]) {
      const r = await portal('POST', '/subscriptions', { service_id: sid }, alice.token);
      assert.equal(r.status, 422, sid);
      assert.deepEqual(paths(r), ['/service_id']);
    }
    const notOffered = await portal('POST', '/subscriptions', { service_id: ids.legacy, plan_id: ids['plan-internal-auto'] }, alice.token);
    assert.equal(notOffered.status, 422);
    assert.deepEqual(paths(notOffered), ['/plan_id']);
    assert.deepEqual(paths(await portal('POST', '/subscriptions', { service_id: 'x' }, alice.token)), ['/service_id']);

    const auto = await portal('POST', '/subscriptions', { service_id: ids.legacy, plan_id: ids['plan-auto'] }, alice.token);
    assert.equal(auto.json.status, 'approved');
    const mine = await portal('GET', '/subscriptions', undefined, alice.token);
    assert.deepEqual(mine.json.data.map((s: { status: string }) => s.status), ['pending', 'approved']);

    // The operator approves through the admin API; the developer sees it.
    assert.equal((await h.rest('POST', `/v1/subscriptions/${pending.json.id}/approve`, {})).status, 200);
    assert.equal((await portal('GET', `/subscriptions/${pending.json.id}`, undefined, alice.token)).json.status, 'approved');

    const usage = await portal('GET', '/usage', undefined, alice.token);
    assert.equal(usage.status, 200, usage.text);
    assert.equal(usage.json.traffic, null, 'no analytics store in this harness');
    assert.deepEqual(usage.json.quotas.map((q: { service_id: string; requests: { limit: number } }) => [q.service_id, q.requests.limit]), [[ids.legacy, 1000]]);

    assert.equal((await portal('DELETE', `/subscriptions/${auto.json.id}`, undefined, alice.token)).status, 204);
    assert.equal((await h.rest('GET', `/v1/subscriptions/${auto.json.id}`)).status, 404);
    ids.aliceSub = pending.json.id;
  });

  it("another developer can neither see nor touch mine: 404 everywhere", async () => {
    const key = await portal('POST', '/keys', { name: 'alice-2' }, alice.token);
    const bobKeys = await portal('GET', '/keys', undefined, bob.token);
    assert.deepEqual(bobKeys.json.data, []);
    assert.equal((await portal('POST', `/keys/${key.json.id}/rotate`, {}, bob.token)).status, 404);
    assert.equal((await portal('DELETE', `/keys/${key.json.id}`, undefined, bob.token)).status, 404);
    assert.equal((await portal('GET', `/subscriptions/${ids.aliceSub}`, undefined, bob.token)).status, 404);
    assert.equal((await portal('DELETE', `/subscriptions/${ids.aliceSub}`, undefined, bob.token)).status, 404);
    assert.deepEqual((await portal('GET', '/subscriptions', undefined, bob.token)).json.data, []);
    // Alice's key and subscription are untouched.
    assert.equal((await portal('GET', `/subscriptions/${ids.aliceSub}`, undefined, alice.token)).status, 200);
    assert.equal((await portal('GET', '/keys', undefined, alice.token)).json.data.length, 2);
  });

  it('try it: relayed to the gateway for a route of the service only, cookies dropped', async () => {
    const r = await portal('POST', '/try', { service_id: ids.orders, method: 'GET', path: '/orders/7?x=1', headers: { apikey: 'tp_abc', cookie: 'no' } }, alice.token);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.status, 200);
    assert.deepEqual(JSON.parse(r.json.body), { url: '/orders/7?x=1', method: 'GET' });
    assert.equal(r.json.headers['set-cookie'], undefined);
    const last = seen.at(-1)!;
    assert.equal(last.headers.apikey, 'tp_abc');
    assert.equal(last.headers.cookie, undefined);
    const other = await portal('POST', '/try', { service_id: ids.orders, method: 'GET', path: '/admin/secrets' }, alice.token);
    assert.equal(other.status, 422);
    assert.deepEqual(paths(other), ['/path']);
    assert.equal((await portal('POST', '/try', { service_id: ids.orders, method: 'POST', path: '/orders/7' }, alice.token)).status, 422, 'method outside the route');
    assert.equal((await portal('POST', '/try', { service_id: ids.internal, method: 'GET', path: '/x' }, alice.token)).status, 422);
    assert.equal((await portal('POST', '/try', { service_id: ids.orders, method: 'GET', path: '/orders/7' })).status, 401);
  });

  it('unknown portal API paths answer the JSON 404, not the app', async () => {
    for (const p of ['/portal/api/v1/nope', '/portal/api/v2/x', '/portal/api']) {
      const res = await fetch(base + p);
      assert.equal(res.status, 404, p);
      assert.match(res.headers.get('content-type') ?? '', /application\/json/);
      assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'TP_ERR_NOT_FOUND');
    }
  });

  it('deleting the consumer (admin API) deletes the account and its sessions', async () => {
    assert.equal((await h.rest('DELETE', `/v1/consumers/${bob.id}`)).status, 204);
    assert.equal((await portal('GET', '/me', undefined, bob.token)).status, 401);
    assert.equal((await portal('POST', '/sessions', { email: 'bob@example.com', password: 'correct horse battery' })).status, 401);
  });
});
