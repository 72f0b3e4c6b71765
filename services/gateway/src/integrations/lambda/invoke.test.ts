// The Invoke client against a local server speaking the Lambda Invoke API wire format that verifies every
// request's SigV4 signature (test/fixtures/fake-lambda.ts).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startFakeLambda, type FakeLambda } from '../../../test/fixtures/fake-lambda.js';
import { credentialsFromEnv, endpointOf, invocationPath, LambdaInvokeError, LambdaInvoker } from './invoke.js';

const KEY = { accessKeyId: 'AKIAFAKELAMBDATEST01', secretAccessKey: 'fake/secret+key' };
let lambda: FakeLambda;

before(async () => {
  lambda = await startFakeLambda({ region: 'eu-west-1', keys: { [KEY.accessKeyId]: KEY.secretAccessKey, AKIASESSIONKEYTEST01: 'session-secret' } });
  lambda.functions.set('echo', { handler: (event, meta) => ({ got: event, qualifier: meta.qualifier }) });
  lambda.functions.set('arn:aws:lambda:eu-west-1:123456789012:function:named', { handler: () => 'by-arn' });
  lambda.functions.set('boom', {
    handler: () => {
      throw new Error('Unauthorized');
    },
  });
  lambda.functions.set('busy', { handler: () => null, throttle: true });
});
after(() => lambda.close());

function invoker(functionName: string, over: Partial<{ qualifier: string | null; credentials: typeof KEY & { sessionToken?: string }; timeoutMs: number; endpoint: string }> = {}) {
  return new LambdaInvoker(
    { functionName, region: 'eu-west-1', qualifier: over.qualifier ?? null, endpoint: over.endpoint ?? lambda.url },
    over.credentials ?? KEY,
    { timeoutMs: over.timeoutMs ?? 1000 },
  );
}

test('a signed RequestResponse invocation returns the function result, with the qualifier sent', async () => {
  const r = await invoker('echo', { qualifier: 'live' }).invoke(JSON.stringify({ a: 1 }));
  assert.equal(r.status, 200);
  assert.equal(r.functionError, null);
  assert.equal(r.executedVersion, 'live');
  assert.deepEqual(JSON.parse(r.payload.toString()), { got: { a: 1 }, qualifier: 'live' });
  assert.equal(lambda.badSignatures, 0);
});

test('a full ARN as function name is encoded in the path and still verifies (double-encoded canonical URI)', async () => {
  const r = await invoker('arn:aws:lambda:eu-west-1:123456789012:function:named').invoke('{}');
  assert.equal(JSON.parse(r.payload.toString()), 'by-arn');
  assert.equal(lambda.badSignatures, 0);
});

test('session credentials are accepted with their security token signed', async () => {
  const r = await invoker('echo', { credentials: { accessKeyId: 'AKIASESSIONKEYTEST01', secretAccessKey: 'session-secret', sessionToken: 'tok' } }).invoke('1');
  assert.equal(r.status, 200);
});

test('a wrong secret is refused by the server as a bad signature (aws error, 403)', async () => {
  const before = lambda.badSignatures;
  await assert.rejects(invoker('echo', { credentials: { ...KEY, secretAccessKey: 'wrong' } }).invoke('{}'), (e: unknown) => {
    assert.ok(e instanceof LambdaInvokeError);
    assert.equal(e.kind, 'aws');
    assert.equal(e.status, 403);
    assert.equal(e.awsType, 'InvalidSignatureException');
    return true;
  });
  assert.equal(lambda.badSignatures, before + 1);
});

test('a function that throws is a result with functionError Unhandled and its error payload', async () => {
  const r = await invoker('boom').invoke('{}');
  assert.equal(r.status, 200);
  assert.equal(r.functionError, 'Unhandled');
  assert.equal((JSON.parse(r.payload.toString()) as { errorMessage: string }).errorMessage, 'Unauthorized');
});

test('429 is a throttled error, an unknown function an aws error with its type', async () => {
  await assert.rejects(invoker('busy').invoke('{}'), (e: unknown) => e instanceof LambdaInvokeError && e.kind === 'throttled' && e.status === 429 && e.awsType === 'TooManyRequestsException');
  await assert.rejects(invoker('missing').invoke('{}'), (e: unknown) => e instanceof LambdaInvokeError && e.kind === 'aws' && e.status === 404 && e.awsType === 'ResourceNotFoundException');
});

test('no answer within timeoutMs is a timeout; a closed port is a network error', async () => {
  const silent = createServer(() => {
    /* never answers */
  });
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  const port = (silent.address() as AddressInfo).port;
  try {
    const t0 = Date.now();
    await assert.rejects(invoker('echo', { endpoint: `http://127.0.0.1:${port}`, timeoutMs: 150 }).invoke('{}'), (e: unknown) => e instanceof LambdaInvokeError && e.kind === 'timeout');
    assert.ok(Date.now() - t0 < 1000);
  } finally {
    silent.closeAllConnections();
    await new Promise<void>((r) => silent.close(() => r()));
  }
  await assert.rejects(invoker('echo', { endpoint: `http://127.0.0.1:${port}` }).invoke('{}'), (e: unknown) => e instanceof LambdaInvokeError && e.kind === 'network');
});

test('the default endpoint is the regional AWS one, a path prefix of an override is kept', () => {
  const t = { functionName: 'f:1', region: 'us-east-2', qualifier: '$LATEST', endpoint: null };
  assert.equal(endpointOf(t).href, 'https://lambda.us-east-2.amazonaws.com/');
  assert.deepEqual(invocationPath(t, endpointOf(t)), { path: '/2015-03-31/functions/f%3A1/invocations', query: 'Qualifier=%24LATEST' });
  const o = { ...t, endpoint: 'http://emulator:9001/lambda/' };
  assert.equal(invocationPath(o, endpointOf(o)).path, '/lambda/2015-03-31/functions/f%3A1/invocations');
});

test('credentials come from AWS_* environment variables, or none', () => {
  assert.deepEqual(credentialsFromEnv({ AWS_ACCESS_KEY_ID: 'A', AWS_SECRET_ACCESS_KEY: 'S', AWS_SESSION_TOKEN: 'T' }), { accessKeyId: 'A', secretAccessKey: 'S', sessionToken: 'T' });
  assert.equal(credentialsFromEnv({ AWS_ACCESS_KEY_ID: 'A' }), null);
});
