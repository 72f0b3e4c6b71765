// oauth2-introspection against a real local introspection endpoint (node:http) that speaks RFC 7662: it
// checks the client's HTTP Basic credentials (RFC 6749 §2.3.1 form-encoding) and the form-encoded body, and
// answers {active, scope, client_id, username, exp, nbf, sub}. Requests are a hand-made RequestContext.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Value } from '@sinclair/typebox/value';
import { Oauth2IntrospectionConfig, generateSecretKey, keyringOf, seal } from '@turnpike/common';
import type { KeyOwner } from '../key-auth/index.js';
import type { AccessTables, RequestContext } from '../request-context.js';
import { runSteps, type Denial, type Identified, type Outcome, type PipelineSink } from '../pipeline.js';
import { IntrospectionDenials, compileIntrospection, introspectionStep, type IntrospectionPolicy } from './index.js';
import { recordingChanges } from '../testing.js';

const CLIENT_ID = 'turnpike gw';
// Characters that RFC 6749 §2.3.1's form-encoding changes (' ', ':', '&', '+', '%').
const CLIENT_SECRET = 'p@ss: w&rd+100%';
const PLUGIN_ID = '6f1c1e8e-2f59-4a4e-9a8e-0c1d2e3f4a5b';
const ring = keyringOf(generateSecretKey());
const nowS = () => Math.floor(Date.now() / 1000);

// ---- the introspection endpoint ------------------------------------------------------------------------------

type Behaviour = Record<string, unknown> | ((res: ServerResponse) => void);
const answers = new Map<string, () => Behaviour>();
const seen: { token: string; hint: string | null }[] = [];
let calls = 0;
let delayMs = 0;
let server: Server;
let url = '';
let refusedUrl = '';

/** RFC 6749 Appendix B: '+' is a space, then percent-decoding. */
const formDecode = (s: string) => decodeURIComponent(s.replace(/\+/g, ' '));

function clientOk(req: IncomingMessage): boolean {
  const m = /^Basic ([A-Za-z0-9+/=]+)$/.exec(req.headers.authorization ?? '');
  if (!m) return false;
  const pair = Buffer.from(m[1]!, 'base64').toString('utf8');
  const colon = pair.indexOf(':');
  return colon > 0 && formDecode(pair.slice(0, colon)) === CLIENT_ID && formDecode(pair.slice(colon + 1)) === CLIENT_SECRET;
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
}

function handle(req: IncomingMessage, res: ServerResponse, body: string): void {
  calls++;
  if (req.method !== 'POST' || req.url !== '/introspect') return json(res, 404, { error: 'not_found' });
  if (!clientOk(req)) {
    res.setHeader('www-authenticate', 'Basic realm="idp"');
    return json(res, 401, { error: 'invalid_client' });
  }
  if (req.headers['content-type'] !== 'application/x-www-form-urlencoded') return json(res, 400, { error: 'invalid_request' });
  const form = new URLSearchParams(body);
  const token = form.get('token');
  if (token === null || form.getAll('token').length !== 1) return json(res, 400, { error: 'invalid_request' });
  seen.push({ token, hint: form.get('token_type_hint') });
  const b = answers.get(token)?.() ?? { active: false }; // RFC 7662 §2.2: an unknown token is inactive
  if (typeof b === 'function') return b(res);
  json(res, 200, b);
}

