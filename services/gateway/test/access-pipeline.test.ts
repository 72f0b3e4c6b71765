// The request pipeline through the real proxy port: authentication schemes (JWT from a JWKS fetched on the
// first token, HMAC with a body digest, Basic with scrypt), any-of auth, CORS, IP lists, ACLs,
// subscriptions, request validation and the WAF, configured as the control plane publishes them (an
// in-process config bus). Checks the status, the JSON error body with its code, WWW-Authenticate, that the
// upstream gets the body intact after an asynchronous check, and that each denial's code is in the call log.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createHmac, generateKeyPairSync, randomUUID } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { SignJWT } from 'jose';
import { InProcessConfigBus, entityKey, generateSecretKey, hashPassword, keyringOf, seal, type CallRecord, type EntityKind, type LogSink } from '@turnpike/common';
import { waitFor } from '@turnpike/common/testing';
import { startGateway, type Gateway } from '../src/index.js';
import { startFakeLambda, type FakeLambda } from './fixtures/fake-lambda.js';

const now = new Date().toISOString();
const ring = keyringOf(generateSecretKey());
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const HMAC_SECRET = 'hmac-secret-for-carol-0123456789';
const BASIC_PW = 'correct horse battery staple';
const KEY = 'dave-key-0123456789abcdef';
const CLIENT_SECRET = 'introspection-client-secret';
const AWS_KEY_ID = 'AKIATESTACCESSKEY0001';
const AWS_SECRET = 'aws-secret-access-key-for-tests';

interface ErrorJson {
  error?: { code: string; message: string; request_id: string; fields?: { path: string; message: string }[] };
}
function parseError(text: string): ErrorJson | null {
  try {
    return JSON.parse(text) as ErrorJson;
  } catch {
    return null;
  }
}

interface Seen {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  bodySha: string;
  bodyLength: number;
}

