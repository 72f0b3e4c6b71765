// The access plugins' edge cases through the real proxy port (issue 6): each JWT failure with its code and
// Bearer challenge, alg confusion, JWKS rotation and an IdP down on first use; HMAC replay, skew, unknown key
// and unsigned enforced headers; an HTTP custom authorizer (allow, deny, error, timeout, cache, fail_open);
// CIDR edges through X-Forwarded-For behind a trusted proxy; a CORS preflight matrix; request validation
// against a service's OpenAPI document. Config arrives as the control plane publishes it (in-process bus).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, generateKeyPairSync, randomUUID, type KeyObject } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { SignJWT } from 'jose';
import { InProcessConfigBus, entityKey, generateSecretKey, keyringOf, seal, type EntityKind, type LogSink } from '@turnpike/common';
import { waitFor } from '@turnpike/common/testing';
import { startGateway, type Gateway } from '../src/index.js';

const now = new Date().toISOString();
const ring = keyringOf(generateSecretKey());
const k1 = generateKeyPairSync('rsa', { modulusLength: 2048 });
const k2 = generateKeyPairSync('rsa', { modulusLength: 2048 });
const HMAC_SECRET = 'hmac-secret-for-carol-0123456789';
const JWKS_INTERVAL_MS = 10_000; // DEFAULT_JWKS_OPTIONS.refreshIntervalMs: no per-credential knob exists

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
const jwkOf = (k: KeyObject, kid: string) => ({ ...k.export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' });
const b64 = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');

describe('access matrix through the gateway proxy', { timeout: 60_000 }, () => {
  const bus = new InProcessConfigBus();
  const sink: LogSink = { write: async () => undefined, close: async () => undefined };
  const dataDir = mkdtempSync(join(tmpdir(), 'tp-gw-matrix-'));
  let upstream: Server;
  let idp: Server;
  let authz: Server;
  let gw: Gateway;
  let seen: { method: string; url: string; headers: IncomingHttpHeaders }[] = [];
  let rotKeys = [jwkOf(k1.publicKey, 'k1')];
  const rotFetches: number[] = [];
  const authzCalls = new Map<string, number>();
  const hanging = new Set<ServerResponse>();
  let rev = 0;
  const id = () => randomUUID();
  const ids = { up: id(), svc: id(), oaSvc: id(), alice: id(), carol: id(), dave: id() };
  const put = (kind: EntityKind, data: Record<string, unknown>) =>
    bus.put(entityKey(kind, data.id as string), JSON.stringify({ kind, revision: ++rev, data: { created_at: now, updated_at: now, tags: [], ...data } }));
  const route = async (path: string, service = ids.svc) => {
    const rid = id();
    await put('routes', { id: rid, name: `r${rid.slice(0, 8)}`, service_id: service, paths: [path] });
    return rid;
  };
  const plugin = (type: string, scope: Record<string, string>, config: Record<string, unknown>) => put('plugins', { id: id(), type, enabled: true, scope, config });
  const url = (p: string) => `http://127.0.0.1:${gw.proxyPort}${p}`;
  async function call(path: string, opts: { method?: string; headers?: Record<string, string>; body?: string } = {}) {
    const r = await request(url(path), {
      method: (opts.method ?? (opts.body !== undefined ? 'POST' : 'GET')) as 'GET',
      headers: opts.headers ?? {},
      body: opts.body,
      headersTimeout: 5_000,
      bodyTimeout: 5_000,
    });
    const text = await r.body.text();
    return { status: r.statusCode, headers: r.headers, text, json: parseError(text) };
  }
  type Res = Awaited<ReturnType<typeof call>>;
  const expectError = (r: Res, status: number, code: string, what: string) => {
    assert.equal(r.status, status, `${what}: ${r.text}`);
    assert.equal(r.json?.error?.code, code, what);
  };
  const until = (what: string, check: () => Promise<boolean>) => waitFor(what, async () => ((await check()) ? true : null), 5_000);
  const idpUrl = (p: string) => `http://127.0.0.1:${(idp.address() as AddressInfo).port}${p}`;
  const varyHas = (r: Res, name: string) =>
    ([] as string[])
      .concat((r.headers.vary as string | string[] | undefined) ?? [])
      .join(',')
      .toLowerCase()
      .split(/\s*,\s*/)
      .includes(name);

  before(async () => {
    upstream = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        seen.push({ method: req.method!, url: req.url!, headers: req.headers });
        if (req.method === 'OPTIONS') res.setHeader('x-upstream-preflight', 'yes');
        res.end('ok');
      });
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', () => r()));
    idp = createServer((req, res) => {
      res.setHeader('content-type', 'application/json');
      if (req.url === '/jwks') res.end(JSON.stringify({ keys: [jwkOf(k1.publicKey, 'k1')] }));
      else if (req.url === '/rot-jwks') {
        rotFetches.push(Date.now());
        res.end(JSON.stringify({ keys: rotKeys }));
      } else if (req.url === '/down-jwks') res.writeHead(500).end('{}');
      else res.writeHead(404).end();
    });
    await new Promise<void>((r) => idp.listen(0, '127.0.0.1', () => r()));
    // An HTTP custom authorizer answering API Gateway's shapes; the token picks the answer.
    authz = createServer((req, res) => {
      let raw = '';
      req.on('data', (c: Buffer) => (raw += c.toString()));
      req.on('end', () => {
        const e = JSON.parse(raw) as { authorizationToken: string; methodArn: string };
        authzCalls.set(e.authorizationToken, (authzCalls.get(e.authorizationToken) ?? 0) + 1);
        const policy = (effect: string, principalId: string) => ({
          principalId,
          policyDocument: { Version: '2012-10-17', Statement: [{ Action: 'execute-api:Invoke', Effect: effect, Resource: e.methodArn }] },
          context: { tier: 'gold' },
        });
        res.setHeader('content-type', 'application/json');
        if (e.authorizationToken.startsWith('allow')) res.end(JSON.stringify(policy('Allow', 'dave')));
        else if (e.authorizationToken === 'deny') res.end(JSON.stringify(policy('Deny', 'dave')));
        else if (e.authorizationToken === 'unauth') res.writeHead(401).end('{}');
        else if (e.authorizationToken === 'slow') {
          hanging.add(res);
          setTimeout(() => (hanging.delete(res), res.end(JSON.stringify(policy('Allow', 'dave')))), 1_000).unref();
        } else res.writeHead(500).end('{"message":"boom"}');
      });
    });
    await new Promise<void>((r) => authz.listen(0, '127.0.0.1', () => r()));

    await put('upstreams', { id: ids.up, name: 'up', targets: [{ host: '127.0.0.1', port: (upstream.address() as AddressInfo).port }] });
    await put('services', { id: ids.svc, name: 'svc', upstream_id: ids.up });
    await put('services', { id: ids.oaSvc, name: 'oa', upstream_id: ids.up });
    await put('consumers', { id: ids.alice, username: 'alice' });
    await put('consumers', { id: ids.carol, username: 'carol' });
    await put('consumers', { id: ids.dave, username: 'dave' });
    const jwtCred = (issuer: string, extra: Record<string, unknown>) =>
      put('credentials', { id: id(), type: 'jwt', consumer_id: ids.alice, issuer, algorithms: ['RS256'], audiences: [], clock_skew_s: 30, claims_to_headers: {}, ...extra });
    await jwtCred('https://idp.test', { jwks_uri: idpUrl('/jwks'), audiences: ['api://gw'] });
    await jwtCred('https://pem.test', { public_key: k1.publicKey.export({ format: 'pem', type: 'spki' }) });
    // Published before the node starts: its JWKS is prefetched now, so the rotation test (last) finds the
    // first fetch older than the refresh interval after a short wait.
    await jwtCred('https://rot.test', { jwks_uri: idpUrl('/rot-jwks') });
    await jwtCred('https://down.test', { jwks_uri: idpUrl('/down-jwks') });
    const hmacId = id();
    await put('credentials', { id: hmacId, type: 'hmac', consumer_id: ids.carol, key_id: 'carol', algorithms: ['hmac-sha256'], secret: seal(ring, HMAC_SECRET, hmacId) });
    gw = await startGateway({ nodeId: 'matrix-1', bus, logSink: sink, dataDir, host: '127.0.0.1', proxyPort: 0, statusPort: 0, keyring: ring, trustedProxies: ['127.0.0.1'] });
  });

  after(async () => {
    await gw?.close();
    for (const res of hanging) res.destroy();
    await new Promise((r) => upstream.close(r));
    await new Promise((r) => idp.close(r));
    await new Promise((r) => authz.close(r));
    rmSync(dataDir, { recursive: true, force: true });
  });

  const sign = (claims: Record<string, unknown>, iss = 'https://idp.test', key: KeyObject = k1.privateKey, kid = 'k1') =>
    new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid }).setIssuer(iss).setIssuedAt().sign(key);
  const nowS = () => Math.floor(Date.now() / 1000);

  test('jwt-auth: valid passes; each bad token gets 401 with its code and a Bearer challenge; alg confusion and alg none refused; IdP down is 503', async () => {
    const r = await route('/jwt');
    await plugin('jwt-auth', { route_id: r }, {});
    await until('jwt-auth applied', async () => (await call('/jwt')).status === 401);

    const valid = await sign({ sub: 'a', aud: 'api://gw', exp: nowS() + 300 });
    seen = [];
    const ok = await call('/jwt', { headers: { authorization: `Bearer ${valid}` } });
    assert.equal(ok.status, 200, ok.text);
    assert.equal(seen[0]!.headers['x-consumer-username'], 'alice');
    const withinSkew = await call('/jwt', { headers: { authorization: `Bearer ${await sign({ aud: 'api://gw', exp: nowS() - 5 })}` } });
    assert.equal(withinSkew.status, 200, `expired 5 s ago, inside clock_skew_s 30: ${withinSkew.text}`);

    const [h, p, s] = valid.split('.') as [string, string, string];
    const tampered = `${h}.${b64({ ...JSON.parse(Buffer.from(p, 'base64url').toString()), sub: 'admin' })}.${s}`;
    // HS256 keyed with the issuer's own RSA public key PEM (the classic confusion): must never verify.
    const pem = k1.publicKey.export({ format: 'pem', type: 'spki' }) as string;
    const confused = await new SignJWT({ exp: nowS() + 300 }).setProtectedHeader({ alg: 'HS256' }).setIssuer('https://pem.test').sign(new TextEncoder().encode(pem));
    const none = `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ iss: 'https://idp.test', aud: 'api://gw', exp: nowS() + 300 })}.`;
    const cases: [string, string | null, string][] = [
      ['missing', null, 'TP_ERR_AUTH_TOKEN_MISSING'],
      ['two segments', `${h}.${p}`, 'TP_ERR_AUTH_TOKEN_MALFORMED'],
      ['four segments', `${valid}.x`, 'TP_ERR_AUTH_TOKEN_MALFORMED'],
      ['bad base64 header', `!!!.${p}.${s}`, 'TP_ERR_AUTH_TOKEN_MALFORMED'],
      ['header not JSON', `${b64('not json')}.${p}.${s}`, 'TP_ERR_AUTH_TOKEN_MALFORMED'],
      ['expired beyond skew', await sign({ aud: 'api://gw', exp: nowS() - 120 }), 'TP_ERR_AUTH_TOKEN_EXPIRED'],
      ['not yet valid', await sign({ aud: 'api://gw', nbf: nowS() + 120, exp: nowS() + 600 }), 'TP_ERR_AUTH_TOKEN_NOT_YET_VALID'],
      ['wrong audience', await sign({ aud: 'api://other', exp: nowS() + 300 }), 'TP_ERR_AUTH_TOKEN_AUDIENCE'],
      ['no audience', await sign({ exp: nowS() + 300 }), 'TP_ERR_AUTH_TOKEN_AUDIENCE'],
      ['unknown issuer', await sign({ aud: 'api://gw', exp: nowS() + 300 }, 'https://nobody.test'), 'TP_ERR_AUTH_ISSUER_UNKNOWN'],
      ['tampered payload', tampered, 'TP_ERR_AUTH_TOKEN_INVALID'],
      ['signed by another key, same kid', await sign({ aud: 'api://gw', exp: nowS() + 300 }, 'https://idp.test', k2.privateKey), 'TP_ERR_AUTH_TOKEN_INVALID'],
      ['HS256 with the RSA public key as secret', confused, 'TP_ERR_AUTH_ALG_NOT_ALLOWED'],
      ['alg none', none, 'TP_ERR_AUTH_ALG_NOT_ALLOWED'],
    ];
    for (const [what, token, code] of cases) {
      const res = await call('/jwt', { headers: token === null ? {} : { authorization: `Bearer ${token}` } });
      expectError(res, 401, code, what);
      const www = String(res.headers['www-authenticate']);
      assert.match(www, /^Bearer\b/, what);
      if (token !== null) assert.match(www, /error="invalid_token"/, what);
      else assert.doesNotMatch(www, /error=/, `${what}: no error code without a token (RFC 6750 §3.1)`);
    }

    // The issuer's JWKS answered 500 to the node's prefetch: an outage, never a bad credential.
    const down = await call('/jwt', { headers: { authorization: `Bearer ${await sign({ exp: nowS() + 300 }, 'https://down.test')}` } });
    expectError(down, 503, 'TP_ERR_AUTH_UNAVAILABLE', 'JWKS endpoint down');
    assert.equal(down.headers['www-authenticate'], undefined, 'a 503 carries no challenge');
  });

  test('hmac-auth: replay, date outside the skew, unknown key id, an enforced header left unsigned', async () => {
    const r = await route('/hmac');
    await plugin('hmac-auth', { route_id: r }, { enforce_headers: ['@request-target', 'date', 'x-tenant'], clock_skew_s: 60 });
    await until('hmac-auth applied', async () => (await call('/hmac')).status === 401);
    const signed = (o: { keyId?: string; date?: Date; names?: string[]; tenant?: string } = {}) => {
      const date = (o.date ?? new Date()).toUTCString();
      const names = o.names ?? ['@request-target', 'date', 'x-tenant'];
      const values: Record<string, string> = { '@request-target': 'get /hmac', date, 'x-tenant': o.tenant ?? 't1' };
      const sig = createHmac('sha256', HMAC_SECRET)
        .update(names.map((n) => `${n}: ${values[n]}`).join('\n'))
        .digest('base64');
      return { date, 'x-tenant': o.tenant ?? 't1', authorization: `hmac username="${o.keyId ?? 'carol'}", algorithm="hmac-sha256", headers="${names.join(' ')}", signature="${sig}"` };
    };
    const first = signed();
    assert.equal((await call('/hmac', { headers: first })).status, 200);
    const cases: [string, Record<string, string>, string][] = [
      ['replay', first, 'TP_ERR_AUTH_SIGNATURE_REPLAYED'],
      ['date 10 minutes old', signed({ date: new Date(Date.now() - 600_000) }), 'TP_ERR_AUTH_SIGNATURE_EXPIRED'],
      ['date 10 minutes ahead', signed({ date: new Date(Date.now() + 600_000) }), 'TP_ERR_AUTH_SIGNATURE_EXPIRED'],
      ['unknown key id', signed({ keyId: 'mallory' }), 'TP_ERR_AUTH_SIGNATURE_INVALID'],
      ['x-tenant enforced but not signed', signed({ names: ['@request-target', 'date'] }), 'TP_ERR_AUTH_SIGNATURE_INVALID'],
      ['signed x-tenant altered in transit', { ...signed(), 'x-tenant': 't2' }, 'TP_ERR_AUTH_SIGNATURE_INVALID'],
    ];
    for (const [what, headers, code] of cases) {
      const res = await call('/hmac', { headers });
      expectError(res, 401, code, what);
      assert.match(String(res.headers['www-authenticate']), /^hmac realm="turnpike"/, what);
    }
  });

  test('custom-authorizer (http): allow, deny 403, unauthorized 401, error 503, timeout 503, cached answers, fail_open', async () => {
    const authzUrl = `http://127.0.0.1:${(authz.address() as AddressInfo).port}/authorize`;
    const r = await route('/authz');
    await plugin('custom-authorizer', { route_id: r }, { kind: 'http', type: 'token', http: { url: authzUrl, timeout_ms: 200 }, result_ttl_ms: 60_000 });
    const open = await route('/authz-open');
    await plugin('custom-authorizer', { route_id: open }, { kind: 'http', type: 'token', http: { url: authzUrl, timeout_ms: 200 }, result_ttl_ms: 0, fail_open: true });
    await until('authorizers applied', async () => (await call('/authz')).status === 401 && (await call('/authz-open')).status === 401);
    expectError(await call('/authz'), 401, 'TP_ERR_AUTHORIZER_IDENTITY_MISSING', 'no Authorization header');

    seen = [];
    const ok = await call('/authz', { headers: { authorization: 'allow-1' } });
    assert.equal(ok.status, 200, ok.text);
    assert.equal(seen[0]!.headers['x-authorizer-tier'], 'gold');
    assert.equal(seen[0]!.headers['x-consumer-username'], 'dave');
    for (let i = 0; i < 3; i++) assert.equal((await call('/authz', { headers: { authorization: 'allow-1' } })).status, 200);
    assert.equal(authzCalls.get('allow-1'), 1, 'answered from the cache after the first call');
    expectError(await call('/authz', { headers: { authorization: 'deny' } }), 403, 'TP_ERR_AUTHORIZER_DENIED', 'deny');
    expectError(await call('/authz', { headers: { authorization: 'deny' } }), 403, 'TP_ERR_AUTHORIZER_DENIED', 'deny, cached');
    assert.equal(authzCalls.get('deny'), 1, 'a deny is cached too');
    expectError(await call('/authz', { headers: { authorization: 'unauth' } }), 401, 'TP_ERR_AUTHORIZER_UNAUTHORIZED', 'authorizer 401');
    expectError(await call('/authz', { headers: { authorization: 'boom' } }), 503, 'TP_ERR_AUTH_UNAVAILABLE', 'authorizer 500');
    expectError(await call('/authz', { headers: { authorization: 'boom' } }), 503, 'TP_ERR_AUTH_UNAVAILABLE', 'authorizer 500 again');
    assert.equal(authzCalls.get('boom'), 2, 'failures are not cached');
    const t0 = Date.now();
    expectError(await call('/authz', { headers: { authorization: 'slow' } }), 503, 'TP_ERR_AUTH_UNAVAILABLE', 'authorizer timeout');
    assert.ok(Date.now() - t0 < 900, `answered at the 200 ms timeout, not when the authorizer did (${Date.now() - t0} ms)`);

    seen = [];
    const failOpen = await call('/authz-open', { headers: { authorization: 'boom' } });
    assert.equal(failOpen.status, 200, `fail_open: ${failOpen.text}`);
    assert.equal(seen[0]!.headers['x-consumer-id'], undefined, 'passes anonymously');
    expectError(await call('/authz-open', { headers: { authorization: 'deny' } }), 403, 'TP_ERR_AUTHORIZER_DENIED', 'fail_open does not open a deny');
    await call('/authz-open', { headers: { authorization: 'allow-2' } });
    await call('/authz-open', { headers: { authorization: 'allow-2' } });
    assert.equal(authzCalls.get('allow-2'), 2, 'result_ttl_ms 0: a call per request');
  });

  test('ip-restriction: /32 and /128 exact, /0 with a deny inside, IPv4-mapped IPv6, untrusted hops, garbage X-Forwarded-For', async () => {
    const exact = await route('/ip-exact');
    await plugin('ip-restriction', { route_id: exact }, { allow: ['203.0.113.5/32', '2001:db8::5/128'] });
    const all = await route('/ip-all');
    await plugin('ip-restriction', { route_id: all }, { allow: ['0.0.0.0/0', '::/0'], deny: ['198.51.100.0/24'] });
    await until('ip applied', async () => (await call('/ip-exact')).status === 403 && (await call('/ip-all', { headers: { 'x-forwarded-for': '198.51.100.1' } })).status === 403);
    const cases: [string, string, string | null, number][] = [
      ['/32 exact', '/ip-exact', '203.0.113.5', 200],
      ['/32 neighbour', '/ip-exact', '203.0.113.6', 403],
      ['/32 with a port', '/ip-exact', '203.0.113.5:4711', 200],
      ['/128 exact', '/ip-exact', '2001:db8::5', 200],
      ['/128 bracketed with a port', '/ip-exact', '[2001:db8::5]:443', 200],
      ['/128 neighbour', '/ip-exact', '2001:db8::6', 403],
      ['IPv4-mapped IPv6 matches the IPv4 /32', '/ip-exact', '::ffff:203.0.113.5', 200],
      ['the trusted peer itself (no header)', '/ip-exact', null, 403],
      // Walked from the right: the first untrusted hop is the client; what the client wrote left of it is not believed.
      ['spoofed leftmost entry before an untrusted proxy', '/ip-exact', '203.0.113.5, 198.51.100.9', 403],
      ['client behind the trusted proxy, spoofed left entry ignored', '/ip-exact', '198.51.100.9, 203.0.113.5', 200],
      ['trusted hops skipped', '/ip-exact', '203.0.113.5, 127.0.0.1', 200],
      ['garbage', '/ip-exact', 'not-an-ip', 403],
      ['unknown', '/ip-exact', 'unknown', 403],
      ['garbage hop after a good one', '/ip-exact', '203.0.113.5, ???', 403],
      ['a zone is no address', '/ip-exact', 'fe80::1%eth0', 403],
      ['/0 allows any IPv4', '/ip-all', '8.8.8.8', 200],
      ['/0 allows any IPv6', '/ip-all', '2001:db8::1', 200],
      ['deny inside /0', '/ip-all', '198.51.100.77', 403],
      ['deny inside /0, IPv4-mapped', '/ip-all', '::ffff:198.51.100.77', 403],
      ['garbage under allow-all fails closed', '/ip-all', 'garbage', 403],
    ];
    for (const [what, path, xff, status] of cases) {
      const res = await call(path, { headers: xff === null ? {} : { 'x-forwarded-for': xff } });
      assert.equal(res.status, status, `${what}: ${res.text}`);
      if (status === 403) assert.equal(res.json?.error?.code, 'TP_ERR_IP_FORBIDDEN', what);
    }
  });

  test('cors preflight matrix: exact and pattern origins, * with and without credentials, methods, headers, max_age, preflight_continue, Vary', async () => {
    const mk = async (path: string, config: Record<string, unknown>) => plugin('cors', { route_id: await route(path) }, config);
    await mk('/c-exact', { origins: ['https://app.example'], methods: ['GET', 'PUT'], headers: ['x-a'], exposed_headers: ['x-request-id'] });
    await mk('/c-pattern', { origins: ['https://*.example.com'], max_age: 120 });
    await mk('/c-star', { origins: ['*'] });
    await mk('/c-cred', { origins: ['*'], credentials: true });
    await mk('/c-continue', { origins: ['https://app.example'], preflight_continue: true });
    const pre = (path: string, origin: string, method: string, headers?: string) =>
      call(path, { method: 'OPTIONS', headers: { origin, 'access-control-request-method': method, ...(headers ? { 'access-control-request-headers': headers } : {}) } });
    await until('cors applied', async () => (await pre('/c-cred', 'https://x.test', 'GET')).status === 204);

    const exact = await pre('/c-exact', 'https://app.example', 'PUT', 'x-a');
    assert.equal(exact.status, 204);
    assert.equal(exact.headers['access-control-allow-origin'], 'https://app.example');
    assert.match(String(exact.headers['access-control-allow-methods']), /PUT/);
    assert.match(String(exact.headers['access-control-allow-headers']).toLowerCase(), /x-a/);
    assert.equal(exact.headers['access-control-max-age'], undefined, 'max_age null: no Access-Control-Max-Age');
    assert.equal(exact.headers['access-control-allow-credentials'], undefined);
    assert.ok(varyHas(exact, 'origin'), 'the answer depends on the origin');
    const refusals: [string, Promise<Res>][] = [
      ['other origin', pre('/c-exact', 'https://evil.example', 'PUT')],
      ['origin differing in scheme', pre('/c-exact', 'http://app.example', 'PUT')],
      ['method not listed', pre('/c-exact', 'https://app.example', 'DELETE')],
      ['method compared case-sensitively', pre('/c-exact', 'https://app.example', 'put')],
      ['header not listed', pre('/c-exact', 'https://app.example', 'GET', 'x-a, x-b')],
      ['pattern does not match the bare domain', pre('/c-pattern', 'https://example.com', 'GET')],
      ['pattern does not match another scheme', pre('/c-pattern', 'http://a.example.com', 'GET')],
      ['pattern does not match a suffix trick', pre('/c-pattern', 'https://a.example.com.evil.test', 'GET')],
    ];
    for (const [what, p] of refusals) {
      const res = await p;
      expectError(res, 403, 'TP_ERR_CORS_FORBIDDEN', what);
      assert.equal(res.headers['access-control-allow-origin'], undefined, what);
    }
    for (const origin of ['https://a.example.com', 'https://a.b.example.com']) {
      const res = await pre('/c-pattern', origin, 'GET', 'x-anything');
      assert.equal(res.status, 204, origin);
      assert.equal(res.headers['access-control-allow-origin'], origin);
      assert.equal(res.headers['access-control-max-age'], '120');
      assert.match(String(res.headers['access-control-allow-headers']).toLowerCase(), /x-anything/, 'headers null: the asked headers are reflected');
    }

    const star = await pre('/c-star', 'https://any.test', 'PATCH', 'x-foo, x-bar');
    assert.equal(star.status, 204);
    assert.equal(star.headers['access-control-allow-origin'], '*');
    assert.equal(star.headers['access-control-allow-credentials'], undefined);
    const reflected = String(star.headers['access-control-allow-headers']).toLowerCase();
    assert.ok(reflected.includes('x-foo') && reflected.includes('x-bar'), reflected);
    const cred = await pre('/c-cred', 'https://any.test', 'GET');
    assert.equal(cred.headers['access-control-allow-origin'], 'https://any.test', 'credentials: the origin is echoed, never *');
    assert.equal(cred.headers['access-control-allow-credentials'], 'true');
    assert.ok(varyHas(cred, 'origin'));

    seen = [];
    const cont = await pre('/c-continue', 'https://app.example', 'GET');
    assert.equal(cont.status, 200, cont.text);
    assert.equal(cont.headers['x-upstream-preflight'], 'yes', 'preflight_continue: the upstream answers');
    assert.equal(seen[0]?.method, 'OPTIONS');

    const actual = await call('/c-exact', { headers: { origin: 'https://app.example' } });
    assert.equal(actual.status, 200);
    assert.equal(actual.headers['access-control-allow-origin'], 'https://app.example');
    assert.equal(actual.headers['access-control-expose-headers'], 'x-request-id');
    assert.ok(varyHas(actual, 'origin'), 'Vary: Origin on an actual response');
    const other = await call('/c-exact', { headers: { origin: 'https://evil.example' } });
    assert.equal(other.status, 200, 'an actual request from another origin is still proxied');
    assert.equal(other.headers['access-control-allow-origin'], undefined);
    assert.ok(varyHas(other, 'origin'), 'Vary: Origin also when the origin is refused');
    const starActual = await call('/c-star', { headers: { origin: 'https://any.test' } });
    assert.equal(starActual.headers['access-control-allow-origin'], '*');
  });

  test("request-validation (openapi): the service's document checks path, query and body; unmatched reject/allow; 415", async () => {
    const item = { type: 'object', required: ['name'], properties: { name: { type: 'string' }, qty: { type: 'integer', minimum: 1 } } };
    const document = {
      openapi: '3.1.0',
      info: { title: 'items', version: '1' },
      paths: {
        '/items/{id}': {
          parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'integer' } }],
          get: { responses: { '200': { description: 'ok' } } },
          post: {
            parameters: [{ name: 'limit', in: 'query', schema: { type: 'integer', maximum: 10 } }],
            requestBody: { required: true, content: { 'application/json': { schema: item } } },
            responses: { '200': { description: 'ok' } },
          },
        },
      },
    };
    await put('openapi_docs', { id: ids.oaSvc, service_id: ids.oaSvc, document });
    await plugin('request-validation', { route_id: await route('/rv1', ids.oaSvc) }, { source: 'openapi', base_path: '/rv1' });
    await plugin('request-validation', { route_id: await route('/rv2', ids.oaSvc) }, { source: 'openapi', base_path: '/rv2', unmatched: 'allow' });
    const json = { 'content-type': 'application/json' };
    await until('validation applied', async () => (await call('/rv1/nowhere')).status === 400 && (await call('/rv2/nowhere')).status === 200);

    seen = [];
    const good = await call('/rv1/items/5?limit=3', { headers: json, body: JSON.stringify({ name: 'n', qty: 2 }) });
    assert.equal(good.status, 200, good.text);
    assert.equal(seen[0]!.url, '/rv1/items/5?limit=3');
    assert.equal((await call('/rv1/items/5')).status, 200, 'GET with the path parameter only');
    const paths = (r: Res) => (r.json?.error?.fields ?? []).map((f) => f.path);
    const invalid: [string, Promise<Res>, (p: string[]) => boolean][] = [
      ['path parameter not an integer', call('/rv1/items/abc?limit=3', { headers: json, body: '{"name":"n"}' }), (p) => p.includes('/path/id')],
      ['query over maximum', call('/rv1/items/5?limit=50', { headers: json, body: '{"name":"n"}' }), (p) => p.includes('/query/limit')],
      ['query not coercible', call('/rv1/items/5?limit=x', { headers: json, body: '{"name":"n"}' }), (p) => p.includes('/query/limit')],
      ['body field wrong', call('/rv1/items/5', { headers: json, body: '{"name":"n","qty":0}' }), (p) => p.includes('/body/qty')],
      ['body missing a required field', call('/rv1/items/5', { headers: json, body: '{"qty":2}' }), (p) => p.some((x) => x.startsWith('/body'))],
      ['body required', call('/rv1/items/5', { method: 'POST', headers: json }), (p) => p.some((x) => x.startsWith('/body'))],
      ['body not JSON', call('/rv1/items/5', { headers: json, body: '{nope' }), (p) => p.some((x) => x.startsWith('/body'))],
      ['every failure listed', call('/rv1/items/abc?limit=50', { headers: json, body: '{"qty":0}' }), (p) => p.includes('/path/id') && p.includes('/query/limit') && p.includes('/body/qty')],
      ['unknown path (reject)', call('/rv1/nowhere'), () => true],
      ['method the document lacks (reject)', call('/rv1/items/5', { method: 'DELETE' }), () => true],
    ];
    for (const [what, p, check] of invalid) {
      const res = await p;
      expectError(res, 400, 'TP_ERR_REQUEST_INVALID', what);
      assert.ok(check(paths(res)), `${what}: ${JSON.stringify(res.json?.error)}`);
    }
    const wrongType = await call('/rv1/items/5', { headers: { 'content-type': 'text/plain' }, body: 'name=n' });
    expectError(wrongType, 415, 'TP_ERR_UNSUPPORTED_MEDIA_TYPE', 'content type not listed');

    assert.equal((await call('/rv2/nowhere')).status, 200, 'unmatched: allow proxies it unchecked');
    expectError(await call('/rv2/items/abc'), 400, 'TP_ERR_REQUEST_INVALID', 'matched operations are still checked with unmatched: allow');
  });

  // Last, so the node's prefetch of this issuer's JWKS (at start) is soon older than the refresh interval.
  test('jwt-auth JWKS rotation: a new kid is refetched once the refresh interval allows it; the old key is then gone', async () => {
    const r = await route('/rot');
    await plugin('jwt-auth', { route_id: r }, {});
    await until('rotation route applied', async () => (await call('/rot')).status === 401);
    const tok = (key: KeyObject, kid: string) => sign({ exp: nowS() + 300 }, 'https://rot.test', key, kid);
    assert.equal((await call('/rot', { headers: { authorization: `Bearer ${await tok(k1.privateKey, 'k1')}` } })).status, 200);
    assert.equal(rotFetches.length, 1, 'the prefetch only');

    rotKeys = [jwkOf(k2.publicKey, 'k2')]; // the IdP rotates: new key, new kid, old key withdrawn
    const newToken = await tok(k2.privateKey, 'k2');
    if (Date.now() - rotFetches[0]! < JWKS_INTERVAL_MS - 500) {
      // Inside the interval an unknown kid is not fetched (a flood of made-up kids cannot hammer the IdP).
      expectError(await call('/rot', { headers: { authorization: `Bearer ${newToken}` } }), 401, 'TP_ERR_AUTH_TOKEN_INVALID', 'unknown kid, rate-limited');
      assert.equal(rotFetches.length, 1);
    }
    const wait = rotFetches[0]! + JWKS_INTERVAL_MS + 100 - Date.now();
    assert.ok(wait < 12_000, `the wait stays bounded (${wait} ms)`);
    if (wait > 0) await new Promise((res) => setTimeout(res, wait));
    const rotated = await call('/rot', { headers: { authorization: `Bearer ${newToken}` } });
    assert.equal(rotated.status, 200, `the new kid after the refetch: ${rotated.text}`);
    assert.equal(rotFetches.length, 2, 'one refetch');
    const old = await call('/rot', { headers: { authorization: `Bearer ${await tok(k1.privateKey, 'k1')}` } });
    expectError(old, 401, 'TP_ERR_AUTH_TOKEN_INVALID', 'a fresh token under the withdrawn key');
    assert.equal(rotFetches.length, 2, 'the withdrawn kid does not trigger another fetch inside the interval');
  });
});
