// The custom authorizer against real sockets: a Lambda Invoke API fake that verifies SigV4
// (test/fixtures/fake-lambda.ts) and a plain node:http authorizer endpoint, with a hand-made RequestContext.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Value } from '@sinclair/typebox/value';
import { CustomAuthorizerConfig, customAuthorizerProblems, generateSecretKey, keyringOf, seal } from '@turnpike/common';
import { startFakeLambda, type FakeLambda } from '../../../test/fixtures/fake-lambda.js';
import type { Identified, Outcome } from '../pipeline.js';
import type { AccessTables, RequestContext } from '../request-context.js';
import { authorizerStep, compileAuthorizer, globMatch, methodArnOf, type AuthorizerCompileOptions } from './index.js';
import { recordingChanges } from '../testing.js';

const KEY_ID = 'AKIAAUTHORIZERTEST01';
const SECRET = 'authorizer/test+secret';
const ENV = { AWS_ACCESS_KEY_ID: KEY_ID, AWS_SECRET_ACCESS_KEY: SECRET };
let lambda: FakeLambda;

interface TestCtx extends RequestContext {
  hidden: string[];
  hiddenQuery: string[];
  notes: [string, string][];
}

const OWNERS = new Map([['alice', { consumerId: 'c-alice', username: 'alice', groupIds: [] }]]);
const tables = { ownerByUsername: (u: string) => OWNERS.get(u), ownerOf: () => undefined } as unknown as AccessTables;

function ctxOf(o: { method?: string; path?: string; query?: string; headers?: Record<string, string>; ip?: string } = {}): TestCtx {
  const received: string[] = [];
  for (const [k, v] of Object.entries(o.headers ?? {})) received.push(k.toLowerCase(), v);
  const hidden: string[] = [];
  const hiddenQuery: string[] = [];
  const notes: [string, string][] = [];
  return {
    ...recordingChanges(),
    method: o.method ?? 'GET',
    path: o.path ?? '/pets',
    query: o.query ?? '',
    host: 'api.example.com',
    header: (n) => {
      const i = received.indexOf(n);
      return i >= 0 && i % 2 === 0 ? received[i + 1]! : '';
    },
    received,
    peerIp: '10.0.0.1',
    clientCert: null,
    clientIp: () => o.ip ?? '203.0.113.7',
    declaredLength: 0,
    body: null,
    routeId: 'r-1',
    serviceId: 'svc-1',
    consumerId: '',
    credentialId: '',
    tables,
    nowMs: Date.now(),
    hideHeaders: (names) => void hidden.push(...names),
    hideQuery: (names) => void hiddenQuery.push(...names),
    addResponseHeaders: () => undefined,
    note: (code, detail) => void notes.push([code, detail]),
    hidden,
    hiddenQuery,
    notes,
  };
}

function config(over: Record<string, unknown>): CustomAuthorizerConfig {
  const cfg = Value.Default(CustomAuthorizerConfig, structuredClone(over)) as CustomAuthorizerConfig;
  assert.ok(Value.Check(CustomAuthorizerConfig, cfg), JSON.stringify([...Value.Errors(CustomAuthorizerConfig, cfg)].map((e) => `${e.path} ${e.message}`)));
  assert.deepEqual(customAuthorizerProblems(cfg), []);
  return cfg;
}

let fnSeq = 0;
/** A Lambda authorizer around `handler`, and its compiled step. */
function lambdaAuthorizer(handler: (event: any) => unknown, over: Record<string, unknown> = {}, options: Partial<AuthorizerCompileOptions> = {}) {
  const name = `authz-${++fnSeq}`;
  lambda.functions.set(name, { handler });
  const { lambda: lambdaOver, ...rest } = over;
  const cfg = config({
    kind: 'lambda',
    lambda: { function_name: name, region: 'eu-central-1', endpoint: lambda.url, ...(lambdaOver as object | undefined) },
    ...rest,
  });
  const policy = compileAuthorizer(cfg, { keyring: null, env: ENV, ...options });
  return { name, policy, step: authorizerStep(policy), calls: () => lambda.calls.filter((c) => c.functionName === name) };
}

