// LambdaClient over both dispatchers the node uses (the h1 client for http endpoints, undici's Pool for https
// ones, here against http), against the Invoke API stand-in that checks signatures with AWS's own signer.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Pool } from 'undici';
import { startFakeLambda, type FakeLambda } from '../../../test/fixtures/fake-lambda.js';
import { H1Pool } from '../../upstream/h1-client.js';
import type { InvokeResult, LambdaInvokeError } from './invoke.js';
import { LambdaClient, type InvocationType, type InvokeDispatcher } from './invocation.js';

const KEY = { accessKeyId: 'AKIAINVOCATIONTEST01', secretAccessKey: 'invocation-secret' };
let lambda: FakeLambda;
const pools: { close(): Promise<void> }[] = [];

before(async () => {
  lambda = await startFakeLambda({ region: 'us-east-1', keys: { [KEY.accessKeyId]: KEY.secretAccessKey } });
  lambda.functions.set('echo', { handler: (event, meta) => ({ event, qualifier: meta.qualifier }) });
  lambda.functions.set('slow', { handler: () => 'late', delayMs: 1_000 });
});
after(async () => {
  await Promise.all(pools.map((p) => p.close()));
  await lambda.close();
});

function dispatchers(): [string, InvokeDispatcher][] {
  const h1 = new H1Pool(lambda.url, { connections: 4 });
  const undici = new Pool(lambda.url, { connections: 4 });
  pools.push(h1, undici);
  return [
    ['h1', h1 as unknown as InvokeDispatcher],
    ['undici', undici],
  ];
}

function send(client: LambdaClient, payload: string): Promise<{ error: LambdaInvokeError | null; result: InvokeResult | null }> {
  return new Promise((resolve) => client.send(Buffer.from(payload), (error, result) => resolve({ error, result })));
}

function client(d: InvokeDispatcher, functionName: string, over: { qualifier?: string; timeoutMs?: number; invocationType?: InvocationType } = {}): LambdaClient {
  return new LambdaClient(
    { functionName, region: 'us-east-1', qualifier: over.qualifier ?? null, endpoint: lambda.url },
    KEY,
    { timeoutMs: over.timeoutMs ?? 5_000, invocationType: over.invocationType ?? 'RequestResponse' },
    d,
  );
}

test('a signed invocation with a qualifier and an Event invocation, through both dispatchers', async () => {
  for (const [name, d] of dispatchers()) {
    const { error, result } = await send(client(d, 'echo', { qualifier: 'blue' }), '{"x":1}');
    assert.equal(error, null, name);
    assert.equal(result!.status, 200);
    assert.deepEqual(JSON.parse(result!.payload.toString()), { event: { x: 1 }, qualifier: 'blue' });
    assert.equal(result!.executedVersion, 'blue');
    const ev = await send(client(d, 'echo', { invocationType: 'Event' }), '{"y":2}');
    assert.equal(ev.result!.status, 202, name);
    assert.equal(ev.result!.payload.length, 0);
    assert.equal(lambda.calls.at(-1)!.invocationType, 'Event');
  }
  assert.equal(lambda.badSignatures, 0);
});

test('a text payload (the event JSON as written) goes as UTF-8, signed over its bytes, through both dispatchers', async () => {
  const bad = lambda.badSignatures;
  for (const [name, d] of dispatchers()) {
    const text = JSON.stringify({ path: '/é€😀', q: '"quoted"\n' });
    const { error, result } = await new Promise<{ error: LambdaInvokeError | null; result: InvokeResult | null }>((resolve) =>
      client(d, 'echo').send(text, (error, result) => resolve({ error, result })),
    );
    assert.equal(error, null, name);
    assert.deepEqual(JSON.parse(result!.payload.toString()).event, JSON.parse(text), name);
  }
  assert.equal(lambda.badSignatures, bad, 'every signature verified');
});

test('timeouts, API errors and a cancelled call (done never called) through both dispatchers', async () => {
  for (const [name, d] of dispatchers()) {
    const t0 = Date.now();
    const slow = await send(client(d, 'slow', { timeoutMs: 200 }), '{}');
    assert.equal(slow.error?.kind, 'timeout', name);
    assert.ok(Date.now() - t0 < 900, `${name}: ${Date.now() - t0} ms`);
    const missing = await send(client(d, 'nope'), '{}');
    assert.equal(missing.error?.kind, 'aws', name);
    assert.equal(missing.error?.awsType, 'ResourceNotFoundException');
    let called = false;
    const cancel = client(d, 'slow').send(Buffer.from('{}'), () => (called = true));
    cancel();
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(called, false, name);
  }
});
