// Sealing plugin config secrets (PluginType.secretFields) with real keyrings: oauth2-introspection's top-level
// client_secret (with its client_secret_set marker) and custom-authorizer's nested AWS secret key.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { customAuthorizerPlugin, generateSecretKey, isSealed, keyringOf, oauth2IntrospectionPlugin, open, type Keyring } from '@turnpike/common';
import { TurnpikeError } from '@turnpike/common';
import { pluginDataPlane, preparePluginSecrets } from './plugin-secrets.js';

const ring = keyringOf(generateSecretKey());
const ID = '3b0a7c1e-5d6f-4e2a-8b9c-0d1e2f3a4b5c';
const SECRET = 'introspection-client-secret';

const oauthDoc = (config: Record<string, unknown>) => ({
  type: 'oauth2-introspection',
  enabled: true,
  scope: {},
  config: { introspection_url: 'https://idp.example/introspect', client_id: 'gw', ...config },
  tags: [],
});
const prepare = (config: Record<string, unknown>, prior: Record<string, unknown> | null = null, keyring: Keyring | null = ring) =>
  preparePluginSecrets(oauth2IntrospectionPlugin, { doc: oauthDoc(config), prior, id: ID, keyring });

test('a given client_secret is sealed (bound to the plugin id) into the material and leaves the config, which says client_secret_set', () => {
  const r = prepare({ client_secret: SECRET });
  const cfg = r.doc.config as Record<string, unknown>;
  assert.equal(cfg.client_secret, undefined);
  assert.equal(cfg.client_secret_set, true);
  assert.ok(!JSON.stringify(r.doc).includes(SECRET));
  const sealed = r.material?.['/client_secret'];
  assert.ok(isSealed(sealed));
  assert.ok(!JSON.stringify(r.material).includes(SECRET));
  assert.equal(open(ring, sealed, ID), SECRET);
  assert.throws(() => open(ring, sealed, 'another-plugin'), /failed authentication/);
  // Nodes get the sealed value under `secret`, keyed by pointer.
  const entity = { id: ID, ...r.doc, created_at: '', updated_at: '' };
  assert.deepEqual(pluginDataPlane(entity, r.material).secret, { '/client_secret': sealed });
  assert.equal(pluginDataPlane(entity, null), entity);
});

test('a write without client_secret keeps the stored one; a new one replaces it; null removes it; a client-sent client_secret_set is overruled', () => {
  const first = prepare({ client_secret: SECRET });
  const kept = prepare({ timeout_ms: 500, client_secret_set: false }, first.material);
  assert.deepEqual(kept.material, first.material, 'the same sealed value (same key)');
  assert.equal((kept.doc.config as Record<string, unknown>).client_secret_set, true);
  const rotated = prepare({ client_secret: 'a-new-secret' }, first.material);
  assert.equal(open(ring, rotated.material!['/client_secret'] as never, ID), 'a-new-secret');
  const removed = prepare({ client_secret: null }, first.material);
  assert.equal(removed.material, null);
  assert.equal((removed.doc.config as Record<string, unknown>).client_secret_set, false);
  const never = prepare({ client_secret_set: true });
  assert.equal(never.material, null);
  assert.equal((never.doc.config as Record<string, unknown>).client_secret_set, false, 'the config cannot claim a secret it does not have');
});

test('a kept secret sealed under an older key is re-sealed under the active one (key rotation by re-saving)', () => {
  const oldKey = generateSecretKey();
  const oldRing = keyringOf(oldKey, 'old');
  const first = prepare({ client_secret: SECRET }, null, oldRing);
  const newKey = generateSecretKey();
  const both: Keyring = { activeKid: 'new', keys: new Map([['new', newKey], ['old', oldKey]]) };
  const kept = prepare({}, first.material, both);
  const sealed = kept.material!['/client_secret'] as { kid: string };
  assert.equal(sealed.kid, 'new');
  assert.equal(open(keyringOf(newKey, 'new'), sealed as never, ID), SECRET);
});

test('a client_secret that is not a valid secret stays in the config for the schema to refuse; no keyring is a 503', () => {
  for (const bad of [42, '', 'x'.repeat(1025)]) {
    const r = prepare({ client_secret: bad });
    assert.equal((r.doc.config as Record<string, unknown>).client_secret, bad);
    assert.equal(r.material, null);
  }
  assert.throws(
    () => prepare({ client_secret: SECRET }, null, null),
    (e: unknown) => e instanceof TurnpikeError && e.code === 'TP_ERR_UNAVAILABLE' && /plugin secrets cannot be stored/.test(e.message),
  );
});

test('oauth2-introspection problems(): a client secret is required, given or stored', () => {
  const base = { ...oauthDoc({}).config } as never;
  const problems = (c: Record<string, unknown>) => oauth2IntrospectionPlugin.problems!({ ...(base as object), claims_to_headers: {}, header_name: 'authorization', ...c } as never);
  assert.deepEqual(problems({}), [{ path: '/client_secret', message: 'is required' }]);
  assert.deepEqual(problems({ client_secret_set: true }), []);
  assert.deepEqual(problems({ client_secret: SECRET }), []);
});

test('nested secrets (custom-authorizer lambda credentials): sealed by pointer; dropped when their place in the config is gone', () => {
  const doc = (credentials: unknown) => ({
    type: 'custom-authorizer',
    config: { kind: 'lambda', lambda: { function_name: 'auth', region: 'eu-west-1', credentials } },
  });
  const keys = { access_key_id: 'AKIAIOSFODNN7EXAMPLE', secret_access_key: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY', session_token: 'tok' };
  const r = preparePluginSecrets(customAuthorizerPlugin, { doc: doc({ ...keys }), prior: null, id: ID, keyring: ring });
  const creds = ((r.doc.config as { lambda: { credentials: Record<string, unknown> } }).lambda.credentials);
  assert.deepEqual(creds, { access_key_id: keys.access_key_id }, 'no marker where the schema declares none');
  assert.equal(open(ring, r.material!['/lambda/credentials/secret_access_key'] as never, ID), keys.secret_access_key);
  assert.equal(open(ring, r.material!['/lambda/credentials/session_token'] as never, ID), 'tok');
  const kept = preparePluginSecrets(customAuthorizerPlugin, { doc: doc({ access_key_id: keys.access_key_id }), prior: r.material, id: ID, keyring: ring });
  assert.deepEqual(kept.material, r.material);
  const env = preparePluginSecrets(customAuthorizerPlugin, { doc: doc('environment'), prior: r.material, id: ID, keyring: ring });
  assert.equal(env.material, null, 'credentials switched to environment: the stored keys are forgotten');
});