function allowPolicy(principalId: string, resource: string | string[], context?: Record<string, unknown>, effect = 'Allow') {
  return { principalId, policyDocument: { Version: '2012-10-17', Statement: [{ Action: 'execute-api:Invoke', Effect: effect, Resource: resource }] }, ...(context ? { context } : {}) };
}

async function outcome(o: Outcome | Promise<Outcome>): Promise<Outcome> {
  return o instanceof Promise ? await o : o;
}

function identity(o: Outcome): Identified {
  assert.ok(o !== null && o.kind === 'identity', `expected an identity, got ${JSON.stringify(o)}`);
  return o;
}

before(async () => {
  lambda = await startFakeLambda({ region: 'eu-central-1', keys: { [KEY_ID]: SECRET } });
});
after(() => lambda.close());

test('TOKEN allow: the token event reaches the function, the principal maps to a consumer, context becomes headers', async () => {
  const a = lambdaAuthorizer((e) => (e.authorizationToken === 'Bearer good' ? allowPolicy('alice', e.methodArn, { tier: 'gold' }) : allowPolicy('x', e.methodArn, undefined, 'Deny')));
  const ctx = ctxOf({ headers: { Authorization: 'Bearer good' } });
  assert.equal(a.step.present!(ctx), true);
  const who = identity(await outcome(a.step.run(ctx)));
  assert.equal(who.consumerId, 'c-alice');
  assert.equal(who.credentialId, '');
  assert.deepEqual(who.upstreamHeaders, ['x-authorizer-tier', 'gold']);
  assert.deepEqual(a.calls()[0]!.event, { type: 'TOKEN', authorizationToken: 'Bearer good', methodArn: methodArnOf(ctx) });
  assert.equal(methodArnOf(ctx), 'arn:aws:execute-api:turnpike:000000000000:svc-1/$default/GET/pets');
  assert.equal(lambda.badSignatures, 0);
});

test('TOKEN deny is 403; a cached policy is evaluated per request against its method ARN', async () => {
  const a = lambdaAuthorizer((e) => ({
    principalId: 'bob',
    policyDocument: {
      Version: '2012-10-17',
      Statement: [
        { Action: 'execute-api:Invoke', Effect: 'Allow', Resource: 'arn:aws:execute-api:*:*:*/*/GET/*' },
        { Action: 'execute-api:*', Effect: 'Deny', Resource: `${e.methodArn.split('/').slice(0, 2).join('/')}/GET/admin*` },
      ],
    },
  }));
  const h = { Authorization: 'tok-bob' };
  const get = identity(await outcome(a.step.run(ctxOf({ headers: h }))));
  assert.equal(get.consumerId, '', 'bob is no consumer: allowed anonymously');
  const del = a.step.run(ctxOf({ method: 'DELETE', headers: h }));
  assert.ok(!(del instanceof Promise), 'answered from the cache');
  assert.deepEqual(del && del.kind === 'deny' ? [del.status, del.code] : del, [403, 'TP_ERR_AUTHORIZER_DENIED']);
  const admin = a.step.run(ctxOf({ path: '/admin/users', headers: h }));
  assert.deepEqual(admin && !(admin instanceof Promise) && admin.kind === 'deny' ? admin.status : admin, 403);
  assert.equal(a.calls().length, 1);
});

test('a function failing with "Unauthorized" is 401 and is not cached', async () => {
  const a = lambdaAuthorizer(() => {
    throw new Error('Unauthorized');
  });
  for (let i = 0; i < 2; i++) {
    const o = await outcome(a.step.run(ctxOf({ headers: { Authorization: 'bad' } })));
    assert.deepEqual(o && o.kind === 'deny' ? [o.status, o.code] : o, [401, 'TP_ERR_AUTHORIZER_UNAUTHORIZED']);
  }
  assert.equal(a.calls().length, 2);
});