before(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const go = () => handle(req, res, Buffer.concat(chunks).toString('utf8'));
      if (delayMs > 0) setTimeout(go, delayMs);
      else go();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/introspect`;
  // A port nothing listens on: bind one, note it, close it.
  const closed = createServer();
  await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
  refusedUrl = `http://127.0.0.1:${(closed.address() as AddressInfo).port}/introspect`;
  await new Promise<void>((r) => closed.close(() => r()));

  const alice = () => ({ active: true, scope: 'read write', client_id: 'alice-app', username: 'alice', sub: 'user-1', exp: nowS() + 600, nbf: nowS() - 10 });
  answers.set('tok-alice', alice);
  answers.set('tok-alice-2', alice);
  answers.set('tok-alice-3', alice);
  answers.set('tok-inactive', () => ({ active: false }));
  answers.set('tok-expired', () => ({ ...alice(), exp: nowS() - 5 }));
  answers.set('tok-future', () => ({ ...alice(), nbf: nowS() + 300 }));
  answers.set('tok-stranger', () => ({ ...alice(), client_id: 'nobody-app' }));
  answers.set('tok-evil', () => ({ ...alice(), sub: 'user-1\r\nx-injected: yes', username: 'zoë\u0000', roles: ['a', 'b'] }));
  answers.set('tok-500', () => (res) => json(res, 500, { error: 'server_error' }));
  answers.set('tok-badjson', () => (res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{"active": tr');
  });
  answers.set('tok-noactive', () => ({ scope: 'read', client_id: 'alice-app' }));
  // Answers after the gateway's timeout (the test server is closed with its connections at the end).
  answers.set('tok-slow', () => (res) => setTimeout(() => json(res, 200, alice()), 1_500).unref());
});

after(async () => {
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
});

// ---- requests ---------------------------------------------------------------------------------------------------

const owners = new Map<string, KeyOwner>([
  ['alice-app', { consumerId: 'c-alice', username: 'alice-app', groupIds: [] }],
  ['anon', { consumerId: 'c-anon', username: 'anon', groupIds: [] }],
]);

// The tables this step reads (ownerByUsername); the credential tables are other steps' and are never read here.
const tables: AccessTables = {
  keys: new Map(),
  ownerOf: (id) => [...owners.values()].find((o) => o.consumerId === id),
  ownerByUsername: (u) => owners.get(u),
  jwt: undefined as never,
  hmac: undefined as never,
  basic: undefined as never,
  subscriptions: undefined as never,
  quotas: undefined as never,
  trustedProxies: undefined as never,
};

interface TestContext extends RequestContext {
  hiddenHeaders: string[];
  hiddenQuery: string[];
  notes: [string, string][];
}

function request(headers: Record<string, string>, opts: { query?: string; nowMs?: number } = {}): TestContext {
  const received = Object.entries(headers).flat();
  return {
    ...recordingChanges(),
    method: 'GET',
    path: '/orders',
    query: opts.query ?? '',
    host: 'api.example',
    header: (n) => headers[n] ?? '',
    received,
    peerIp: '127.0.0.1',
    clientCert: null,
    clientIp: () => '127.0.0.1',
    declaredLength: 0,
    body: null,
    routeId: 'r1',
    serviceId: 's1',
    consumerId: '',
    credentialId: '',
    tables,
    nowMs: opts.nowMs ?? Date.now(),
    hiddenHeaders: [],
    hiddenQuery: [],
    notes: [],
    hideHeaders(names) {
      this.hiddenHeaders.push(...names);
    },
    hideQuery(names) {
      this.hiddenQuery.push(...names);
    },
    addResponseHeaders() {},
    note(code, detail) {
      this.notes.push([code, detail]);
    },
  };
}
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

function policyOf(config: Record<string, unknown> = {}, secret = CLIENT_SECRET): IntrospectionPolicy {
  const cfg = Value.Default(Oauth2IntrospectionConfig, { introspection_url: url, client_id: CLIENT_ID, ...config }) as Oauth2IntrospectionConfig;
  assert.ok(Value.Check(Oauth2IntrospectionConfig, cfg), 'the test config is schema-valid');
  const p = compileIntrospection(cfg, { keyring: ring, pluginId: PLUGIN_ID, secrets: { '/client_secret': seal(ring, secret, PLUGIN_ID) } });
  assert.ok(typeof p !== 'string', String(p));
  return p;
}

/** Runs the step; `sync` asserts whether it answered at once (true) or with a Promise (false). */
async function run(policy: IntrospectionPolicy, ctx: TestContext, sync?: boolean): Promise<Outcome> {
  const out = introspectionStep(policy).run(ctx);
  if (sync !== undefined) assert.equal(!(out instanceof Promise), sync, sync ? 'answered synchronously' : 'answered with a Promise');
  return await out;
}

function assertDenied(out: Outcome, status: number, code: string): Denial {
  assert.ok(out !== null && out.kind === 'deny', `expected a denial, got ${JSON.stringify(out)}`);
  assert.equal(out.status, status);
  assert.equal(out.code, code);
  return out;
}
const challenge = (d: Denial) => d.headers?.[d.headers.indexOf('www-authenticate') + 1] ?? null;

