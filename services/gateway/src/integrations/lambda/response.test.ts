// Function answers → HTTP responses, with AWS's documented output formats (API Gateway developer guide: "Output
// format of a Lambda function for proxy integration" for 1.0, and the HTTP API 2.0 response format and its
// inference examples).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MalformedResponse, responseV1, responseV2, type LambdaHttpResponse } from './response.js';

const json = (v: unknown): Buffer => Buffer.from(JSON.stringify(v));
function ok(r: LambdaHttpResponse | MalformedResponse): LambdaHttpResponse {
  if (r instanceof MalformedResponse) assert.fail(`malformed: ${r.reason}`);
  return r;
}
function malformed(r: LambdaHttpResponse | MalformedResponse): string {
  assert.ok(r instanceof MalformedResponse, 'expected a malformed response');
  return r.reason;
}

test('1.0: statusCode, headers and multiValueHeaders merged (multi wins a name in both), base64 body decoded', () => {
  const r = ok(
    responseV1(
      json({
        isBase64Encoded: true,
        statusCode: 200,
        headers: { 'Content-Type': 'image/png', 'X-Both': 'single' },
        multiValueHeaders: { 'Set-Cookie': ['a=1', 'b=2'], 'X-Both': ['m1', 'm2'] },
        body: Buffer.from([1, 2, 3]).toString('base64'),
      }),
    ),
  );
  assert.equal(r.status, 200);
  assert.deepEqual(r.headers, ['content-type', 'image/png', 'set-cookie', 'a=1', 'set-cookie', 'b=2', 'x-both', 'm1', 'x-both', 'm2', 'content-length', '3']);
  assert.deepEqual([...r.body], [1, 2, 3]);
});

test('1.0: a body-less answer, numbers as header values, and the function cannot set framing headers', () => {
  const r = ok(responseV1(json({ statusCode: 204, headers: { 'x-count': 3, 'Content-Length': '99', 'Transfer-Encoding': 'chunked' } })));
  assert.equal(r.status, 204);
  assert.deepEqual(r.headers, ['x-count', '3', 'content-length', '0']);
  assert.equal(r.body.length, 0);
});

test('1.0: anything but an object with a valid statusCode is a malformed proxy response', () => {
  assert.match(malformed(responseV1(json('Hello from Lambda!'))), /object with statusCode/);
  assert.match(malformed(responseV1(json({ body: 'x' }))), /statusCode/);
  assert.match(malformed(responseV1(json({ statusCode: 700 }))), /statusCode/);
  assert.match(malformed(responseV1(json({ statusCode: 200, body: { a: 1 } }))), /body must be a string/);
  assert.match(malformed(responseV1(json({ statusCode: 200, headers: ['x'] }))), /headers must be an object/);
  assert.match(malformed(responseV1(json({ statusCode: 200, multiValueHeaders: { a: 'b' } }))), /must be an array/);
  assert.match(malformed(responseV1(Buffer.from('not json'))), /JSON/);
});

test('header values with CR/LF or names that are not tokens are refused, never written', () => {
  assert.match(malformed(responseV2(json({ statusCode: 200, headers: { 'x-a': 'v\r\nset-cookie: x=1' } }))), /control character/);
  assert.match(malformed(responseV2(json({ statusCode: 200, headers: { 'bad name': 'v' } }))), /not a valid token/);
  assert.match(malformed(responseV2(json({ statusCode: 200, cookies: ['a=1\nb'] }))), /control character/);
});

test("2.0: AWS's structured example: cookies become Set-Cookie lines", () => {
  const r = ok(responseV2(json({ cookies: ['cookie1', 'cookie2'], isBase64Encoded: false, statusCode: 201, headers: { headername: 'headervalue' }, body: 'Hello from Lambda!' })));
  assert.equal(r.status, 201);
  assert.deepEqual(r.headers, ['headername', 'headervalue', 'set-cookie', 'cookie1', 'set-cookie', 'cookie2', 'content-length', '18']);
  assert.equal(r.body.toString(), 'Hello from Lambda!');
});

test("2.0: AWS's inference examples: a string is the body as is, JSON without statusCode the body as JSON, both 200 application/json", () => {
  const s = ok(responseV2(json('Hello from Lambda!')));
  assert.equal(s.status, 200);
  assert.deepEqual(s.headers, ['content-type', 'application/json', 'content-length', '18']);
  assert.equal(s.body.toString(), 'Hello from Lambda!');
  const o = ok(responseV2(json({ message: 'Hello from Lambda!' })));
  assert.equal(o.status, 200);
  assert.deepEqual(JSON.parse(o.body.toString()), { message: 'Hello from Lambda!' });
  for (const v of [null, 42, true, [1, 2]]) {
    const r = ok(responseV2(json(v)));
    assert.equal(r.status, 200);
    assert.deepEqual(JSON.parse(r.body.toString()), v);
  }
});

test('2.0: a statusCode that is present but invalid, or a body that is not a string, is malformed', () => {
  assert.match(malformed(responseV2(json({ statusCode: 'abc' }))), /statusCode/);
  assert.match(malformed(responseV2(json({ statusCode: 200, isBase64Encoded: 'yes', body: 'x' }))), /isBase64Encoded/);
  assert.match(malformed(responseV2(json({ statusCode: 200, cookies: 'a=1' }))), /cookies/);
});
