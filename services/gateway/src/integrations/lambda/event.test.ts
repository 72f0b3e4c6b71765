// The events against AWS's own examples (API Gateway developer guide, "Create AWS Lambda proxy integrations for
// HTTP APIs": the payload format 1.0 and 2.0 structures), built from the request those examples describe.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { queryParams } from '../../proxy/query-params.js';
import { awsRouteTemplate, clfTime, compileBinaryMediaTypes, eventV1, eventV2Json, isBinaryV1, isBinaryV2, type LambdaAuthorizer, type LambdaRequest } from './event.js';

/** The 2.0 event as the function reads it. */
const eventV2 = (r: LambdaRequest): unknown => JSON.parse(eventV2Json(r));

// 1583348638390 is the 2.0 example's timeEpoch; `12/Mar/2020:19:03:58 +0000` in the example is another moment,
// so time strings are checked against clfTime (pinned below) rather than copied.
const EPOCH = 1583348638390;

/** The request of AWS's examples: GET /my/path with two headers (one repeated), a repeated query parameter and a body. */
function exampleRequest(over: Partial<LambdaRequest> = {}): LambdaRequest {
  return {
    method: 'POST',
    path: '/my/path',
    query: 'parameter1=value1&parameter1=value2&parameter2=value',
    headers: ['header1', 'value1', 'header2', 'value1', 'header2', 'value2', 'cookie', 'cookie1; cookie2'],
    body: Buffer.from('Hello from Lambda'),
    sourceIp: '192.0.2.1',
    userAgent: 'agent',
    domainName: 'id.execute-api.us-east-1.amazonaws.com',
    requestId: 'id',
    timeEpochMs: EPOCH,
    pathParameters: { parameter1: 'value1' },
    // AWS's 2.0 example comes through its $default route (no template).
    routeTemplate: null,
    anyMethod: false,
    routeId: 'route-id',
    serviceId: 'api-id',
    authorizer: null,
    ...over,
  };
}

test("route templates in API Gateway's syntax: {name} stays, a catch-all becomes greedy, a regex route has none", () => {
  assert.equal(awsRouteTemplate('/pets/{id}'), '/pets/{id}');
  assert.equal(awsRouteTemplate('/files/{rest*}'), '/files/{rest+}');
  assert.equal(awsRouteTemplate('/a/{x}/b/{tail*}'), '/a/{x}/b/{tail+}');
  assert.equal(awsRouteTemplate('~/re/(?<n>[0-9]+)$'), null);
  assert.equal(awsRouteTemplate('/'), '/');
});

test('routeKey and resource name the matched route: METHOD or ANY and its template; the path stays what was asked', () => {
  const pets = { method: 'GET', path: '/pets/7', pathParameters: { id: '7' }, routeTemplate: '/pets/{id}' };
  const v2 = eventV2(exampleRequest(pets)) as { routeKey: string; rawPath: string; requestContext: { routeKey: string } };
  assert.equal(v2.routeKey, 'GET /pets/{id}');
  assert.equal(v2.requestContext.routeKey, 'GET /pets/{id}');
  assert.equal(v2.rawPath, '/pets/7');
  const any = eventV2(exampleRequest({ ...pets, method: 'DELETE', anyMethod: true, routeTemplate: '/files/{rest+}' })) as { routeKey: string };
  assert.equal(any.routeKey, 'ANY /files/{rest+}');
  const v1 = eventV1(exampleRequest(pets), null) as { resource: string; path: string; requestContext: { resourcePath: string; path: string } };
  assert.equal(v1.resource, '/pets/{id}');
  assert.equal(v1.requestContext.resourcePath, '/pets/{id}');
  assert.equal(v1.path, '/pets/7');
  // A regex route: no template, so the $default route key and the path as the resource.
  assert.equal((eventV2(exampleRequest({ routeTemplate: null })) as { routeKey: string }).routeKey, '$default');
  assert.equal((eventV1(exampleRequest({ routeTemplate: null, path: '/re/5' }), null) as { resource: string }).resource, '/re/5');
});

