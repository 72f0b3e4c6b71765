// Which credentials a lambda integration signs with: stored ones (opened with the keyring, context = the
// service id) before the environment's; stored ones this node cannot open never fall back to the
// environment. A websocket-api lambda route's invoker signs with its stored key (checked by the Invoke API
// stand-in, which lets only that key call the function).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { generateSecretKey, keyringOf, seal, type Keyring, type LambdaCredentials } from '@turnpike/common';
import { startFakeLambda, type FakeLambda } from '../../../test/fixtures/fake-lambda.js';
import { compileWsApi } from '../../websocket-api/compiled.js';
import { lambdaCredentials, NO_ENV_CREDENTIALS } from './credentials.js';

const SERVICE = '6a1f3f8e-4c1b-4d7e-9a55-0d3c2b1a0f11';
const ENV = { AWS_ACCESS_KEY_ID: 'AKIAENVIRONMENTKEY01', AWS_SECRET_ACCESS_KEY: 'env-secret' };
const ring: Keyring = keyringOf(generateSecretKey());
const stored = (r: Keyring = ring, id = SERVICE, token: string | null = 'tok'): LambdaCredentials => ({
  access_key_id: 'ASIASTOREDKEYUNIT001',
  secret_set: true,
  session_token_set: token !== null,
  sealed: { secret_access_key: seal(r, 'stored-secret', id), session_token: token === null ? null : seal(r, token, id) },
});

test('stored credentials come before the environment', () => {
  const r = lambdaCredentials(stored(), SERVICE, ring, ENV);
  assert.deepEqual(r, { credentials: { accessKeyId: 'ASIASTOREDKEYUNIT001', secretAccessKey: 'stored-secret', sessionToken: 'tok' }, missing: null });
  assert.equal(lambdaCredentials(stored(ring, SERVICE, null), SERVICE, ring, ENV).credentials?.sessionToken, null);
});

test('without stored credentials: the environment, or the missing-credentials message', () => {
  assert.deepEqual(lambdaCredentials(undefined, SERVICE, ring, ENV).credentials, { accessKeyId: ENV.AWS_ACCESS_KEY_ID, secretAccessKey: ENV.AWS_SECRET_ACCESS_KEY, sessionToken: null });
  assert.deepEqual(lambdaCredentials(undefined, SERVICE, null, {}), { credentials: null, missing: NO_ENV_CREDENTIALS });
});

test('stored credentials this node cannot open: no keyring, another key, another service id; never the environment', () => {
  const noRing = lambdaCredentials(stored(), SERVICE, null, ENV);
  assert.equal(noRing.credentials, null);
  assert.match(noRing.missing!, /cannot open the integration's stored AWS credentials: it has no secret key/);
  const otherKey = lambdaCredentials(stored(keyringOf(generateSecretKey())), SERVICE, ring, ENV);
  assert.equal(otherKey.credentials, null);
  assert.match(otherKey.missing!, /cannot open/);
  // Sealed for another service: copying the sealed value between services does not carry the secret over.
  const moved = lambdaCredentials(stored(ring, 'another-service'), SERVICE, ring, ENV);
  assert.equal(moved.credentials, null);
  assert.match(moved.missing!, /cannot open/);
});

let fake: FakeLambda;
before(async () => {
  fake = await startFakeLambda({ region: 'eu-west-1', keys: { ASIASTOREDKEYUNIT001: 'stored-secret', [ENV.AWS_ACCESS_KEY_ID]: ENV.AWS_SECRET_ACCESS_KEY }, tokens: { ASIASTOREDKEYUNIT001: 'tok' } });
  fake.functions.set('chat', { handler: () => ({ statusCode: 200, body: 'hi' }), accessKeyIds: ['ASIASTOREDKEYUNIT001'] });
});
after(() => fake.close());

test('websocket-api: a lambda route with stored credentials invokes with them; one it cannot open is unavailable with the reason', async () => {
  const integration = (credentials: LambdaCredentials) => ({
    type: 'websocket-api' as const,
    route_selection_expression: '$default',
    routes: { $default: { type: 'lambda' as const, function_name: 'chat', region: 'eu-west-1', endpoint_url: fake.url, timeout_ms: 2_000, credentials } },
  });
  const api = compileWsApi(integration(stored()), () => undefined, { serviceId: SERVICE, keyring: ring });
  assert.ok(typeof api !== 'string');
  const route = api.fallback!;
  assert.equal(route.unavailable, null);
  const out = await route.invoker!.invoke('{"requestContext":{}}');
  assert.deepEqual(JSON.parse(out.payload.toString('utf8')), { statusCode: 200, body: 'hi' });
  assert.equal(fake.badSignatures, 0);

  const locked = compileWsApi(integration(stored()), () => undefined, { serviceId: SERVICE, keyring: null });
  assert.ok(typeof locked !== 'string');
  assert.equal(locked.fallback!.invoker, null);
  assert.match(locked.fallback!.unavailable!, /no secret key/);
});