describe('access pipeline through the gateway proxy', { timeout: 90_000 }, () => {
  const bus = new InProcessConfigBus();
  const calls: CallRecord[] = [];
  const sink: LogSink = { write: async (batch) => void calls.push(...batch), close: async () => undefined };
  const dataDir = mkdtempSync(join(tmpdir(), 'tp-gw-access-'));
  let upstream: Server;
  let idp: Server;
  let jwksHits = 0;
  let introspections = 0;
  let lambda: FakeLambda;
  const heldJwks: (() => void)[] = [];
  let releaseJwks: (() => void) | null = () => {
    releaseJwks = null;
    for (const a of heldJwks.splice(0)) a();
  };
  let seen: Seen[] = [];
  let gw: Gateway;
  let rev = 0;
  const id = () => randomUUID();
  const ids = { up: id(), svc: id(), subSvc: id(), alice: id(), carol: id(), bob: id(), dave: id(), admins: id(), others: id() };
  const put = (kind: EntityKind, data: Record<string, unknown>) =>
    bus.put(entityKey(kind, data.id as string), JSON.stringify({ kind, revision: ++rev, data: { created_at: now, updated_at: now, tags: [], ...data } }));
  const route = async (path: string, service = ids.svc) => {
    const rid = id();
    await put('routes', { id: rid, name: `r${rid.slice(0, 8)}`, service_id: service, paths: [path] });
    return rid;
  };
  const plugin = (type: string, scope: Record<string, string>, config: Record<string, unknown>) => put('plugins', { id: id(), type, enabled: true, scope, config });
  const url = (p: string) => `http://127.0.0.1:${gw.proxyPort}${p}`;
  async function call(path: string, opts: { method?: string; headers?: Record<string, string>; body?: string | Buffer } = {}) {
    const r = await request(url(path), { method: (opts.method ?? (opts.body !== undefined ? 'POST' : 'GET')) as 'GET', headers: opts.headers ?? {}, body: opts.body });
    const text = await r.body.text();
    const json = parseError(text);
    return { status: r.statusCode, headers: r.headers, text, json, requestId: String(r.headers['x-request-id']) };
  }
  const until = (what: string, check: () => Promise<boolean>) => waitFor(what, async () => ((await check()) ? true : null), 5_000);
  const jwt = (claims: Record<string, unknown>, kid = 'k1') =>
    new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid }).setIssuer('https://idp.test').setIssuedAt().setExpirationTime('5m').sign(rsa.privateKey);
  const callLogged = (requestId: string) => waitFor(`call ${requestId} logged`, async () => calls.find((c) => c.request_id === requestId) ?? null, 5_000);

  before(async () => {
    upstream = createServer((req, res) => {
      const h = createHash('sha256');
      let n = 0;
      req.on('data', (c: Buffer) => {
        h.update(c);
        n += c.length;
      });
      req.on('end', () => {
        seen.push({ method: req.method!, url: req.url!, headers: req.headers, bodySha: h.digest('hex'), bodyLength: n });
        res.setHeader('access-control-allow-origin', 'https://upstream-says.example');
        // Names the gateway also sets on rate-limited routes: its values must replace these.
        res.setHeader('RateLimit-Limit', '999');
        res.setHeader('X-Upstream-Only', 'kept');
        res.end(`ok ${n}`);
      });
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', () => r()));
    const jwk = { ...rsa.publicKey.export({ format: 'jwk' }), kid: 'k1', alg: 'RS256', use: 'sig' };
    idp = createServer((req, res) => {
      if (req.url === '/jwks') {
        jwksHits++;
        const answer = () => {
          res.setHeader('content-type', 'application/json');
          res.setHeader('cache-control', 'max-age=300');
          res.end(JSON.stringify({ keys: [jwk] }));
        };
        // The first fetch (the node's prefetch when the issuer arrives) is held until the test releases it.
        if (releaseJwks === null) answer();
        else heldJwks.push(answer);
      } else if (req.url === '/introspect' && req.method === 'POST') {
        let form = '';
        req.on('data', (c: Buffer) => (form += c.toString()));
        req.on('end', () => {
          introspections++;
          const basic = `Basic ${Buffer.from(`gateway:${CLIENT_SECRET}`).toString('base64')}`;
          if (req.headers.authorization !== basic) return void res.writeHead(401).end();
          const token = new URLSearchParams(form).get('token');
          res.setHeader('content-type', 'application/json');
          if (token === 'opaque-good') res.end(JSON.stringify({ active: true, client_id: 'dave', scope: 'read write', exp: Math.floor(Date.now() / 1000) + 600 }));
          else if (token === 'opaque-down') res.writeHead(500).end('{}');
          else res.end(JSON.stringify({ active: false }));
        });
      } else res.writeHead(404).end();
    });
    await new Promise<void>((r) => idp.listen(0, '127.0.0.1', () => r()));
    const idpPort = (idp.address() as AddressInfo).port;
    lambda = await startFakeLambda({ region: 'eu-west-1', keys: { [AWS_KEY_ID]: AWS_SECRET } });

    await put('upstreams', { id: ids.up, name: 'up', targets: [{ host: '127.0.0.1', port: (upstream.address() as AddressInfo).port }] });
    await put('services', { id: ids.svc, name: 'svc', upstream_id: ids.up });
    await put('services', { id: ids.subSvc, name: 'subscribed', upstream_id: ids.up, subscription_required: true });
    await put('consumer_groups', { id: ids.admins, name: 'admins' });
    await put('consumer_groups', { id: ids.others, name: 'others' });
    await put('consumers', { id: ids.alice, username: 'alice', group_ids: [ids.admins] });
    await put('consumers', { id: ids.carol, username: 'carol', group_ids: [ids.others] });
    await put('consumers', { id: ids.bob, username: 'bob' });
    await put('consumers', { id: ids.dave, username: 'dave' });
    await put('keys', { id: id(), consumer_id: ids.dave, key_sha256: createHash('sha256').update(KEY).digest('hex') });
    const credId = id();
    await put('credentials', {
      id: credId,
      type: 'jwt',
      consumer_id: ids.alice,
      issuer: 'https://idp.test',
      algorithms: ['RS256'],
      jwks_uri: `http://127.0.0.1:${idpPort}/jwks`,
      audiences: [],
      clock_skew_s: 30,
      claims_to_headers: { sub: 'x-jwt-sub' },
    });
    const hmacId = id();
    await put('credentials', { id: hmacId, type: 'hmac', consumer_id: ids.carol, key_id: 'carol', algorithms: ['hmac-sha256'], secret: seal(ring, HMAC_SECRET, hmacId) });
    await put('credentials', { id: id(), type: 'basic', consumer_id: ids.bob, username: 'bob', password_hash: hashPassword(BASIC_PW) });
    gw = await startGateway({
      nodeId: 'access-1',
      bus,
      logSink: sink,
      dataDir,
      host: '127.0.0.1',
      proxyPort: 0,
      statusPort: 0,
      keyring: ring,
      trustedProxies: ['127.0.0.1'],
      maxBodyBytes: 4 * 1024 * 1024,
    });
  });

  after(async () => {
    await gw?.close();
    await new Promise((r) => upstream.close(r));
    await new Promise((r) => idp.close(r));
    await lambda?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('jwt-auth: the first token waits for the JWKS, the body arrives intact; claims become headers; bad tokens get 401 with a Bearer challenge', async () => {
    const r = await route('/jwt');
    await plugin('jwt-auth', { route_id: r }, {});
    await until('jwt-auth applied', async () => (await call('/jwt')).status === 401);
    const missing = await call('/jwt');
    assert.equal(missing.json?.error?.code, 'TP_ERR_AUTH_TOKEN_MISSING');
    assert.match(String(missing.headers['www-authenticate']), /^Bearer\b/);

    // The issuer's JWKS is still being fetched (held by the IdP): the request waits for it, body and all.
    const body = Buffer.alloc(300 * 1024, 7);
    seen = [];
    const token = await jwt({ sub: 'alice-sub' });
    const pending = call('/jwt', { headers: { authorization: `Bearer ${token}`, 'x-jwt-sub': 'forged', 'x-consumer-id': 'forged' }, body });
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(seen.length, 0, 'nothing forwarded before the key is known');
    releaseJwks!();
    const ok = await pending;
    assert.equal(ok.status, 200, ok.text);
    assert.equal(jwksHits, 1);
    assert.equal(seen[0]!.bodyLength, body.length);
    assert.equal(seen[0]!.bodySha, createHash('sha256').update(body).digest('hex'));
    assert.equal(seen[0]!.headers['x-jwt-sub'], 'alice-sub', 'the claim, not the client-sent header');
    assert.equal(seen[0]!.headers['x-consumer-id'], ids.alice);
    assert.equal(seen[0]!.headers['x-consumer-username'], 'alice');
    assert.equal(seen[0]!.headers.authorization, undefined, 'hide_credentials defaults on');
    assert.equal((await callLogged(ok.requestId)).consumer_id, ids.alice);

    const tampered = token.slice(0, -4) + (token.endsWith('AAAA') ? 'BBBB' : 'AAAA');
    const bad = await call('/jwt', { headers: { authorization: `Bearer ${tampered}` } });
    assert.equal(bad.status, 401);
    assert.equal(bad.json?.error?.code, 'TP_ERR_AUTH_TOKEN_INVALID');
    assert.match(String(bad.headers['www-authenticate']), /error="invalid_token"/);
    assert.equal((await callLogged(bad.requestId)).error_code, 'TP_ERR_AUTH_TOKEN_INVALID', 'the reason code, never the token');
    const none = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from('{"iss":"https://idp.test","exp":9999999999}').toString('base64url')}.`;
    assert.equal((await call('/jwt', { headers: { authorization: `Bearer ${none}` } })).json?.error?.code, 'TP_ERR_AUTH_ALG_NOT_ALLOWED');
    assert.equal(jwksHits, 1, 'keys are cached');
  });

  test('hmac-auth with validate_request_body: the body is read before the check and forwarded; a replay is refused', async () => {
    const r = await route('/hmac');
    await plugin('hmac-auth', { route_id: r }, { enforce_headers: ['@request-target', 'date'], validate_request_body: true });
    await until('hmac-auth applied', async () => (await call('/hmac')).status === 401);
    const body = JSON.stringify({ order: 42, items: 'x'.repeat(100_000) });
    const sign = (b: string) => {
      const date = new Date().toUTCString();
      const digest = `SHA-256=${createHash('sha256').update(b).digest('base64')}`;
      const lines = [`@request-target: post /hmac`, `date: ${date}`, `digest: ${digest}`].join('\n');
      const sig = createHmac('sha256', HMAC_SECRET).update(lines).digest('base64');
      return { date, digest, authorization: `hmac username="carol", algorithm="hmac-sha256", headers="@request-target date digest", signature="${sig}"` };
    };
    const headers = sign(body);
    seen = [];
    const ok = await call('/hmac', { headers: { ...headers, 'content-type': 'application/json' }, body });
    assert.equal(ok.status, 200, ok.text);
    assert.equal(seen[0]!.bodySha, createHash('sha256').update(body).digest('hex'));
    assert.equal(seen[0]!.headers['x-consumer-username'], 'carol');
    const replay = await call('/hmac', { headers: { ...headers, 'content-type': 'application/json' }, body });
    assert.equal(replay.status, 401);
    assert.equal(replay.json?.error?.code, 'TP_ERR_AUTH_SIGNATURE_REPLAYED');
    const altered = await call('/hmac', { headers: { ...sign(body), 'content-type': 'application/json' }, body: body.replace('42', '43') });
    assert.equal(altered.json?.error?.code, 'TP_ERR_AUTH_DIGEST_MISMATCH');
    assert.match(String(altered.headers['www-authenticate']), /^hmac realm="turnpike"/);
  });

  test('basic-auth (scrypt, asynchronous) with a streamed chunked body; a wrong password is 401 with a Basic challenge', async () => {
    const r = await route('/basic');
    await plugin('basic-auth', { route_id: r }, { cache_ttl_s: 0 });
    await until('basic-auth applied', async () => (await call('/basic')).status === 401);
    const auth = `Basic ${Buffer.from(`bob:${BASIC_PW}`).toString('base64')}`;
    const chunks = Array.from({ length: 40 }, (_, i) => Buffer.alloc(16 * 1024, i));
    const whole = Buffer.concat(chunks);
    seen = [];
    const res = await request(url('/basic'), {
      method: 'PUT',
      headers: { authorization: auth },
      body: Readable.from(chunks),
    });
    assert.equal(res.statusCode, 200, await res.body.text());
    assert.equal(seen[0]!.bodyLength, whole.length);
    assert.equal(seen[0]!.bodySha, createHash('sha256').update(whole).digest('hex'));
    const wrong = await call('/basic', { headers: { authorization: `Basic ${Buffer.from('bob:nope').toString('base64')}` }, body: 'x' });
    assert.equal(wrong.status, 401);
    assert.equal(wrong.json?.error?.code, 'TP_ERR_AUTH_BASIC_INVALID');
    assert.equal(wrong.headers['www-authenticate'], 'Basic realm="turnpike", charset="UTF-8"');
  });

  test('oauth2-introspection: an active token identifies its client; inactive 401; cached; the endpoint failing is 503, never 401', async () => {
    const r = await route('/introspected');
    const pid = id();
    await put('plugins', {
      id: pid,
      type: 'oauth2-introspection',
      enabled: true,
      scope: { route_id: r },
      config: { introspection_url: `http://127.0.0.1:${(idp.address() as AddressInfo).port}/introspect`, client_id: 'gateway', client_secret_set: true, consumer_claim: 'client_id', required_scopes: ['read'] },
      secret: { '/client_secret': seal(ring, CLIENT_SECRET, pid) },
    });
    await until('introspection applied', async () => (await call('/introspected')).status === 401);
    seen = [];
    const ok = await call('/introspected', { headers: { authorization: 'Bearer opaque-good' } });
    assert.equal(ok.status, 200, ok.text);
    assert.equal(seen[0]!.headers['x-consumer-username'], 'dave');
    const before = introspections;
    assert.equal((await call('/introspected', { headers: { authorization: 'Bearer opaque-good' } })).status, 200);
    assert.equal(introspections, before, 'the second request is answered from the cache');
    const inactive = await call('/introspected', { headers: { authorization: 'Bearer opaque-revoked' } });
    assert.equal(inactive.status, 401);
    assert.match(String(inactive.headers['www-authenticate']), /^Bearer/);
    const down = await call('/introspected', { headers: { authorization: 'Bearer opaque-down' } });
    assert.equal(down.status, 503);
    assert.equal(down.json?.error?.code, 'TP_ERR_AUTH_UNAVAILABLE');
  });

  test('custom-authorizer (Lambda, TOKEN): allow with context headers, deny 403, Unauthorized 401, cached per token, a throttled function 503', async () => {
    lambda.functions.set('authz', {
      handler: (event) => {
        const e = event as { authorizationToken: string; methodArn: string };
        if (e.authorizationToken === 'allow-me') {
          return { principalId: 'dave', policyDocument: { Version: '2012-10-17', Statement: [{ Action: 'execute-api:Invoke', Effect: 'Allow', Resource: e.methodArn }] }, context: { tier: 'gold' } };
        }
        if (e.authorizationToken === 'deny-me') {
          return { principalId: 'x', policyDocument: { Version: '2012-10-17', Statement: [{ Action: 'execute-api:Invoke', Effect: 'Deny', Resource: '*' }] } };
        }
        throw new Error('Unauthorized');
      },
    });
    const r = await route('/authorized');
    const pid = id();
    await put('plugins', {
      id: pid,
      type: 'custom-authorizer',
      enabled: true,
      scope: { route_id: r },
      config: {
        kind: 'lambda',
        type: 'token',
        lambda: { function_name: 'authz', region: 'eu-west-1', endpoint: lambda.url, credentials: { access_key_id: AWS_KEY_ID } },
        identity_sources: ['$request.header.Authorization'],
        result_ttl_ms: 60_000,
      },
      secret: { '/lambda/credentials/secret_access_key': seal(ring, AWS_SECRET, pid) },
    });
    await until('authorizer applied', async () => (await call('/authorized')).status === 401);
    seen = [];
    const ok = await call('/authorized', { headers: { authorization: 'allow-me', 'x-authorizer-tier': 'forged' } });
    assert.equal(ok.status, 200, ok.text);
    assert.equal(seen[0]!.headers['x-authorizer-tier'], 'gold');
    assert.equal(seen[0]!.headers['x-consumer-username'], 'dave');
    const calls = lambda.calls.length;
    assert.equal((await call('/authorized', { headers: { authorization: 'allow-me' } })).status, 200);
    assert.equal(lambda.calls.length, calls, 'cached by identity source');
    const denied = await call('/authorized', { headers: { authorization: 'deny-me' } });
    assert.equal(denied.status, 403);
    assert.equal(denied.json?.error?.code, 'TP_ERR_AUTHORIZER_DENIED');
    assert.equal((await call('/authorized', { headers: { authorization: 'who-knows' } })).status, 401);
    assert.equal(lambda.badSignatures, 0, 'every invocation was SigV4-signed with the unsealed key');
    lambda.functions.get('authz')!.throttle = true;
    const throttled = await call('/authorized', { headers: { authorization: 'fresh-token' } });
    assert.equal(throttled.status, 503);
    assert.equal(throttled.json?.error?.code, 'TP_ERR_AUTH_UNAVAILABLE');
  });

  test('several schemes on one route: any one of them; none presented → 401 naming every scheme', async () => {
    const r = await route('/either');
    await plugin('key-auth', { route_id: r }, {});
    await plugin('jwt-auth', { route_id: r }, {});
    await until('both applied', async () => (await call('/either', { headers: { apikey: KEY } })).status === 200);
    assert.equal((await call('/either', { headers: { authorization: `Bearer ${await jwt({ sub: 'a' })}` } })).status, 200);
    const none = await call('/either');
    assert.equal(none.status, 401);
    assert.equal(none.json?.error?.code, 'TP_ERR_AUTH_KEY_MISSING');
    const challenges = ([] as string[]).concat(none.headers['www-authenticate'] as string | string[]);
    assert.deepEqual(challenges.sort(), ['ApiKey realm="turnpike"', 'Bearer realm="turnpike"']);
    assert.equal((await call('/either', { headers: { apikey: 'wrong-key-0000000000' } })).json?.error?.code, 'TP_ERR_AUTH_KEY_INVALID', 'a bad key is not retried as a token');
  });

  test('cors: a preflight is answered without credentials; actual requests carry the headers, the gateway 401 included', async () => {
    const r = await route('/cors');
    await plugin('cors', { route_id: r }, { origins: ['https://app.example'], credentials: true, max_age: 600, exposed_headers: ['x-request-id'] });
    await plugin('key-auth', { route_id: r }, {});
    await until('cors applied', async () => (await call('/cors', { method: 'OPTIONS', headers: { origin: 'https://app.example', 'access-control-request-method': 'PUT' } })).status === 204);
    const pre = await call('/cors', { method: 'OPTIONS', headers: { origin: 'https://app.example', 'access-control-request-method': 'PUT', 'access-control-request-headers': 'apikey' } });
    assert.equal(pre.status, 204);
    assert.equal(pre.headers['access-control-allow-origin'], 'https://app.example');
    assert.equal(pre.headers['access-control-allow-credentials'], 'true');
    assert.equal(pre.headers['access-control-max-age'], '600');
    const refused = await call('/cors', { method: 'OPTIONS', headers: { origin: 'https://evil.example', 'access-control-request-method': 'PUT' } });
    assert.equal(refused.status, 403);
    assert.equal(refused.json?.error?.code, 'TP_ERR_CORS_FORBIDDEN');
    const unauth = await call('/cors', { headers: { origin: 'https://app.example' } });
    assert.equal(unauth.status, 401);
    assert.equal(unauth.headers['access-control-allow-origin'], 'https://app.example', 'a browser can read the 401');
    const ok = await call('/cors', { headers: { origin: 'https://app.example', apikey: KEY } });
    assert.equal(ok.status, 200);
    assert.equal(ok.headers['access-control-allow-origin'], 'https://app.example', "the gateway's answer replaces the upstream's");
    assert.equal(ok.headers['access-control-expose-headers'], 'x-request-id');
  });

  test('ip-restriction reads the client through the trusted proxy (TP_TRUSTED_PROXIES); deny wins', async () => {
    const r = await route('/ip');
    await plugin('ip-restriction', { route_id: r }, { allow: ['203.0.113.0/24', '2001:db8::/32'], deny: ['203.0.113.66'] });
    await until('ip applied', async () => (await call('/ip')).status === 403);
    const res = await call('/ip');
    assert.equal(res.json?.error?.code, 'TP_ERR_IP_FORBIDDEN');
    assert.equal((await call('/ip', { headers: { 'x-forwarded-for': '203.0.113.7' } })).status, 200);
    assert.equal((await call('/ip', { headers: { 'x-forwarded-for': '2001:db8::1' } })).status, 200);
    assert.equal((await call('/ip', { headers: { 'x-forwarded-for': '203.0.113.66' } })).status, 403);
    assert.equal((await call('/ip', { headers: { 'x-forwarded-for': '198.51.100.1' } })).status, 403);
  });

  test('acl by consumer group; a subscription-required service needs an approved subscription', async () => {
    const r = await route('/acl');
    await plugin('jwt-auth', { route_id: r }, {});
    await plugin('hmac-auth', { route_id: r }, {});
    await plugin('acl', { route_id: r }, { allow: [ids.admins] });
    await until('acl applied', async () => (await call('/acl')).status === 401);
    assert.equal((await call('/acl', { headers: { authorization: `Bearer ${await jwt({ sub: 'a' })}` } })).status, 200, 'alice is an admin');
    const date = new Date().toUTCString();
    const sig = createHmac('sha256', HMAC_SECRET).update(`@request-target: get /acl\ndate: ${date}`).digest('base64');
    const carol = await call('/acl', { headers: { date, authorization: `hmac username="carol", algorithm="hmac-sha256", headers="@request-target date", signature="${sig}"` } });
    assert.equal(carol.status, 403);
    assert.equal(carol.json?.error?.code, 'TP_ERR_ACL_FORBIDDEN');
    assert.equal((await callLogged(carol.requestId)).error_code, 'TP_ERR_ACL_FORBIDDEN');

    const s = await route('/subscribed', ids.subSvc);
    await plugin('key-auth', { route_id: s }, {});
    await until('subscribed route', async () => (await call('/subscribed')).status === 401);
    const no = await call('/subscribed', { headers: { apikey: KEY } });
    assert.equal(no.status, 403);
    assert.equal(no.json?.error?.code, 'TP_ERR_SUBSCRIPTION_REQUIRED');
    const subId = id();
    await put('subscriptions', { id: subId, consumer_id: ids.dave, service_id: ids.subSvc, plan_id: null, status: 'pending' });
    await put('subscriptions', { id: subId, consumer_id: ids.dave, service_id: ids.subSvc, plan_id: null, status: 'approved' });
    await until('subscription approved', async () => (await call('/subscribed', { headers: { apikey: KEY } })).status === 200);
    await put('subscriptions', { id: subId, consumer_id: ids.dave, service_id: ids.subSvc, plan_id: null, status: 'revoked' });
    await until('subscription revoked', async () => (await call('/subscribed', { headers: { apikey: KEY } })).status === 403);
  });

  test('request-validation (JSON Schemas): 400 listing every failing field; a valid request passes', async () => {
    const r = await route('/validate');
    await plugin('request-validation', { route_id: r }, {
      source: 'schemas',
      body_schema: { type: 'object', required: ['name', 'qty'], properties: { name: { type: 'string' }, qty: { type: 'integer', minimum: 1 } } },
      body_required: true,
      query_schema: { type: 'object', properties: { limit: { type: 'integer', maximum: 100 } } },
    });
    await until('validation applied', async () => (await call('/validate', { body: '{}', headers: { 'content-type': 'application/json' } })).status === 400);
    const bad = await call('/validate?limit=500', { body: JSON.stringify({ qty: 0 }), headers: { 'content-type': 'application/json' } });
    assert.equal(bad.status, 400);
    assert.equal(bad.json?.error?.code, 'TP_ERR_REQUEST_INVALID');
    const paths = (bad.json?.error?.fields ?? []).map((f) => f.path).sort();
    assert.ok(paths.includes('/query/limit'), JSON.stringify(paths));
    assert.ok(paths.some((p) => p.startsWith('/body')), JSON.stringify(paths));
    seen = [];
    const good = await call('/validate?limit=5', { body: JSON.stringify({ name: 'n', qty: 2 }), headers: { 'content-type': 'application/json' } });
    assert.equal(good.status, 200, good.text);
    assert.equal(seen[0]!.bodyLength, JSON.stringify({ name: 'n', qty: 2 }).length);
    assert.equal((await call('/validate', { body: 'a=b', headers: { 'content-type': 'application/x-www-form-urlencoded' } })).status, 415);
  });

  test("headers the gateway adds (rate limits) replace the upstream's of the same name; other upstream headers pass", async () => {
    const r = await route('/limited');
    await plugin('rate-limiting', { route_id: r }, { limits: [{ key: 'route', algorithm: 'token-bucket', requests: 1000, per: 'second' }] });
    await until('rate limit applied', async () => (await call('/limited')).headers['ratelimit-limit'] === '1000');
    const res = await call('/limited');
    assert.equal(res.status, 200);
    assert.equal(res.headers['ratelimit-limit'], '1000', 'one value: the gateway replaced the upstream RateLimit-Limit');
    assert.equal(res.headers['x-upstream-only'], 'kept');
    await route('/plain');
    await until('plain route', async () => (await call('/plain')).status === 200);
    assert.equal((await call('/plain')).headers['ratelimit-limit'], '999', "a route without the plugin passes the upstream's own header");
  });

  test('waf: block mode refuses an attack signature (403 with the rule); log-only proxies it and logs the rule', async () => {
    const r = await route('/waf');
    await plugin('waf', { route_id: r }, { mode: 'block' });
    await until('waf applied', async () => (await call("/waf?q=1'%20OR%20'1'='1")).status === 403);
    const blocked = await call('/waf?file=../../etc/passwd');
    assert.equal(blocked.json?.error?.code, 'TP_ERR_WAF_BLOCKED');
    assert.equal((await call('/waf?q=hello')).status, 200);
    const r2 = await route('/waf-log');
    await plugin('waf', { route_id: r2 }, { mode: 'log-only' });
    await until('waf log-only applied', async () => (await call('/waf-log?q=x')).status === 200);
    const logged = await call('/waf-log?file=../../etc/passwd');
    assert.equal(logged.status, 200);
    assert.match((await callLogged(logged.requestId)).error_code, /^TP_WAF_LOGGED /);
  });
});