test('clfTime formats API Gateway request times', () => {
  assert.equal(clfTime(Date.UTC(2020, 2, 12, 19, 3, 58)), '12/Mar/2020:19:03:58 +0000');
  assert.equal(clfTime(Date.UTC(2020, 0, 4, 1, 2, 3)), '04/Jan/2020:01:02:03 +0000');
});

test("format 2.0 matches AWS's example field for field (no stage variables, mTLS authentication or authorizer here)", () => {
  const e = eventV2(exampleRequest());
  assert.deepEqual(e, {
    version: '2.0',
    routeKey: '$default',
    rawPath: '/my/path',
    rawQueryString: 'parameter1=value1&parameter1=value2&parameter2=value',
    cookies: ['cookie1', 'cookie2'],
    headers: { header1: 'value1', header2: 'value1,value2' },
    queryStringParameters: { parameter1: 'value1,value2', parameter2: 'value' },
    requestContext: {
      accountId: '000000000000',
      apiId: 'api-id',
      domainName: 'id.execute-api.us-east-1.amazonaws.com',
      domainPrefix: 'id',
      http: { method: 'POST', path: '/my/path', protocol: 'HTTP/1.1', sourceIp: '192.0.2.1', userAgent: 'agent' },
      requestId: 'id',
      routeKey: '$default',
      stage: '$default',
      time: clfTime(EPOCH),
      timeEpoch: EPOCH,
    },
    body: 'Hello from Lambda',
    pathParameters: { parameter1: 'value1' },
    isBase64Encoded: false,
  });
});

test('format 2.0 leaves out cookies, query, body and pathParameters when there are none', () => {
  const e = eventV2(exampleRequest({ query: '', headers: ['accept', '*/*'], body: Buffer.alloc(0), pathParameters: {} })) as Record<string, unknown>;
  assert.equal('cookies' in e, false);
  assert.equal('queryStringParameters' in e, false);
  assert.equal('body' in e, false);
  assert.equal('pathParameters' in e, false);
  assert.equal(e.rawQueryString, '');
  assert.deepEqual(e.headers, { accept: '*/*' });
});

test("format 1.0 matches AWS's example: last value in the single-value maps, every value in the multi-value ones", () => {
  const e = eventV1(exampleRequest({ method: 'GET', headers: ['header1', 'value1', 'header2', 'value1', 'header2', 'value2'], body: Buffer.from('Hello from Lambda!'), pathParameters: {}, routeTemplate: '/my/path' }), null);
  assert.deepEqual(e, {
    version: '1.0',
    resource: '/my/path',
    path: '/my/path',
    httpMethod: 'GET',
    headers: { header1: 'value1', header2: 'value2' },
    multiValueHeaders: { header1: ['value1'], header2: ['value1', 'value2'] },
    queryStringParameters: { parameter1: 'value2', parameter2: 'value' },
    multiValueQueryStringParameters: { parameter1: ['value1', 'value2'], parameter2: ['value'] },
    requestContext: {
      accountId: '000000000000',
      apiId: 'api-id',
      authorizer: null,
      domainName: 'id.execute-api.us-east-1.amazonaws.com',
      domainPrefix: 'id',
      extendedRequestId: 'id',
      httpMethod: 'GET',
      identity: {
        accessKey: null,
        accountId: null,
        caller: null,
        cognitoAuthenticationProvider: null,
        cognitoAuthenticationType: null,
        cognitoIdentityId: null,
        cognitoIdentityPoolId: null,
        principalOrgId: null,
        sourceIp: '192.0.2.1',
        user: null,
        userAgent: 'agent',
        userArn: null,
      },
      path: '/my/path',
      protocol: 'HTTP/1.1',
      requestId: 'id',
      requestTime: clfTime(EPOCH),
      requestTimeEpoch: EPOCH,
      resourceId: 'route-id',
      resourcePath: '/my/path',
      stage: '$default',
    },
    pathParameters: null,
    stageVariables: null,
    body: 'Hello from Lambda!',
    isBase64Encoded: false,
  });
});

