// custom-authorizer's AWS secret key through the plugins' secret handling (plugin-secrets.ts): sealed out of
// the config into the material, kept on a write without it, dropped when credentials switch to environment.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { customAuthorizerPlugin, generateSecretKey, isSealed, keyringOf, open } from '@turnpike/common';
import { pluginDataPlane, preparePluginSecrets } from './plugin-secrets.js';

const ring = keyringOf(generateSecretKey());
const POINTER = '/lambda/credentials/secret_access_key';

function docWith(credentials: unknown) {
  return { type: 'custom-authorizer', config: { kind: 'lambda', lambda: { function_name: 'authz', region: 'us-east-1', credentials } } };
}

test('a given secret_access_key is sealed for the plugin id and removed from the config', () => {
  const { doc, material } = preparePluginSecrets(customAuthorizerPlugin, {
    doc: docWith({ access_key_id: 'AKIAEXAMPLEKEY00001', secret_access_key: 'shh', session_token: 'tok' }),
    prior: null,
    id: 'p-1',
    keyring: ring,
  });
  assert.deepEqual((doc.config as any).lambda.credentials, { access_key_id: 'AKIAEXAMPLEKEY00001' });
  assert.ok(isSealed(material?.[POINTER]));
  assert.equal(open(ring, material![POINTER] as never, 'p-1'), 'shh');
  assert.equal(open(ring, material!['/lambda/credentials/session_token'] as never, 'p-1'), 'tok');
  assert.throws(() => open(ring, material![POINTER] as never, 'p-2'), 'bound to the plugin id');
  const node = pluginDataPlane({ id: 'p-1', ...doc } as never, material);
  assert.deepEqual(Object.keys(node.secret as object).sort(), ['/lambda/credentials/secret_access_key', '/lambda/credentials/session_token']);
  assert.doesNotMatch(JSON.stringify(node), /shh/);
});

test('an update without the secret keeps the stored one; switching to environment drops it', () => {
  const first = preparePluginSecrets(customAuthorizerPlugin, { doc: docWith({ access_key_id: 'AKIAEXAMPLEKEY00001', secret_access_key: 'shh' }), prior: null, id: 'p-1', keyring: ring });
  const kept = preparePluginSecrets(customAuthorizerPlugin, { doc: docWith({ access_key_id: 'AKIAEXAMPLEKEY00001' }), prior: first.material, id: 'p-1', keyring: ring });
  assert.equal(open(ring, kept.material![POINTER] as never, 'p-1'), 'shh');
  const env = preparePluginSecrets(customAuthorizerPlugin, { doc: docWith('environment'), prior: first.material, id: 'p-1', keyring: ring });
  assert.equal(env.material, null);
});