function assertIdentified(out: Outcome, consumerId: string): Identified {
  assert.ok(out !== null && out.kind === 'identity', `expected an identity, got ${JSON.stringify(out)}`);
  assert.equal(out.consumerId, consumerId);
  return out;
}

const T = { timeout: 2_000 };

// ---- tests --------------------------------------------------------------------------------------------------------

test('no token: 401 with WWW-Authenticate Bearer realm="turnpike" and no error code, synchronously, no call', T, async () => {
  const p = policyOf();
  const before = calls;
  for (const headers of [{}, { authorization: 'Basic YTpi' }, { authorization: 'Bearer ' }] as Record<string, string>[]) {
    const ctx = request(headers);
    assert.equal(introspectionStep(p).present!(ctx), false);
    const d = assertDenied(await run(p, ctx, true), 401, 'TP_ERR_AUTH_TOKEN_MISSING');
    assert.equal(challenge(d), 'Bearer realm="turnpike"');
  }
  assert.equal(calls, before);
  assert.equal(introspectionStep(p).present!(request(bearer('tok-alice'))), true);
});

test('an active token identifies its client_id consumer, with claims_to_headers; the endpoint got Basic client auth and a form body', T, async () => {
  const p = policyOf({ claims_to_headers: { sub: 'x-user-id', username: 'x-username', missing: 'x-missing' } });
  const ctx = request({ ...bearer('tok-alice'), 'x-user-id': 'spoofed' });
  const who = assertIdentified(await run(p, ctx, false), 'c-alice');
  assert.deepEqual(who.upstreamHeaders, ['x-user-id', 'user-1', 'x-username', 'alice']);
  assert.match(who.credentialId, /^introspection:[0-9a-f]{16}$/);
  assert.ok(!who.credentialId.includes('tok-alice'));
  // hide_credentials (default) drops the token; every claim header is dropped from the client's request.
  assert.ok(ctx.hiddenHeaders.includes('authorization'));
  for (const h of ['x-user-id', 'x-username', 'x-missing']) assert.ok(ctx.hiddenHeaders.includes(h), h);
  assert.deepEqual(seen.at(-1), { token: 'tok-alice', hint: 'access_token' });
});

test('hide_credentials false forwards the token; token_type_hint null is not sent; a query-parameter token is read and hidden', T, async () => {
  const keep = policyOf({ hide_credentials: false, token_type_hint: null });
  const ctx = request(bearer('tok-alice'));
  assertIdentified(await run(keep, ctx), 'c-alice');
  assert.deepEqual(ctx.hiddenHeaders, []);
  assert.deepEqual(seen.at(-1), { token: 'tok-alice', hint: null });

  const q = policyOf({ query_param: 'access_token' });
  const qctx = request({}, { query: 'a=1&access_token=tok-alice-2' });
  assert.equal(introspectionStep(q).present!(qctx), true);
  assertIdentified(await run(q, qctx), 'c-alice');
  assert.deepEqual(qctx.hiddenQuery, ['access_token']);
});

test('an inactive (or unknown) token: 401 invalid_token', T, async () => {
  const p = policyOf();
  for (const token of ['tok-inactive', 'tok-never-issued']) {
    const d = assertDenied(await run(p, request(bearer(token)), false), 401, 'TP_ERR_AUTH_TOKEN_INVALID');
    assert.match(challenge(d)!, /^Bearer realm="turnpike", error="invalid_token"/);
    assert.ok(!d.message.includes(token));
  }
});

test('an active answer whose exp has passed, or whose nbf is ahead, is refused by the gateway clock (401)', T, async () => {
  const p = policyOf();
  const expired = assertDenied(await run(p, request(bearer('tok-expired'))), 401, 'TP_ERR_AUTH_TOKEN_EXPIRED');
  assert.match(challenge(expired)!, /error="invalid_token"/);
  assertDenied(await run(p, request(bearer('tok-future'))), 401, 'TP_ERR_AUTH_TOKEN_NOT_YET_VALID');
});