test('format 1.0 without a query or body has null maps and a null body; 1.0 keeps Cookie in headers', () => {
  const e = eventV1(exampleRequest({ query: '', body: Buffer.alloc(0) }), null) as Record<string, unknown>;
  assert.equal(e.queryStringParameters, null);
  assert.equal(e.multiValueQueryStringParameters, null);
  assert.equal(e.body, null);
  assert.equal((e.headers as Record<string, string>).cookie, 'cookie1; cookie2');
});

test('query values are decoded (%XX and +); rawQueryString keeps them as sent', () => {
  const e = eventV2(exampleRequest({ query: 'q=a+b%20c&e=%C3%A9&flag&bad=%zz' })) as Record<string, any>;
  assert.deepEqual(e.queryStringParameters, { q: 'a b c', e: 'é', flag: '', bad: '%zz' });
  assert.equal(e.rawQueryString, 'q=a+b%20c&e=%C3%A9&flag&bad=%zz');
});

test('the authorizer context: 1.0 flat with principalId, 2.0 under `lambda`', () => {
  const authorizer = { principalId: 'alice', consumerId: 'c-1', credentialId: 'k-1', context: { 'x-authorizer-tier': 'gold' }, claims: null };
  const v1 = eventV1(exampleRequest({ authorizer }), null) as Record<string, any>;
  assert.deepEqual(v1.requestContext.authorizer, { principalId: 'alice', consumerId: 'c-1', credentialId: 'k-1', 'x-authorizer-tier': 'gold' });
  const v2 = eventV2(exampleRequest({ authorizer })) as Record<string, any>;
  assert.deepEqual(v2.requestContext.authorizer, { lambda: { principalId: 'alice', consumerId: 'c-1', credentialId: 'k-1', 'x-authorizer-tier': 'gold' } });
});

test("a JWT's claims: 2.0 as AWS's JWT authorizer `{jwt: {claims, scopes}}`, 1.0 as `claims` beside the principal", () => {
  const claims = { sub: 'user-1', iss: 'https://issuer.example', scope: 'read write', aud: ['api'] };
  const authorizer = { principalId: 'alice', consumerId: 'c-1', credentialId: 'jwt-1', context: {}, claims };
  const v2 = eventV2(exampleRequest({ authorizer })) as Record<string, any>;
  assert.deepEqual(v2.requestContext.authorizer, { jwt: { claims, scopes: ['read', 'write'] } });
  const v1 = eventV1(exampleRequest({ authorizer }), null) as Record<string, any>;
  assert.deepEqual(v1.requestContext.authorizer, { principalId: 'alice', consumerId: 'c-1', credentialId: 'jwt-1', claims });
  const scp = eventV2(exampleRequest({ authorizer: { ...authorizer, claims: { sub: 'x', scp: ['a', 'b'] } } })) as Record<string, any>;
  assert.deepEqual(scp.requestContext.authorizer.jwt.scopes, ['a', 'b']);
  const none = eventV2(exampleRequest({ authorizer: { ...authorizer, claims: { sub: 'x' } } })) as Record<string, any>;
  assert.equal(none.requestContext.authorizer.jwt.scopes, null);
});

