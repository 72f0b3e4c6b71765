// Stored AWS credentials of lambda integrations through the REST admin API, against real PostgreSQL and
// NATS: the secret access key and session token are write-only (responses say secret_set), sealed with the
// keyring bound to the service id in the data plane's entry (never the plain secret), kept by writes that
// omit them, and required again when the access key id changes; websocket-api lambda routes the same.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { entityKey, generateSecretKey, isSealed, keyringOf, open, type ConfigEnvelope, type Keyring, type LambdaCredentials } from '@turnpike/common';
import { waitFor } from '@turnpike/common/testing';
import { adminClients, type AdminClients } from './grpc-client.js';
import { startHarness, type Harness } from './support.js';

const KEY_ID = 'ASIASTOREDLAMBDA0001';
const SECRET = 'stored/lambda+secret-0123456789';
const TOKEN = 'stored-session-token-abcdef';

describe('lambda integration credentials', { timeout: 60_000 }, () => {
  let h: Harness;
  let keyring: Keyring;
  let c: AdminClients;
  before(async () => {
    keyring = keyringOf(generateSecretKey());
    h = await startHarness({ keyring });
    c = adminClients(h.cp.grpcPort, h.token);
  });
  after(async () => {
    c?.close();
    await h?.close();
  });

  const lambda = (extra: Record<string, unknown> = {}) => ({ type: 'lambda', function_name: 'orders', region: 'eu-west-1', timeout_ms: 3_000, ...extra });
  const paths = (r: { json: { error: { fields?: Array<{ path: string }> } } }): string[] => (r.json.error.fields ?? []).map((f) => f.path);
  /** The service's KV entry once it carries revision `min` or later, and its raw text. */
  const published = async (id: string, updatedAt: string) =>
    await waitFor('the service on the bus', async () => {
      const raw = await h.bus.get(entityKey('services', id));
      if (!raw) return undefined;
      const env = JSON.parse(raw) as ConfigEnvelope;
      return (env.data as { updated_at: string }).updated_at === updatedAt ? { raw, data: env.data as { integration: { credentials?: LambdaCredentials; routes?: Record<string, { credentials?: LambdaCredentials }> } } } : undefined;
    });

  it('write → the API shows secret_set, never the secret; the KV entry holds it sealed to the service id; a patch without it keeps it', async () => {
    const created = await h.rest('POST', '/v1/services', { name: 'lc-svc', integration: lambda({ credentials: { access_key_id: KEY_ID, secret_access_key: SECRET, session_token: TOKEN } }) });
    assert.equal(created.status, 201, created.text);
    const id = created.json.id as string;
    assert.deepEqual(created.json.integration.credentials, { access_key_id: KEY_ID, secret_set: true, session_token_set: true });
    const got = await h.rest('GET', `/v1/services/${id}`);
    assert.equal(got.status, 200);
    assert.deepEqual(got.json.integration.credentials, { access_key_id: KEY_ID, secret_set: true, session_token_set: true });
    for (const r of [created, got]) {
      assert.ok(!r.text.includes(SECRET) && !r.text.includes(TOKEN), 'no secret in the response');
      assert.ok(!r.text.includes('"sealed"'), 'no sealed value in the response');
    }

    const kv = await published(id, created.json.updated_at as string);
    assert.ok(!kv.raw.includes(SECRET) && !kv.raw.includes(TOKEN), 'the KV entry holds no plain secret');
    const sealed = kv.data.integration.credentials!.sealed!;
    assert.ok(isSealed(sealed.secret_access_key) && isSealed(sealed.session_token));
    assert.equal(open(keyring, sealed.secret_access_key, id), SECRET);
    assert.equal(open(keyring, sealed.session_token!, id), TOKEN);
    assert.throws(() => open(keyring, sealed.secret_access_key, 'another-service'), /failed authentication/);

    // A patch of another field, and one that rewrites the integration without the secret: both keep it.
    const tagged = await h.rest('PATCH', `/v1/services/${id}`, { tags: ['kept'] });
    assert.equal(tagged.status, 200, tagged.text);
    assert.deepEqual(tagged.json.integration.credentials, { access_key_id: KEY_ID, secret_set: true, session_token_set: true });
    const patched = await h.rest('PATCH', `/v1/services/${id}`, { integration: lambda({ timeout_ms: 9_000, credentials: { access_key_id: KEY_ID } }) });
    assert.equal(patched.status, 200, patched.text);
    assert.equal(patched.json.integration.timeout_ms, 9_000);
    assert.deepEqual(patched.json.integration.credentials, { access_key_id: KEY_ID, secret_set: true, session_token_set: true });
    const kept = await published(id, patched.json.updated_at as string);
    assert.equal(open(keyring, kept.data.integration.credentials!.sealed!.secret_access_key, id), SECRET);
    assert.equal(open(keyring, kept.data.integration.credentials!.sealed!.session_token!, id), TOKEN);

    // Rotation: a new secret without a token drops the old token (it belonged to the old key pair).
    const rotated = await h.rest('PATCH', `/v1/services/${id}`, { integration: lambda({ credentials: { access_key_id: 'AKIAROTATEDKEY000001', secret_access_key: 'new-secret' } }) });
    assert.equal(rotated.status, 200, rotated.text);
    assert.deepEqual(rotated.json.integration.credentials, { access_key_id: 'AKIAROTATEDKEY000001', secret_set: true, session_token_set: false });
    const now = await published(id, rotated.json.updated_at as string);
    assert.equal(open(keyring, now.data.integration.credentials!.sealed!.secret_access_key, id), 'new-secret');
    assert.equal(now.data.integration.credentials!.sealed!.session_token, null);

    // Without credentials the integration signs with the node's environment again.
    const cleared = await h.rest('PATCH', `/v1/services/${id}`, { integration: lambda() });
    assert.equal(cleared.status, 200, cleared.text);
    assert.equal(cleared.json.integration.credentials, undefined);
  });

  it('422: no secret to use (first write, or a changed access key id), or a client-supplied sealed value', async () => {
    const none = await h.rest('POST', '/v1/services', { name: 'lc-none', integration: lambda({ credentials: { access_key_id: KEY_ID } }) });
    assert.equal(none.status, 422, none.text);
    assert.deepEqual(paths(none), ['/integration/credentials/secret_access_key']);
    const forged = { access_key_id: KEY_ID, sealed: { secret_access_key: { v: 1, kid: 'k', iv: 'a', tag: 'b', ct: 'c' }, session_token: null } };
    const sealedIn = await h.rest('POST', '/v1/services', { name: 'lc-forged', integration: lambda({ credentials: forged }) });
    assert.equal(sealedIn.status, 422, sealedIn.text);
    assert.deepEqual(paths(sealedIn), ['/integration/credentials/sealed']);

    const ok = await h.rest('POST', '/v1/services', { name: 'lc-key', integration: lambda({ credentials: { access_key_id: KEY_ID, secret_access_key: SECRET } }) });
    assert.equal(ok.status, 201, ok.text);
    const changed = await h.rest('PATCH', `/v1/services/${ok.json.id}`, { integration: lambda({ credentials: { access_key_id: 'AKIAOTHERKEY00000001' } }) });
    assert.equal(changed.status, 422, changed.text);
    assert.deepEqual(paths(changed), ['/integration/credentials/secret_access_key']);
  });

  it('gRPC: the credentials message is write-only the same way', async () => {
    const created = await c.services('CreateService', { name: 'lc-grpc', integration: lambda({ credentials: { access_key_id: KEY_ID, secret_access_key: SECRET, session_token: TOKEN } }) });
    const got = await c.services('GetService', { id: created.id });
    for (const s of [created, got]) {
      const creds = (s.integration as { credentials: Record<string, unknown> }).credentials;
      assert.deepEqual({ ...creds }, { access_key_id: KEY_ID, secret_set: true, session_token_set: true });
    }
    const kv = await published(created.id as string, got.updated_at as string);
    assert.equal(open(keyring, kv.data.integration.credentials!.sealed!.secret_access_key, created.id as string), SECRET);
  });

  it('websocket-api lambda routes store credentials the same way', async () => {
    const route = { type: 'lambda', function_name: 'chat', region: 'eu-west-1', timeout_ms: 3_000 };
    const integration = (creds: Record<string, unknown>) => ({ type: 'websocket-api', route_selection_expression: '$request.body.action', routes: { $default: { ...route, credentials: creds } } });
    const r = await h.rest('POST', '/v1/services', { name: 'lc-ws', integration: integration({ access_key_id: KEY_ID, secret_access_key: SECRET }) });
    assert.equal(r.status, 201, r.text);
    assert.deepEqual(r.json.integration.routes.$default.credentials, { access_key_id: KEY_ID, secret_set: true, session_token_set: false });
    assert.ok(!r.text.includes(SECRET));
    const id = r.json.id as string;
    const kv = await published(id, r.json.updated_at as string);
    assert.equal(open(keyring, kv.data.integration.routes!.$default!.credentials!.sealed!.secret_access_key, id), SECRET);
    const kept = await h.rest('PATCH', `/v1/services/${id}`, { integration: integration({ access_key_id: KEY_ID }) });
    assert.equal(kept.status, 200, kept.text);
    const after = await published(id, kept.json.updated_at as string);
    assert.equal(open(keyring, after.data.integration.routes!.$default!.credentials!.sealed!.secret_access_key, id), SECRET);
  });
});