test('required_scopes: all must be in the space-separated scope, else 403 insufficient_scope naming them', T, async () => {
  const ok = policyOf({ required_scopes: ['read', 'write'] });
  assertIdentified(await run(ok, request(bearer('tok-alice'))), 'c-alice');
  const p = policyOf({ required_scopes: ['read', 'admin'] });
  const d = assertDenied(await run(p, request(bearer('tok-alice'))), 403, 'TP_ERR_AUTH_SCOPE_INSUFFICIENT');
  assert.equal(challenge(d), 'Bearer realm="turnpike", error="insufficient_scope", error_description="the token lacks a required scope", scope="read admin"');
  // A prefix of a granted scope is not that scope.
  assertDenied(await run(policyOf({ required_scopes: ['rea'] }), request(bearer('tok-alice'))), 403, 'TP_ERR_AUTH_SCOPE_INSUFFICIENT');
});

test('cache: a second request with the token is answered synchronously without a call, until cache_ttl_ms', T, async () => {
  const p = policyOf({ cache_ttl_ms: 60_000 });
  const t0 = Date.now();
  const first = await run(p, request(bearer('tok-alice'), { nowMs: t0 }), false);
  const n = calls;
  const second = await run(p, request(bearer('tok-alice'), { nowMs: t0 + 59_000 }), true);
  assert.equal(calls, n, 'no new call');
  assertIdentified(second, 'c-alice');
  assert.equal(second, first, 'the same identity object is reused');
  // Past the TTL the endpoint is asked again.
  assertIdentified(await run(p, request(bearer('tok-alice'), { nowMs: t0 + 60_001 }), false), 'c-alice');
  assert.equal(calls, n + 1);
  // A cached token stops being admitted at its exp (600 s ahead), whatever the TTL.
  const long = policyOf({ cache_ttl_ms: 3_600_000 });
  await run(long, request(bearer('tok-alice'), { nowMs: t0 }), false);
  await run(long, request(bearer('tok-alice'), { nowMs: t0 + 590_000 }), true);
  const after = await run(long, request(bearer('tok-alice'), { nowMs: t0 + 601_000 }), false);
  assertDenied(after, 401, 'TP_ERR_AUTH_TOKEN_EXPIRED');
  // cache_ttl_ms 0: every request calls.
  const none = policyOf({ cache_ttl_ms: 0 });
  await run(none, request(bearer('tok-alice')), false);
  await run(none, request(bearer('tok-alice')), false);
});

test('negative cache: an inactive answer is reused for negative_cache_ttl_ms (synchronous 401), then asked again', T, async () => {
  const p = policyOf({ negative_cache_ttl_ms: 5_000 });
  const t0 = Date.now();
  assertDenied(await run(p, request(bearer('tok-inactive'), { nowMs: t0 }), false), 401, 'TP_ERR_AUTH_TOKEN_INVALID');
  const n = calls;
  assertDenied(await run(p, request(bearer('tok-inactive'), { nowMs: t0 + 4_999 }), true), 401, 'TP_ERR_AUTH_TOKEN_INVALID');
  assert.equal(calls, n);
  await run(p, request(bearer('tok-inactive'), { nowMs: t0 + 5_000 }), false);
  assert.equal(calls, n + 1);
  const none = policyOf({ negative_cache_ttl_ms: 0 });
  await run(none, request(bearer('tok-inactive')), false);
  await run(none, request(bearer('tok-inactive')), false);
});

test('coalescing: 10 concurrent requests with one uncached token make one call and all get the identity', T, async () => {
  const p = policyOf();
  const n = calls;
  delayMs = 100;
  try {
    const ctxs = Array.from({ length: 10 }, () => request(bearer('tok-alice-3')));
    const outs = ctxs.map((c) => introspectionStep(p).run(c));
    assert.ok(outs.every((o) => o instanceof Promise));
    assert.equal(p.inFlight.size, 1);
    for (const o of await Promise.all(outs)) assertIdentified(o, 'c-alice');
    assert.equal(calls, n + 1);
    assert.equal(p.inFlight.size, 0);
    // Each request hid its own credentials.
    assert.ok(ctxs.every((c) => c.hiddenHeaders.includes('authorization')));
  } finally {
    delayMs = 0;
  }
});