test('binary bodies: 1.0 by binary_media_types (exact, type/*, */*), 2.0 by content type (text types as text)', () => {
  const types = compileBinaryMediaTypes(['image/*', 'application/octet-stream']);
  assert.equal(isBinaryV1('image/png', types), true);
  assert.equal(isBinaryV1('Application/Octet-Stream; charset=x', types), true);
  assert.equal(isBinaryV1('application/json', types), false);
  assert.equal(isBinaryV1('image/png', null), false);
  assert.equal(isBinaryV1('anything/else', compileBinaryMediaTypes(['*/*'])), true);
  assert.equal(isBinaryV1('', types), false);
  const bytes = Buffer.from([0xff, 0xfe, 0x00, 0x80]);
  for (const t of ['text/plain', 'application/json; charset=utf-8', 'application/problem+json', 'application/xml', 'application/x-www-form-urlencoded']) assert.equal(isBinaryV2(t, bytes), false, t);
  for (const t of ['application/octet-stream', 'image/png', 'application/pdf', 'multipart/form-data; boundary=x']) assert.equal(isBinaryV2(t, bytes), true, t);
  assert.equal(isBinaryV2('', bytes), true, 'no content type: bytes that are not UTF-8 are binary');
  assert.equal(isBinaryV2('', Buffer.from('plain')), false);

  const v1 = eventV1(exampleRequest({ headers: ['content-type', 'image/png'], body: bytes }), types) as Record<string, unknown>;
  assert.equal(v1.isBase64Encoded, true);
  assert.equal(v1.body, bytes.toString('base64'));
  const v2 = eventV2(exampleRequest({ headers: ['content-type', 'image/png'], body: bytes })) as Record<string, unknown>;
  assert.equal(v2.isBase64Encoded, true);
  assert.equal(v2.body, bytes.toString('base64'));
});

/**
 * The 2.0 event as it was built before eventV2Json wrote its JSON directly: an object, then JSON.stringify. The
 * text must come out the same, byte for byte (header names that collide with Object.prototype aside: see below).
 */
function referenceV2(r: LambdaRequest): string {
  const headers: Record<string, string> = {};
  let cookies: string[] | undefined;
  for (let i = 0; i < r.headers.length; i += 2) {
    const name = r.headers[i]!;
    const value = r.headers[i + 1]!;
    if (name === 'cookie') {
      for (const c of value.split(';')) if (c.trim() !== '') (cookies ??= []).push(c.trim());
      continue;
    }
    headers[name] = name in headers ? `${headers[name]},${value}` : value;
  }
  const query = queryParams(r.query);
  let qs: Record<string, string> | undefined;
  if (query.size > 0) {
    qs = {};
    for (const [k, v] of query) qs[k] = v.join(',');
  }
  let contentType = '';
  for (let i = 0; i < r.headers.length; i += 2) if (r.headers[i] === 'content-type') { contentType = r.headers[i + 1]!; break; }
  const binary = r.body.length > 0 && isBinaryV2(contentType, r.body);
  const routeKey = r.routeTemplate === null ? '$default' : `${r.anyMethod ? 'ANY' : r.method} ${r.routeTemplate}`;
  const event: Record<string, unknown> = { version: '2.0', routeKey, rawPath: r.path, rawQueryString: r.query };
  if (cookies !== undefined) event.cookies = cookies;
  event.headers = headers;
  if (qs !== undefined) event.queryStringParameters = qs;
  const context: Record<string, unknown> = { accountId: '000000000000', apiId: r.serviceId };
  const a: LambdaAuthorizer | null = r.authorizer;
  if (a !== null) {
    const scopes = (c: Readonly<Record<string, unknown>>): string[] | null => {
      const s = c.scope ?? c.scp;
      if (typeof s === 'string') return s.split(' ').filter((x) => x !== '');
      if (Array.isArray(s)) return s.filter((x): x is string => typeof x === 'string');
      return null;
    };
    context.authorizer = a.claims !== null ? { jwt: { claims: a.claims, scopes: scopes(a.claims) } } : { lambda: { principalId: a.principalId, consumerId: a.consumerId, credentialId: a.credentialId, ...a.context } };
  }
  context.domainName = r.domainName;
  context.domainPrefix = r.domainName.includes('.') ? r.domainName.slice(0, r.domainName.indexOf('.')) : r.domainName;
  context.http = { method: r.method, path: r.path, protocol: 'HTTP/1.1', sourceIp: r.sourceIp, userAgent: r.userAgent };
  context.requestId = r.requestId;
  context.routeKey = routeKey;
  context.stage = '$default';
  context.time = clfTime(r.timeEpochMs);
  context.timeEpoch = r.timeEpochMs;
  event.requestContext = context;
  if (r.body.length > 0) event.body = binary ? r.body.toString('base64') : r.body.toString('utf8');
  if (Object.keys(r.pathParameters).length > 0) event.pathParameters = r.pathParameters;
  event.isBase64Encoded = binary;
  return JSON.stringify(event);
}