test('a missing identity source is 401 without a call; token_validation refuses a malformed token without a call', async () => {
  const a = lambdaAuthorizer((e) => allowPolicy('alice', e.methodArn), { token_validation: 'Bearer [A-Za-z0-9._-]+' });
  const none = ctxOf();
  assert.equal(a.step.present!(none), false);
  const o = a.step.run(none);
  assert.deepEqual(o && !(o instanceof Promise) && o.kind === 'deny' ? [o.status, o.code] : o, [401, 'TP_ERR_AUTHORIZER_IDENTITY_MISSING']);
  const bad = a.step.run(ctxOf({ headers: { Authorization: 'Basic abc' } }));
  assert.deepEqual(bad && !(bad instanceof Promise) && bad.kind === 'deny' ? bad.status : bad, 401);
  const partial = a.step.run(ctxOf({ headers: { Authorization: 'xBearer abc' } }));
  assert.ok(partial !== null && !(partial instanceof Promise), 'the pattern must match the whole value');
  assert.equal(a.calls().length, 0);
  identity(await outcome(a.step.run(ctxOf({ headers: { Authorization: 'Bearer abc.def' } }))));
  assert.equal(a.calls().length, 1);
});

test('REQUEST 1.0: header and query identity sources, the event carries headers, query and context, the cache keys on both', async () => {
  const a = lambdaAuthorizer((e) => (e.headers['x-tenant'] === 't1' && e.queryStringParameters.token === 's3cret' ? allowPolicy('alice', e.methodArn) : allowPolicy('alice', e.methodArn, undefined, 'Deny')), {
    type: 'request',
    identity_sources: ['$request.header.X-Tenant', 'method.request.querystring.token', '$context.identity.sourceIp'],
  });
  const ctx = ctxOf({ method: 'POST', path: '/orders', query: 'token=s3cret&x=1&x=2', headers: { 'X-Tenant': 't1', 'User-Agent': 'ua' } });
  assert.equal(identity(await outcome(a.step.run(ctx))).consumerId, 'c-alice');
  const e = a.calls()[0]!.event as Record<string, any>;
  assert.equal(e.type, 'REQUEST');
  assert.equal(e.methodArn, 'arn:aws:execute-api:turnpike:000000000000:svc-1/$default/POST/orders');
  assert.equal(e.httpMethod, 'POST');
  assert.equal(e.path, '/orders');
  assert.deepEqual(e.queryStringParameters, { token: 's3cret', x: '2' });
  assert.deepEqual(e.multiValueQueryStringParameters.x, ['1', '2']);
  assert.equal(e.requestContext.identity.sourceIp, '203.0.113.7');
  assert.equal(e.requestContext.apiId, 'svc-1');
  // Same identity: cached. Another token value: another call (and a Deny).
  identity(a.step.run(ctxOf({ method: 'POST', path: '/orders', query: 'token=s3cret', headers: { 'X-Tenant': 't1' } })) as Outcome);
  const other = await outcome(a.step.run(ctxOf({ method: 'POST', path: '/orders', query: 'token=other', headers: { 'X-Tenant': 't1' } })));
  assert.equal(other?.kind, 'deny');
  assert.equal(a.calls().length, 2);
  assert.equal(a.step.present!(ctxOf({ headers: { 'X-Tenant': 't1' } })), false, 'the query source is missing');
});

test('REQUEST 2.0 with simple responses: identitySource values, routeArn, isAuthorized true and false', async () => {
  const a = lambdaAuthorizer((e) => ({ isAuthorized: e.identitySource[0] === 'k-1', context: { consumer: 'alice', plan: 'pro' } }), {
    type: 'request',
    payload_format_version: '2.0',
    enable_simple_responses: true,
    identity_sources: ['$request.header.X-Api-Key'],
  });
  const ctx = ctxOf({ headers: { 'X-Api-Key': 'k-1', Cookie: 'a=1; b=2' }, query: 'q=1&q=2' });
  const who = identity(await outcome(a.step.run(ctx)));
  assert.equal(who.consumerId, 'c-alice', 'context.consumer names the consumer');
  assert.deepEqual(who.upstreamHeaders, ['x-authorizer-consumer', 'alice', 'x-authorizer-plan', 'pro']);
  const e = a.calls()[0]!.event as Record<string, any>;
  assert.equal(e.version, '2.0');
  assert.deepEqual(e.identitySource, ['k-1']);
  assert.equal(e.routeArn, methodArnOf(ctx));
  assert.deepEqual(e.cookies, ['a=1', 'b=2']);
  assert.deepEqual(e.queryStringParameters, { q: '1,2' });
  assert.equal(e.rawQueryString, 'q=1&q=2');
  assert.equal(e.requestContext.http.sourceIp, '203.0.113.7');
  const no = await outcome(a.step.run(ctxOf({ headers: { 'X-Api-Key': 'k-2' } })));
  assert.deepEqual(no && no.kind === 'deny' ? no.status : no, 403);
});