test('the endpoint failing (500, bad JSON, no "active", wrong client secret) is 503 TP_ERR_AUTH_UNAVAILABLE, never 401, and not cached', T, async () => {
  const p = policyOf();
  for (const token of ['tok-500', 'tok-badjson', 'tok-noactive']) {
    const ctx = request(bearer(token));
    const d = assertDenied(await run(p, ctx, false), 503, 'TP_ERR_AUTH_UNAVAILABLE');
    assert.equal(d.headers, null);
    assert.equal(ctx.notes.length, 1);
    assert.equal(ctx.notes[0]![0], 'TP_AUTH_INTROSPECTION_UNAVAILABLE');
    assert.ok(!ctx.notes[0]![1].includes(token) && !d.message.includes(token), 'the token is in no message');
  }
  // Not cached: asked again.
  const n = calls;
  assertDenied(await run(p, request(bearer('tok-500')), false), 503, 'TP_ERR_AUTH_UNAVAILABLE');
  assert.equal(calls, n + 1);
  // The endpoint refusing the gateway's own credentials (401 invalid_client) is an outage, not a bad token.
  const wrong = policyOf({}, 'not-the-secret');
  const ctx = request(bearer('tok-alice'));
  assertDenied(await run(wrong, ctx), 503, 'TP_ERR_AUTH_UNAVAILABLE');
  assert.match(ctx.notes[0]![1], /answered 401/);
  assert.ok(!ctx.notes[0]![1].includes('not-the-secret'));
});

test('timeout and connection refused: 503 within the timeout; fail_open lets the request through unauthenticated', T, async () => {
  const p = policyOf({ timeout_ms: 200 });
  const t0 = performance.now();
  const ctx = request(bearer('tok-slow'));
  assertDenied(await run(p, ctx, false), 503, 'TP_ERR_AUTH_UNAVAILABLE');
  assert.ok(performance.now() - t0 < 1_000, 'answered at the timeout, not when the endpoint did');
  assert.match(ctx.notes[0]![1], /within 200 ms/);

  const refused = policyOf({ introspection_url: refusedUrl });
  const rctx = request(bearer('tok-alice'));
  assertDenied(await run(refused, rctx, false), 503, 'TP_ERR_AUTH_UNAVAILABLE');
  assert.match(rctx.notes[0]![1], /ECONNREFUSED/);

  for (const open of [policyOf({ timeout_ms: 200, fail_open: true, claims_to_headers: { sub: 'x-user-id' } }), policyOf({ introspection_url: refusedUrl, fail_open: true, claims_to_headers: { sub: 'x-user-id' } })]) {
    const c = request({ ...bearer(open.endpoint.url === refusedUrl ? 'tok-alice' : 'tok-slow'), 'x-user-id': 'spoofed' });
    assert.equal(await run(open, c, false), null);
    assert.equal(c.notes[0]![0], 'TP_AUTH_INTROSPECTION_UNAVAILABLE');
    // Through unauthenticated: the token and spoofable claim headers still do not reach the upstream.
    assert.ok(c.hiddenHeaders.includes('authorization') && c.hiddenHeaders.includes('x-user-id'));
  }
  // fail_open does not let a refused token through.
  assertDenied(await run(policyOf({ fail_open: true }), request(bearer('tok-inactive'))), 401, 'TP_ERR_AUTH_TOKEN_INVALID');
});

test('a token whose claim names no consumer: 401, or the anonymous_consumer when set; consumer_claim picks the claim', T, async () => {
  assertDenied(await run(policyOf(), request(bearer('tok-stranger'))), 401, 'TP_ERR_AUTH_TOKEN_INVALID');
  assertIdentified(await run(policyOf({ anonymous_consumer: 'anon' }), request(bearer('tok-stranger'))), 'c-anon');
  assertIdentified(await run(policyOf({ anonymous_consumer: 'anon' }), request(bearer('tok-alice'))), 'c-alice');
  // An anonymous consumer that does not exist (yet) is no consumer either.
  assertDenied(await run(policyOf({ anonymous_consumer: 'ghost' }), request(bearer('tok-stranger'))), 401, 'TP_ERR_AUTH_TOKEN_INVALID');
  // consumer_claim username → "alice", which is no consumer here; sub neither.
  assertDenied(await run(policyOf({ consumer_claim: 'username' }), request(bearer('tok-alice'))), 401, 'TP_ERR_AUTH_TOKEN_INVALID');
});

