// The events against AWS's own examples (API Gateway developer guide, "Create AWS Lambda proxy integrations for
// HTTP APIs": the payload format 1.0 and 2.0 structures), built from the request those examples describe.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { awsRouteTemplate, clfTime, compileBinaryMediaTypes, eventV1, eventV2, isBinaryV1, isBinaryV2, type LambdaRequest } from './event.js';

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