test('cache hits answer synchronously without a call; result_ttl_ms 0 calls every time', async () => {
  const cached = lambdaAuthorizer((e) => allowPolicy('alice', e.methodArn));
  const h = { headers: { Authorization: 't' } };
  const first = cached.step.run(ctxOf(h));
  assert.ok(first instanceof Promise);
  identity(await first);
  for (let i = 0; i < 3; i++) identity(cached.step.run(ctxOf(h)) as Outcome);
  assert.equal(cached.calls().length, 1);

  const uncached = lambdaAuthorizer((e) => allowPolicy('alice', e.methodArn), { result_ttl_ms: 0 });
  for (let i = 0; i < 3; i++) {
    const o = uncached.step.run(ctxOf(h));
    assert.ok(o instanceof Promise);
    identity(await o);
  }
  assert.equal(uncached.calls().length, 3);
  assert.equal(uncached.policy.cache.size, 0);
});

test('an expired entry is asked again', async () => {
  const a = lambdaAuthorizer((e) => allowPolicy('alice', e.methodArn), { result_ttl_ms: 1000 });
  identity(await outcome(a.step.run(ctxOf({ headers: { Authorization: 't' } }))));
  const later = { ...ctxOf({ headers: { Authorization: 't' } }), nowMs: Date.now() + 1500 };
  const again = a.step.run(later);
  assert.ok(again instanceof Promise);
  identity(await again);
  assert.equal(a.calls().length, 2);
});

test('concurrent requests with one identity share one call', async () => {
  const a = lambdaAuthorizer(async (e) => {
    await new Promise((r) => setTimeout(r, 80));
    return allowPolicy('alice', e.methodArn);
  });
  const runs = [1, 2, 3, 4].map(() => a.step.run(ctxOf({ headers: { Authorization: 'same' } })));
  const outs = await Promise.all(runs.map(outcome));
  for (const o of outs) assert.equal(identity(o).consumerId, 'c-alice');
  assert.equal(a.calls().length, 1);
});

test('function errors, throttling, bad responses and timeouts are 503 TP_ERR_AUTH_UNAVAILABLE, noted for the call log', async () => {
  const cases = [
    lambdaAuthorizer(() => {
      throw new Error('boom');
    }),
    lambdaAuthorizer(() => ({ policyDocument: {} })),
    lambdaAuthorizer(() => ({ principalId: 'a', policyDocument: { Statement: [{ Effect: 'Maybe', Action: '*', Resource: '*' }] } })),
    lambdaAuthorizer(async () => new Promise((r) => setTimeout(() => r(allowPolicy('a', '*')), 500)), { lambda: { timeout_ms: 100 } }),
  ];
  const busy = lambdaAuthorizer(() => null);
  lambda.functions.get(busy.name)!.throttle = true;
  cases.push(busy);
  for (const c of cases) {
    const ctx = ctxOf({ headers: { Authorization: 't' } });
    const t0 = Date.now();
    const o = await outcome(c.step.run(ctx));
    assert.ok(Date.now() - t0 < 1000);
    assert.deepEqual(o && o.kind === 'deny' ? [o.status, o.code] : o, [503, 'TP_ERR_AUTH_UNAVAILABLE'], c.name);
    assert.equal(ctx.notes[0]?.[0], 'TP_ERR_AUTH_UNAVAILABLE');
    assert.equal(c.policy.cache.size, 0, 'failures are not cached');
  }
});