test('claim header values are header-safe: no CR/LF/NUL, non-ASCII percent-encoded, objects as JSON', T, async () => {
  const p = policyOf({ claims_to_headers: { sub: 'x-sub', username: 'x-username', roles: 'x-roles' } });
  const who = assertIdentified(await run(p, request(bearer('tok-evil'))), 'c-alice');
  assert.deepEqual(who.upstreamHeaders, ['x-sub', 'user-1x-injected: yes', 'x-username', 'zo%C3%AB', 'x-roles', '["a","b"]']);
  for (const v of who.upstreamHeaders!) assert.doesNotMatch(v, /[\x00-\x08\x0a-\x1f\x7f]/);
});

test('a malformed or oversized token is refused (401) without a call', T, async () => {
  const p = policyOf();
  const n = calls;
  for (const token of ['a b', 'tok"quote', 'x'.repeat(8 * 1024 + 1)]) {
    assertDenied(await run(p, request({ authorization: `Bearer ${token}` }), true), 401, 'TP_ERR_AUTH_TOKEN_MALFORMED');
  }
  assert.equal(calls, n);
});

test('compileIntrospection rejects a config whose client secret is missing, in clear, or cannot be opened', () => {
  const cfg = Value.Default(Oauth2IntrospectionConfig, { introspection_url: url, client_id: CLIENT_ID }) as Oauth2IntrospectionConfig;
  const sealed = seal(ring, CLIENT_SECRET, PLUGIN_ID);
  const at = (o: Partial<Parameters<typeof compileIntrospection>[1]>, c = cfg) => compileIntrospection(c, { keyring: ring, pluginId: PLUGIN_ID, secrets: { '/client_secret': sealed }, ...o });
  assert.equal(typeof at({}), 'object');
  assert.equal(at({ secrets: null }), 'client_secret is not set');
  assert.equal(at({ secrets: { '/client_secret': 'plain' } }), 'client_secret is not a sealed secret');
  assert.match(String(at({ keyring: null })), /no secret key/);
  assert.match(String(at({ pluginId: 'another-plugin' })), /cannot be opened/, 'sealed for another instance');
  assert.match(String(at({ keyring: keyringOf(generateSecretKey()) })), /cannot be opened/, 'another keyring');
  assert.match(String(at({}, { ...cfg, client_secret: CLIENT_SECRET })), /arrived in clear/);
  for (const r of [at({ pluginId: 'x' }), at({ keyring: null })]) assert.ok(!String(r).includes(CLIENT_SECRET));
});

test('the refusals are shared objects (the hot path allocates none)', () => {
  assert.ok(Object.isFrozen(IntrospectionDenials.missing) && Object.isFrozen(IntrospectionDenials.unavailable));
});

test('in the pipeline runner: the first request waits for the endpoint and resumes; a cached token runs straight through', T, async () => {
  const p = policyOf();
  const events: string[] = [];
  let finished: () => void = () => {};
  const sink: PipelineSink<TestContext> = {
    gone: () => false,
    identify: (_c, who, step) => events.push(`identify ${who.consumerId} by ${step}`),
    deny: (_c, d) => events.push(`deny ${d.status}`),
    answer: () => events.push('answer'),
    bodyReady: () => true,
    awaitBody: (_c, resume) => resume(),
    done: () => {
      events.push('done');
      finished();
    },
    failed: (_c, e) => events.push(`failed ${String(e)}`),
  };
  const steps = [introspectionStep(p)];
  const settled = new Promise<void>((r) => (finished = r));
  assert.equal(runSteps(steps, 0, request(bearer('tok-alice')), sink), false, 'waiting for the endpoint');
  await settled;
  assert.deepEqual(events, ['identify c-alice by oauth2-introspection', 'done']);
  events.length = 0;
  assert.equal(runSteps(steps, 0, request(bearer('tok-alice')), sink), true, 'finished synchronously');
  assert.deepEqual(events, ['identify c-alice by oauth2-introspection', 'done']);
});
