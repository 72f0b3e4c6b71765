// The `lambda` function integration through the real proxy port: a gateway started as a library on an
// in-process config bus, services with lambda integrations pointing at the Invoke API stand-in
// (fixtures/fake-lambda.ts), which runs real handler code and verifies every request's SigV4 signature with
// AWS's own signer (@smithy/signature-v4). Both payload formats round-trip every field (the handlers echo
// their event), binary bodies go both ways, and each failure has its status and code.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, randomUUID } from 'node:crypto';
import { createServer, type AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { SignJWT } from 'jose';
import { InProcessConfigBus, entityKey, generateSecretKey, keyringOf, seal, type CallRecord, type EntityKind, type LogSink } from '@turnpike/common';
import { waitFor } from '@turnpike/common/testing';
import { startGateway, type Gateway } from '../src/index.js';
import { startFakeLambda, type FakeLambda } from './fixtures/fake-lambda.js';

const now = new Date().toISOString();
const REGION = 'eu-west-1';
const ACCESS_KEY = 'AKIALAMBDAINTEGRATION';
const SECRET = 'lambda-integration-secret';
const API_KEY = 'lambda-alice-key-0123456789';
/** A service's stored (sealed) credentials: temporary ones, with a session token. */
const STORED_KEY = 'ASIASTOREDLAMBDAKEY1';
const STORED_SECRET = 'stored-lambda-secret';
const STORED_TOKEN = 'stored-lambda-session-token';

type Json = Record<string, any>;

/** Reverses the bytes the function got (base64 when the event says so) and answers them base64-encoded. */
function binaryHandler(event: unknown): unknown {
  const e = event as { body?: string | null; isBase64Encoded: boolean };
  const got = e.body == null ? Buffer.alloc(0) : Buffer.from(e.body, e.isBase64Encoded ? 'base64' : 'utf8');
  return { statusCode: 200, headers: { 'content-type': 'application/octet-stream' }, isBase64Encoded: true, body: Buffer.from(got).reverse().toString('base64') };
}

describe('lambda integration through the gateway proxy', { timeout: 60_000 }, () => {
  const bus = new InProcessConfigBus();
  const records: CallRecord[] = [];
  const sink: LogSink = { write: async (batch) => void records.push(...batch), close: async () => undefined };
  const dataDir = mkdtempSync(join(tmpdir(), 'tp-gw-lambda-'));
  let fake: FakeLambda;
  let gw: Gateway;
  let deadPort = 0;
  let rev = 0;
  const ids = { alice: randomUUID(), key: randomUUID(), keyAuth: randomUUID(), jwtCred: randomUUID(), jwtAuth: randomUUID() };
  const jwtKey = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const keyring = keyringOf(generateSecretKey());
  const services = new Map<string, { service: string; route: string }>();
  const saved = { id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY, token: process.env.AWS_SESSION_TOKEN };

  const put = (kind: EntityKind, data: Record<string, unknown>) =>
    bus.put(entityKey(kind, data.id as string), JSON.stringify({ kind, revision: ++rev, data: { created_at: now, updated_at: now, tags: [], ...data } }));
  /** A service whose integration invokes `fn`, routed at `path`. */
  const lambdaService = async (name: string, path: string, integration: Record<string, unknown>) => {
    const service = randomUUID();
    const route = randomUUID();
    services.set(name, { service, route });
    await put('services', { id: service, name, integration: { type: 'lambda', region: REGION, endpoint_url: fake.url, timeout_ms: 5_000, ...integration } });
    await put('routes', { id: route, name, service_id: service, paths: [path] });
  };
  const url = (p: string) => `http://127.0.0.1:${gw.proxyPort}${p}`;
  const call = async (path: string, opts: { method?: string; headers?: Record<string, string | string[]>; body?: Buffer | string } = {}) => {
    const r = await request(url(path), { method: (opts.method ?? 'GET') as 'GET', headers: opts.headers ?? {}, ...(opts.body !== undefined ? { body: opts.body } : {}) });
    const body = Buffer.from(await r.body.arrayBuffer());
    return { status: r.statusCode, headers: r.headers, body, text: body.toString('utf8'), requestId: String(r.headers['x-request-id']) };
  };
  const errorOf = (r: { text: string }) => (JSON.parse(r.text) as { error: { code: string; message: string; request_id: string } }).error;
  const lastCall = (name: string) => [...fake.calls].reverse().find((c) => c.functionName === name)!;

  before(async () => {
    process.env.AWS_ACCESS_KEY_ID = ACCESS_KEY;
    process.env.AWS_SECRET_ACCESS_KEY = SECRET;
    delete process.env.AWS_SESSION_TOKEN;
    fake = await startFakeLambda({ region: REGION, keys: { [ACCESS_KEY]: SECRET, [STORED_KEY]: STORED_SECRET }, tokens: { [STORED_KEY]: STORED_TOKEN } });
    // Echo: the event back as the body, with headers in the format's own shapes.
    fake.functions.set('echo-v1', {
      handler: (event) => ({ statusCode: 201, headers: { 'content-type': 'application/json', 'x-single': 's', 'x-both': 'single' }, multiValueHeaders: { 'x-multi-out': ['a', 'b'], 'x-both': ['m1', 'm2'] }, body: JSON.stringify(event) }),
    });
    fake.functions.set('echo-v2', {
      handler: (event) => ({ statusCode: 200, headers: { 'content-type': 'application/json', 'x-two': 't' }, cookies: ['s1=a; Path=/; HttpOnly', 's2=b'], body: JSON.stringify(event) }),
    });
    fake.functions.set('binary', { handler: binaryHandler });
    fake.functions.set('plain-object', { handler: () => ({ hello: 'world', n: [1, 2] }) });
    fake.functions.set('plain-string', { handler: () => 'just text' });
    fake.functions.set('malformed', { handler: () => ({ body: 'no status' }) });
    fake.functions.set('bad-header', { handler: () => ({ statusCode: 200, headers: { 'x-evil': 'a\r\nset-cookie: pwned=1' }, body: '' }) });
    fake.functions.set('boom', {
      handler: () => {
        throw new TypeError('cannot read properties of undefined');
      },
    });
    fake.functions.set('busy', { handler: () => 'never', throttle: true });
    fake.functions.set('slow', { handler: () => ({ statusCode: 200, body: 'late' }), delayMs: 1_500 });
    fake.functions.set('queued', { handler: () => ({ statusCode: 200, body: 'ignored' }) });
    // A port nothing listens on: an unreachable Invoke API.
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', () => r()));
    deadPort = (probe.address() as AddressInfo).port;
    await new Promise((r) => probe.close(r));

    await lambdaService('v1', '/v1/items/{id}', { function_name: 'echo-v1', qualifier: 'live', payload_format: '1.0', binary_media_types: ['image/*', 'application/octet-stream'] });
    await lambdaService('v2', '/v2/items/{id}', { function_name: 'echo-v2', payload_format: '2.0' });
    await lambdaService('auth2', '/auth2', { function_name: 'echo-v2', payload_format: '2.0' });
    await lambdaService('jwt2', '/jwt2', { function_name: 'echo-v2', payload_format: '2.0' });
    await lambdaService('jwt1', '/jwt1', { function_name: 'echo-v1', payload_format: '1.0' });
    await lambdaService('bin1', '/bin1', { function_name: 'binary', payload_format: '1.0', binary_media_types: ['application/octet-stream'] });
    await lambdaService('bin2', '/bin2', { function_name: 'binary', payload_format: '2.0' });
    await lambdaService('object', '/object', { function_name: 'plain-object' });
    await lambdaService('string', '/string', { function_name: 'plain-string' });
    await lambdaService('malformed', '/malformed', { function_name: 'malformed', payload_format: '1.0' });
    await lambdaService('bad-header', '/bad-header', { function_name: 'bad-header' });
    await lambdaService('boom', '/boom', { function_name: 'boom' });
    await lambdaService('busy', '/busy', { function_name: 'busy' });
    await lambdaService('slow', '/slow', { function_name: 'slow', timeout_ms: 300 });
    await lambdaService('slow-long', '/slow-long', { function_name: 'slow', timeout_ms: 10_000 });
    await lambdaService('queued', '/queued', { function_name: 'queued', invocation_type: 'Event' });
    await lambdaService('down', '/down', { function_name: 'echo-v2', endpoint_url: `http://127.0.0.1:${deadPort}` });
    await put('consumers', { id: ids.alice, username: 'alice' });
    await put('keys', { id: ids.key, consumer_id: ids.alice, key_sha256: createHash('sha256').update(API_KEY).digest('hex') });
    await put('plugins', { id: ids.keyAuth, type: 'key-auth', enabled: true, scope: { service_id: services.get('auth2')!.service }, config: { header_names: ['apikey'], hide_credentials: true } });
    await put('credentials', {
      id: ids.jwtCred,
      type: 'jwt',
      consumer_id: ids.alice,
      issuer: 'https://idp.lambda.test',
      algorithms: ['RS256'],
      audiences: [],
      clock_skew_s: 30,
      claims_to_headers: {},
      public_key: jwtKey.publicKey.export({ format: 'pem', type: 'spki' }),
    });
    for (const name of ['jwt1', 'jwt2']) {
      await put('plugins', { id: randomUUID(), type: 'jwt-auth', enabled: true, scope: { service_id: services.get(name)!.service }, config: {} });
    }
    gw = await startGateway({ nodeId: 'lambda-1', bus, logSink: sink, dataDir, host: '127.0.0.1', proxyPort: 0, statusPort: 0, maxBodyBytes: 1024 * 1024, keyring });
    await waitFor('lambda routes served', async () => ((await call('/object')).status === 200) || null, 5_000);
  });

  after(async () => {
    await gw?.close();
    await fake?.close();
    rmSync(dataDir, { recursive: true, force: true });
    for (const [k, v] of [['AWS_ACCESS_KEY_ID', saved.id], ['AWS_SECRET_ACCESS_KEY', saved.secret], ['AWS_SESSION_TOKEN', saved.token]] as const) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  });

  test('payload format 1.0 round-trips every field; the qualifier is in the invoke URL; multi-value headers both ways', async () => {
    const before = Date.now();
    const r = await call('/v1/items/42?a=1&a=2&b=x%20y', {
      method: 'POST',
      headers: { 'content-type': 'text/plain', 'x-multi': ['m1', 'm2'], 'user-agent': 'lambda-test/1', host: 'fn.example.test' },
      body: 'hello λ',
    });
    assert.equal(r.status, 201, r.text);
    assert.equal(r.headers['x-single'], 's');
    assert.deepEqual(r.headers['x-multi-out'], ['a', 'b']);
    assert.deepEqual(r.headers['x-both'], ['m1', 'm2'], 'a name in both maps takes the multi values');
    const e = JSON.parse(r.text) as Json;
    const svc = services.get('v1')!;
    assert.equal(e.version, '1.0');
    assert.equal(e.resource, '/v1/items/{id}', 'the resource is the route template');
    assert.equal(e.path, '/v1/items/42');
    assert.equal(e.httpMethod, 'POST');
    assert.equal(e.headers['x-multi'], 'm2', 'single-value headers hold the last value');
    assert.deepEqual(e.multiValueHeaders['x-multi'], ['m1', 'm2']);
    assert.equal(e.headers['user-agent'], 'lambda-test/1');
    assert.equal(e.headers['content-type'], 'text/plain');
    assert.equal(e.headers.host, 'fn.example.test');
    assert.equal(e.headers['x-forwarded-for'], '127.0.0.1');
    assert.equal(e.headers['x-forwarded-proto'], 'http');
    assert.equal(e.headers['x-forwarded-port'], String(gw.proxyPort));
    assert.deepEqual(e.multiValueHeaders.host, ['fn.example.test']);
    assert.deepEqual(e.queryStringParameters, { a: '2', b: 'x y' });
    assert.deepEqual(e.multiValueQueryStringParameters, { a: ['1', '2'], b: ['x y'] });
    assert.deepEqual(e.pathParameters, { id: '42' });
    assert.equal(e.stageVariables, null);
    assert.equal(e.body, 'hello λ');
    assert.equal(e.isBase64Encoded, false);
    const c = e.requestContext as Json;
    assert.equal(c.accountId, '000000000000');
    assert.equal(c.apiId, svc.service);
    assert.equal(c.resourceId, svc.route);
    assert.equal(c.stage, '$default');
    assert.equal(c.requestId, r.requestId);
    assert.equal(c.extendedRequestId, r.requestId);
    assert.equal(c.path, '/v1/items/42');
    assert.equal(c.resourcePath, '/v1/items/{id}');
    assert.equal(c.httpMethod, 'POST');
    assert.equal(c.protocol, 'HTTP/1.1');
    assert.equal(c.domainName, 'fn.example.test');
    assert.equal(c.domainPrefix, 'fn');
    assert.equal(c.authorizer, null);
    assert.ok(c.requestTimeEpoch >= before - 1000 && c.requestTimeEpoch <= Date.now() + 1000, String(c.requestTimeEpoch));
    assert.match(c.requestTime, /^\d{2}\/[A-Z][a-z]{2}\/\d{4}:\d{2}:\d{2}:\d{2} \+0000$/);
    assert.equal(c.identity.sourceIp, '127.0.0.1');
    assert.equal(c.identity.userAgent, 'lambda-test/1');
    assert.equal(c.identity.user, null);
    const invoked = lastCall('echo-v1');
    assert.equal(invoked.qualifier, 'live');
    assert.equal(invoked.invocationType, 'RequestResponse');
  });

  test('payload format 2.0 round-trips every field: joined headers and query, cookies out of headers, cookies back as Set-Cookie', async () => {
    const before = Date.now();
    const r = await call('/v2/items/7?a=1&a=2&q=%C3%A9', {
      headers: { 'x-multi': ['m1', 'm2'], cookie: 'c1=v1; c2=v2', 'user-agent': 'lambda-test/2', host: 'api.example.test' },
    });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.headers['x-two'], 't');
    assert.deepEqual(r.headers['set-cookie'], ['s1=a; Path=/; HttpOnly', 's2=b']);
    const e = JSON.parse(r.text) as Json;
    const svc = services.get('v2')!;
    assert.equal(e.version, '2.0');
    assert.equal(e.routeKey, 'ANY /v2/items/{id}', 'the route takes any method');
    assert.equal(e.rawPath, '/v2/items/7');
    assert.equal(e.rawQueryString, 'a=1&a=2&q=%C3%A9');
    assert.deepEqual(e.cookies, ['c1=v1', 'c2=v2']);
    assert.equal(e.headers.cookie, undefined, 'cookies are not repeated in headers');
    assert.equal(e.headers['x-multi'], 'm1,m2');
    assert.equal(e.headers['user-agent'], 'lambda-test/2');
    assert.equal(e.headers.host, 'api.example.test');
    assert.equal(e.headers['x-forwarded-proto'], 'http');
    assert.deepEqual(e.queryStringParameters, { a: '1,2', q: 'é' });
    assert.deepEqual(e.pathParameters, { id: '7' });
    assert.equal(e.body, undefined, 'no body: no body field');
    assert.equal(e.isBase64Encoded, false);
    assert.equal(e.multiValueHeaders, undefined);
    const c = e.requestContext as Json;
    assert.equal(c.accountId, '000000000000');
    assert.equal(c.apiId, svc.service);
    assert.equal(c.domainName, 'api.example.test');
    assert.equal(c.domainPrefix, 'api');
    assert.deepEqual(c.http, { method: 'GET', path: '/v2/items/7', protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'lambda-test/2' });
    assert.equal(c.requestId, r.requestId);
    assert.equal(c.routeKey, 'ANY /v2/items/{id}');
    assert.equal(c.stage, '$default');
    assert.ok(c.timeEpoch >= before - 1000 && c.timeEpoch <= Date.now() + 1000);
    assert.match(c.time, /^\d{2}\/[A-Z][a-z]{2}\/\d{4}:\d{2}:\d{2}:\d{2} \+0000$/);
    assert.equal(c.authorizer, undefined, 'no authentication: no authorizer');
    assert.equal(lastCall('echo-v2').qualifier, null, 'no qualifier: none sent');
  });

  test("the consumer key-auth identified is the event's authorizer context (and the key is not passed on)", async () => {
    assert.equal((await call('/auth2')).status, 401);
    const r = await call('/auth2', { headers: { apikey: API_KEY } });
    assert.equal(r.status, 200, r.text);
    const e = JSON.parse(r.text) as Json;
    assert.deepEqual(e.requestContext.authorizer, { lambda: { principalId: 'alice', consumerId: ids.alice, credentialId: ids.key } });
    assert.equal(e.headers.apikey, undefined, 'hide_credentials applies to the event too');
    assert.equal(e.headers['x-consumer-username'], 'alice');
  });

  test("a verified JWT's claims are the authorizer context: 2.0 {jwt: {claims, scopes}}, 1.0 claims beside the principal", async () => {
    const exp = Math.floor(Date.now() / 1000) + 300;
    const token = await new SignJWT({ sub: 'user-7', scope: 'orders:read orders:write', exp }).setProtectedHeader({ alg: 'RS256' }).setIssuer('https://idp.lambda.test').sign(jwtKey.privateKey);
    const claims = { sub: 'user-7', scope: 'orders:read orders:write', exp, iss: 'https://idp.lambda.test' };
    const v2 = await call('/jwt2', { headers: { authorization: `Bearer ${token}` } });
    assert.equal(v2.status, 200, v2.text);
    assert.deepEqual((JSON.parse(v2.text) as Json).requestContext.authorizer, { jwt: { claims, scopes: ['orders:read', 'orders:write'] } });
    const v1 = await call('/jwt1', { headers: { authorization: `Bearer ${token}` } });
    assert.equal(v1.status, 201, v1.text);
    assert.deepEqual((JSON.parse(v1.text) as Json).requestContext.authorizer, { principalId: 'alice', consumerId: ids.alice, credentialId: ids.jwtCred, claims });
    assert.equal((await call('/jwt2')).status, 401);
  });

  test('binary bodies go base64 both ways: 1.0 per binary_media_types, 2.0 for any non-text type', async () => {
    const bytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const reversed = Buffer.from(bytes).reverse();
    for (const p of ['/bin1', '/bin2']) {
      const r = await call(p, { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: bytes });
      assert.equal(r.status, 200, `${p}: ${r.text}`);
      assert.equal(r.headers['content-type'], 'application/octet-stream');
      assert.ok(r.body.equals(reversed), `${p}: the decoded body`);
      const e = lastCall('binary').event as Json;
      assert.equal(e.isBase64Encoded, true, p);
      assert.equal(e.body, bytes.toString('base64'), p);
    }
    // A text type is sent as text in both formats.
    for (const p of ['/bin1', '/bin2']) {
      const r = await call(p, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"a":1}' });
      assert.equal(r.status, 200);
      assert.equal(r.body.toString('utf8'), '}1:"a"{');
      const e = lastCall('binary').event as Json;
      assert.equal(e.isBase64Encoded, false, p);
      assert.equal(e.body, '{"a":1}', p);
    }
  });

  test('2.0 infers a response from a function that returns plain JSON or a string', async () => {
    const o = await call('/object');
    assert.equal(o.status, 200);
    assert.equal(o.headers['content-type'], 'application/json');
    assert.deepEqual(JSON.parse(o.text), { hello: 'world', n: [1, 2] });
    const s = await call('/string');
    assert.equal(s.status, 200);
    assert.equal(s.text, 'just text');
  });

  test('a malformed proxy response is a 502 TP_ERR_LAMBDA_BAD_RESPONSE; header injection is refused', async () => {
    for (const p of ['/malformed', '/bad-header']) {
      const r = await call(p);
      assert.equal(r.status, 502, p);
      assert.equal(errorOf(r).code, 'TP_ERR_LAMBDA_BAD_RESPONSE', p);
      assert.equal(errorOf(r).request_id, r.requestId);
      assert.equal(r.headers['set-cookie'], undefined);
    }
  });

  test('a function error is a 502 TP_ERR_LAMBDA_FUNCTION_ERROR naming the error', async () => {
    const r = await call('/boom');
    assert.equal(r.status, 502);
    const err = errorOf(r);
    assert.equal(err.code, 'TP_ERR_LAMBDA_FUNCTION_ERROR');
    assert.match(err.message, /Unhandled.*TypeError: cannot read properties of undefined/);
  });

  test('throttling is a 429 with Retry-After', async () => {
    const r = await call('/busy');
    assert.equal(r.status, 429);
    assert.equal(errorOf(r).code, 'TP_ERR_LAMBDA_THROTTLED');
    assert.match(String(r.headers['retry-after']), /^\d+$/);
  });

  test('no answer within timeout_ms is a 504; an unreachable Invoke API a 502', async () => {
    const t0 = Date.now();
    const r = await call('/slow');
    assert.equal(r.status, 504);
    assert.equal(errorOf(r).code, 'TP_ERR_LAMBDA_TIMEOUT');
    assert.ok(Date.now() - t0 < 1_400, `answered after ${Date.now() - t0} ms`);
    const d = await call('/down');
    assert.equal(d.status, 502);
    assert.equal(errorOf(d).code, 'TP_ERR_LAMBDA_UNREACHABLE');
  });

  test('an Event invocation is answered 202 with an empty body', async () => {
    const r = await call('/queued', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"job":1}' });
    assert.equal(r.status, 202);
    assert.equal(r.body.length, 0);
    const c = lastCall('queued');
    assert.equal(c.invocationType, 'Event');
    assert.equal((c.event as Json).body, '{"job":1}');
  });

  test('call records name the service and route, with the status and error code the client got', async () => {
    const ok = await call('/object');
    const failed = await call('/boom');
    const recordOf = (id: string) => waitFor(`record ${id}`, async () => records.find((r) => r.request_id === id) ?? null, 5_000);
    const a = await recordOf(ok.requestId);
    assert.equal(a.status, 200);
    assert.equal(a.error_code, '');
    assert.equal(a.service_id, services.get('object')!.service);
    assert.equal(a.route_id, services.get('object')!.route);
    assert.ok(a.upstream_latency_ms > 0, 'the Invoke call is the upstream time');
    const b = await recordOf(failed.requestId);
    assert.equal(b.status, 502);
    assert.equal(b.error_code, 'TP_ERR_LAMBDA_FUNCTION_ERROR');
  });

  test('a client that leaves mid-call abandons the invocation; the node keeps serving', async () => {
    const before = fake.calls.length;
    const ac = new AbortController();
    const pending = request(url('/slow-long'), { signal: ac.signal }).catch((e: unknown) => e);
    await waitFor('slow call reached the function', async () => (fake.calls.length > before ? true : null), 5_000);
    ac.abort();
    assert.ok((await pending) instanceof Error);
    const r = await call('/object');
    assert.equal(r.status, 200);
    const rec = await waitFor('aborted call recorded', async () => records.find((x) => x.route_id === services.get('slow-long')!.route) ?? null, 5_000);
    assert.equal(rec.status, 499);
    assert.equal(rec.error_code, 'TP_ERR_CLIENT_CLOSED');
  });

  test("every invocation carried a SigV4 signature AWS's own signer verifies", () => {
    assert.ok(fake.goodSignatures >= 10, String(fake.goodSignatures));
    assert.equal(fake.badSignatures, 0);
  });

  test('stored credentials, opened with the node keyring, sign instead of the environment; unopenable ones answer 502', async () => {
    // Only the stored key may invoke this function: a call signed with the environment's key is refused.
    fake.functions.set('stored-only', { handler: () => ({ statusCode: 200, body: 'signed with the stored key' }), accessKeyIds: [STORED_KEY] });
    const storedService = async (name: string, ring = keyring) => {
      const service = randomUUID();
      const sealed = { secret_access_key: seal(ring, STORED_SECRET, service), session_token: seal(ring, STORED_TOKEN, service) };
      const credentials = { access_key_id: STORED_KEY, secret_set: true, session_token_set: true, sealed };
      await put('services', { id: service, name, integration: { type: 'lambda', function_name: 'stored-only', region: REGION, endpoint_url: fake.url, timeout_ms: 5_000, credentials } });
      await put('routes', { id: randomUUID(), name, service_id: service, paths: [`/${name}`] });
    };
    await storedService('stored');
    await storedService('stored-foreign', keyringOf(generateSecretKey()));
    await lambdaService('stored-env', '/stored-env', { function_name: 'stored-only' });
    const good = fake.goodSignatures;
    const r = await waitFor('stored-credentials route served', async () => {
      const x = await call('/stored');
      return x.status === 404 ? null : x;
    }, 5_000);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.text, 'signed with the stored key');
    assert.equal(fake.goodSignatures, good + 1, 'the stored key signed, with its session token');

    const env = await waitFor('env route served', async () => {
      const x = await call('/stored-env');
      return x.status === 404 ? null : x;
    }, 5_000);
    assert.equal(env.status, 502);
    assert.equal(errorOf(env).code, 'TP_ERR_LAMBDA_INVOKE_FAILED');
    assert.match(errorOf(env).message, /AccessDeniedException/);

    const foreign = await call('/stored-foreign');
    assert.equal(foreign.status, 502);
    assert.equal(errorOf(foreign).code, 'TP_ERR_LAMBDA_CREDENTIALS_MISSING');
    assert.match(errorOf(foreign).message, /cannot open the integration's stored AWS credentials/);
    assert.equal(fake.badSignatures, 0);
  });
});