test('fail_open lets the request through anonymously when the authorizer fails, but not when it denies', async () => {
  const failing = lambdaAuthorizer(
    () => {
      throw new Error('boom');
    },
    { fail_open: true },
  );
  assert.equal(await outcome(failing.step.run(ctxOf({ headers: { Authorization: 't' } }))), null);
  const denying = lambdaAuthorizer((e) => allowPolicy('a', e.methodArn, undefined, 'Deny'), { fail_open: true });
  assert.equal((await outcome(denying.step.run(ctxOf({ headers: { Authorization: 't' } }))))?.kind, 'deny');
});

test('context values become header-safe headers; objects are left out; client-sent look-alikes are hidden', async () => {
  const a = lambdaAuthorizer((e) => allowPolicy('alice', e.methodArn, { 'User Id': 'a\r\nb', n: 5, ok: true, nested: { x: 1 }, list: [1], none: null, name: 'Zoë' }), {
    context_header_prefix: 'x-auth-',
  });
  const ctx = ctxOf({ headers: { Authorization: 't', 'X-Auth-User-Id': 'forged' } });
  const who = identity(await outcome(a.step.run(ctx)));
  assert.deepEqual(who.upstreamHeaders, ['x-auth-user-id', 'ab', 'x-auth-n', '5', 'x-auth-ok', 'true', 'x-auth-name', 'Zo%C3%AB']);
  assert.deepEqual(ctx.hidden, ['x-auth-user-id']);
});

test('require_consumer refuses an allowed principal that is no consumer; hide_credentials hides the sources', async () => {
  const a = lambdaAuthorizer((e) => allowPolicy(e.authorizationToken, e.methodArn), { require_consumer: true, hide_credentials: true });
  const o = await outcome(a.step.run(ctxOf({ headers: { Authorization: 'mallory' } })));
  assert.deepEqual(o && o.kind === 'deny' ? [o.status, o.code] : o, [403, 'TP_ERR_AUTHORIZER_DENIED']);
  const ctx = ctxOf({ headers: { Authorization: 'alice' } });
  assert.equal(identity(await outcome(a.step.run(ctx))).consumerId, 'c-alice');
  assert.deepEqual(ctx.hidden, ['authorization']);
});

test('credentials: none in the environment is 503 without a call; given keys sealed by the control plane are opened', async () => {
  const noEnv = lambdaAuthorizer((e) => allowPolicy('alice', e.methodArn), {}, { env: {} });
  assert.match(noEnv.policy.unavailable ?? '', /AWS_ACCESS_KEY_ID/);
  const o = noEnv.step.run(ctxOf({ headers: { Authorization: 't' } }));
  assert.deepEqual(o && !(o instanceof Promise) && o.kind === 'deny' ? o.status : o, 503);

  const ring = keyringOf(generateSecretKey());
  const sealed = lambdaAuthorizer((e) => allowPolicy('alice', e.methodArn), { lambda: { credentials: { access_key_id: KEY_ID } } }, {
    env: {},
    keyring: ring,
    pluginId: 'p-1',
    secrets: { '/lambda/credentials/secret_access_key': seal(ring, SECRET, 'p-1') },
  });
  assert.equal(sealed.policy.unavailable, null);
  identity(await outcome(sealed.step.run(ctxOf({ headers: { Authorization: 't' } }))));
  const wrongId = lambdaAuthorizer((e) => allowPolicy('alice', e.methodArn), { lambda: { credentials: { access_key_id: KEY_ID } } }, {
    keyring: ring,
    pluginId: 'p-2',
    secrets: { '/lambda/credentials/secret_access_key': seal(ring, SECRET, 'p-1') },
  });
  assert.notEqual(wrongId.policy.unavailable, null, 'a secret sealed for another plugin does not open');
});