test('format 2.0 JSON text is byte for byte what JSON.stringify of the event object gave: escapes, repeats, cookies, query, authorizers, bodies', () => {
  const jwt = { principalId: 'alice', consumerId: 'c-1', credentialId: 'jwt-1', context: {}, claims: { sub: 'u"1', scope: 'read write', nested: { a: [1, 'b\n'] } } };
  const lambda = { principalId: 'bob', consumerId: 'c-2', credentialId: 'k-2', context: { 'x-tier': 'gold "plus"' }, claims: null };
  const cases: Partial<LambdaRequest>[] = [
    {},
    { query: '', headers: [], body: Buffer.alloc(0), pathParameters: {} },
    // What a plain GET through the proxy carries: no repeats, nothing to escape.
    { method: 'GET', query: '', headers: ['host', 'api.example.com:8443', 'x-forwarded-for', '127.0.0.1', 'x-forwarded-proto', 'http', 'x-forwarded-port', '8443'], body: Buffer.alloc(0), routeTemplate: '/fn', anyMethod: true },
    // Quotes, backslashes, control characters, non-ASCII, a surrogate pair and lone surrogates, U+2028, DEL.
    { path: '/p/"q"\\x', headers: ['x-a', 'tab\there', 'x-b', 'é€😀', 'x-c', 'lone \ud800 and \udfff', 'x-d', 'line\u2028sep\u007f', 'x-e', '"quoted"'], userAgent: 'agent "1.0" \\ \u0001' },
    // Repeated names (joined, in first-seen order), cookies in two headers with empty parts.
    { headers: ['accept', 'a', 'x-r', '1', 'cookie', 'a=1; ; b=2', 'accept', 'b', 'x-r', '2', 'cookie', 'c=3;'] },
    { query: 'a=1&a=2&b=%22x%22&c&%E2%82%AC=%F0%9F%98%80&d=a+b', headers: ['content-type', 'application/json'], body: Buffer.from('{"k":"v\n"}') },
    { headers: ['content-type', 'image/png'], body: Buffer.from([0xff, 0x00, 0x22, 0x5c]) },
    { headers: [], body: Buffer.from([0xc3, 0x28]) },
    { authorizer: jwt },
    { authorizer: lambda },
    { pathParameters: { id: '7', 'we"ird': 'v\\' }, routeTemplate: '/items/{id}', anyMethod: false, method: 'DELETE' },
    { domainName: 'localhost', sourceIp: '::1', requestId: 'req "id"', serviceId: 's\\1', routeTemplate: '/a/{rest+}' },
    { timeEpochMs: 0 },
  ];
  for (const over of cases) {
    const r = exampleRequest(over);
    assert.equal(eventV2Json(r), referenceV2(r), JSON.stringify(over));
    JSON.parse(eventV2Json(r));
  }
});

test('format 2.0: a header named like an Object.prototype member is an ordinary header', () => {
  // The object form read `constructor` through the prototype (its value came out as Object's source text) and
  // dropped `__proto__`; the JSON text has both as sent.
  const e = eventV2(exampleRequest({ headers: ['constructor', 'a', '__proto__', 'b', 'constructor', 'c'] })) as { headers: Record<string, string> };
  assert.equal(e.headers.constructor, 'a,c');
  assert.equal(Object.getOwnPropertyDescriptor(e.headers, '__proto__')?.value, 'b');
});
