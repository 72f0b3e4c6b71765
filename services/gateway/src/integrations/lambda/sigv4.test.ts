// SigV4 against the official AWS Signature Version 4 test suite (AKIDEXAMPLE, 2015-08-30T12:36:00Z,
// us-east-1, service "service"): canonical requests, strings to sign and Authorization headers as published.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { canonicalQuery, canonicalRequest, canonicalUri, credentialScope, FixedRequestSigner, parseAuthorization, sign, stringToSign, EMPTY_SHA256, SigningKeyCache } from './sigv4.js';

const credentials = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' };
const at = new Date(Date.UTC(2015, 7, 30, 12, 36, 0));
const opts = { region: 'us-east-1', service: 'service', credentials, at };
const HOST = { host: 'example.amazonaws.com' };

test('get-vanilla: canonical request, string to sign and Authorization header match the AWS suite', () => {
  const req = { method: 'GET', path: '/', query: '', headers: HOST, body: '' };
  const headers = sign(req, opts);
  const { text } = canonicalRequest({ ...req, headers: { ...HOST, 'x-amz-date': '20150830T123600Z' } });
  assert.equal(text, `GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n${EMPTY_SHA256}`);
  assert.equal(
    stringToSign('20150830T123600Z', credentialScope('20150830T123600Z', 'us-east-1', 'service'), text),
    'AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\nbb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63',
  );
  assert.equal(
    headers.authorization,
    'AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31',
  );
  assert.equal(headers['x-amz-date'], '20150830T123600Z');
});

test('get-vanilla-query-order-key-case: query parameters are sorted by name before signing', () => {
  assert.equal(canonicalQuery('Param2=value2&Param1=value1'), 'Param1=value1&Param2=value2');
  const headers = sign({ method: 'GET', path: '/', query: 'Param2=value2&Param1=value1', headers: HOST, body: '' }, opts);
  assert.equal(
    headers.authorization,
    'AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500',
  );
});

test('post-vanilla: the method is part of the signature', () => {
  const headers = sign({ method: 'POST', path: '/', query: '', headers: HOST, body: '' }, opts);
  assert.equal(
    headers.authorization,
    'AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b',
  );
});

test('get-utf8: a non-ASCII path is percent-encoded as UTF-8 in the canonical URI', () => {
  assert.equal(canonicalUri('/\u1234'), '/%E1%88%B4');
  const headers = sign({ method: 'GET', path: '/\u1234', query: '', headers: HOST, body: '' }, opts);
  assert.equal(
    headers.authorization,
    'AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85',
  );
});

test('an encoded path is encoded again (non-S3 services) and a session token is signed', () => {
  assert.equal(canonicalUri('/2015-03-31/functions/arn%3Aaws%3Alambda/invocations'), '/2015-03-31/functions/arn%253Aaws%253Alambda/invocations');
  const headers = sign({ method: 'POST', path: '/', query: '', headers: HOST, body: '{}' }, { ...opts, credentials: { ...credentials, sessionToken: 'TOKEN' } });
  assert.equal(headers['x-amz-security-token'], 'TOKEN');
  const parsed = parseAuthorization(headers.authorization!);
  assert.deepEqual(parsed?.signedHeaders, ['host', 'x-amz-date', 'x-amz-security-token']);
  assert.equal(parsed?.scope, '20150830/us-east-1/service/aws4_request');
});

test('the signing key cache gives the same signature as a fresh key, and a new one for another day', () => {
  const keys = new SigningKeyCache();
  const req = { method: 'GET', path: '/', query: '', headers: HOST, body: '' };
  assert.equal(sign(req, { ...opts, keys }).authorization, sign(req, opts).authorization);
  const nextDay = new Date(at.getTime() + 86_400_000);
  assert.equal(sign(req, { ...opts, at: nextDay, keys }).authorization, sign(req, { ...opts, at: nextDay }).authorization);
});

test('get-vanilla through FixedRequestSigner: the suite\'s Authorization, the same for repeated calls', () => {
  const signer = new FixedRequestSigner({ method: 'GET', path: '/', query: '', headers: HOST }, { region: 'us-east-1', service: 'service', credentials });
  for (let i = 0; i < 2; i++) {
    const h = signer.sign(Buffer.alloc(0), at.getTime() + 999);
    assert.deepEqual(h.slice(0, 4), ['host', 'example.amazonaws.com', 'x-amz-date', '20150830T123600Z']);
    assert.equal(
      h[5],
      'AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31',
    );
  }
});

test('FixedRequestSigner signs exactly as sign() does: path and query encoding, session token, bodies, a new second and day', () => {
  const req = { method: 'POST', path: '/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Afn/invocations', query: 'Qualifier=live', headers: { host: 'lambda.us-east-1.amazonaws.com', 'content-type': 'application/json', 'x-amz-invocation-type': 'Event' } };
  const session = { ...credentials, sessionToken: 'FQoGZXIvYXdzEXAMPLETOKEN' };
  for (const creds of [credentials, session]) {
    const signer = new FixedRequestSigner(req, { region: 'us-east-1', service: 'lambda', credentials: creds });
    for (const [ms, body] of [[at.getTime(), '{}'], [at.getTime() + 1500, '{"a":"é"}'], [at.getTime() + 86_400_000, '']] as const) {
      const fast = signer.sign(Buffer.from(body), ms);
      const slow = sign({ ...req, body: Buffer.from(body) }, { region: 'us-east-1', service: 'lambda', credentials: creds, at: new Date(Math.floor(ms / 1000) * 1000) });
      const asObject: Record<string, string> = {};
      for (let i = 0; i < fast.length; i += 2) asObject[fast[i]!] = fast[i + 1]!;
      assert.deepEqual(asObject, slow);
    }
  }
});