test('HTTP authorizer: the event is POSTed as JSON with the configured headers; 200 policy, 401 and 403 answers', async () => {
  const seen: { headers: Record<string, unknown>; body: any }[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString());
      seen.push({ headers: req.headers, body });
      const token = body.authorizationToken as string;
      if (token === 'hang') return; // never answers
      if (token === 'nobody') return void res.writeHead(401).end();
      if (token === 'blocked') return void res.writeHead(403).end();
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(allowPolicy('alice', body.methodArn, { via: 'http' })));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/authorize`;
    const policy = compileAuthorizer(config({ kind: 'http', http: { url, timeout_ms: 150, headers: { 'X-Authorizer-Key': 'k' } } }), { keyring: null });
    const step = authorizerStep(policy);
    const who = identity(await outcome(step.run(ctxOf({ headers: { Authorization: 'ok' } }))));
    assert.deepEqual([who.consumerId, who.upstreamHeaders], ['c-alice', ['x-authorizer-via', 'http']]);
    assert.equal(seen[0]!.headers['x-authorizer-key'], 'k');
    assert.equal(seen[0]!.headers['content-type'], 'application/json');
    assert.equal(seen[0]!.body.type, 'TOKEN');
    const statusOf = async (token: string) => {
      const o = await outcome(step.run(ctxOf({ headers: { Authorization: token } })));
      return o && o.kind === 'deny' ? o.status : o;
    };
    assert.equal(await statusOf('nobody'), 401);
    assert.equal(await statusOf('blocked'), 403);
    assert.equal(await statusOf('hang'), 503);
    assert.equal(await statusOf('blocked'), 403, 'a 403 is cached like a Deny');
    assert.equal(seen.filter((s) => s.body.authorizationToken === 'blocked').length, 1);
  } finally {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  }
});

test('config problems: token type needs one header source, simple responses need 2.0, token_validation is ReDoS-guarded', () => {
  const paths = (over: Record<string, unknown>) =>
    customAuthorizerProblems(Value.Default(CustomAuthorizerConfig, { kind: 'http', http: { url: 'http://a' }, ...over }) as CustomAuthorizerConfig).map((p) => p.path);
  assert.deepEqual(paths({ identity_sources: ['$request.querystring.t'] }), ['/identity_sources']);
  assert.deepEqual(paths({ enable_simple_responses: true, type: 'request' }), ['/enable_simple_responses']);
  assert.deepEqual(paths({ token_validation: '(a+)+$' }), ['/token_validation']);
  assert.deepEqual(paths({ type: 'request', identity_sources: ['$context.nope'] }), ['/identity_sources/0']);
  assert.deepEqual(paths({ lambda: { function_name: 'f', region: 'us-east-1' } }), ['/lambda']);
  assert.equal(Value.Check(CustomAuthorizerConfig, Value.Default(CustomAuthorizerConfig, { kind: 'http', identity_sources: ['header.x'] })), false);
});

test('IAM wildcards: * spans any run (slashes included), ? one character, and adversarial patterns stay fast', () => {
  assert.equal(globMatch('arn:aws:execute-api:*:*:*/*/GET/*', 'arn:aws:execute-api:turnpike:000000000000:s/$default/GET/pets/1'), true);
  assert.equal(globMatch('arn:aws:execute-api:*:*:*/*/GET/*', 'arn:aws:execute-api:turnpike:000000000000:s/$default/POST/pets'), false);
  assert.equal(globMatch('a?c', 'abc'), true);
  assert.equal(globMatch('a?c', 'ac'), false);
  assert.equal(globMatch('*', ''), true);
  const t0 = Date.now();
  assert.equal(globMatch('*a'.repeat(200) + 'b', 'a'.repeat(4000)), false);
  assert.ok(Date.now() - t0 < 500);
});

test('a config breaking the type rules (older control plane) compiles to an unavailable authorizer, never a throw', () => {
  const cfg = Value.Default(CustomAuthorizerConfig, { kind: 'http', http: { url: 'http://127.0.0.1:9' }, token_validation: '(a+)+' }) as CustomAuthorizerConfig;
  const policy = compileAuthorizer(cfg, { keyring: null });
  assert.match(policy.unavailable ?? '', /token_validation/);
  const o = authorizerStep(policy).run(ctxOf({ headers: { Authorization: 'aaa' } }));
  assert.deepEqual(o && !(o instanceof Promise) && o.kind === 'deny' ? o.status : o, 503);
});
