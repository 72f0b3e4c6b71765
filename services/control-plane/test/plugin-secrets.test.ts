// Plugin config secrets over REST against real PostgreSQL and NATS, with oauth2-introspection's client_secret:
// sealed at rest (bound to the plugin id), never returned, kept on a write without it, replaced by a new one,
// and pushed to the config bus sealed (`secret: { "/client_secret": sealed }`), where the keyring opens it.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { waitFor } from '@turnpike/common/testing';
import { entityKey, generateSecretKey, isSealed, keyringOf, open, type Keyring, type SealedSecret } from '@turnpike/common';
import { startHarness, type Harness } from './support.js';


const SECRET = 'introspection-secret-0f9e8d7c';
const ROTATED = 'introspection-secret-rotated-1a2b';

const sealedOf = (data: Record<string, unknown>) => (data.secret as Record<string, SealedSecret>)['/client_secret']!;

async function kvData(h: Harness, id: string, until: (data: Record<string, unknown>) => boolean = () => true): Promise<{ raw: string; data: Record<string, unknown> }> {
  return await waitFor(`plugins.${id} in KV`, async () => {
    const raw = await h.bus.get(entityKey('plugins', id));
    if (raw === null) return null;
    const data = (JSON.parse(raw) as { data: Record<string, unknown> }).data;
    return until(data) ? { raw, data } : null;
  });
}

describe('plugin config secrets (oauth2-introspection client_secret)', { timeout: 90_000 }, () => {
  let h: Harness;
  let keyring: Keyring;
  let id = '';
  const config = { introspection_url: 'https://idp.example/oauth2/introspect', client_id: 'turnpike' };

  before(async () => {
    keyring = keyringOf(generateSecretKey());
    h = await startHarness({ keyring, pollIntervalMs: 50 });
  });
  after(async () => {
    await h?.close();
  });

  it('create seals client_secret: the answer, GET, list, Postgres doc and audit hold no clear secret; client_secret_set is true', async () => {
    const res = await h.rest('POST', '/v1/plugins', { type: 'oauth2-introspection', config: { ...config, client_secret: SECRET } });
    assert.equal(res.status, 201, res.text);
    id = res.json.id;
    assert.equal(res.json.config.client_secret, undefined);
    assert.equal(res.json.config.client_secret_set, true);
    assert.equal(res.json.config.cache_ttl_ms, 60000, 'defaults filled');
    for (const path of [`/v1/plugins/${id}`, '/v1/plugins?type=oauth2-introspection', `/v1/audit?resource_type=plugins&resource_id=${id}`]) {
      const r = await h.rest('GET', path);
      assert.equal(r.status, 200, r.text);
      assert.ok(!r.text.includes(SECRET), path);
    }
    assert.ok(!res.text.includes(SECRET));
    const [row] = await h.sql<{ doc: string; material: string }[]>`SELECT doc::text, material::text FROM resources WHERE id = ${id}`;
    assert.ok(!row!.doc.includes(SECRET) && !row!.material.includes(SECRET), 'Postgres holds only the sealed secret');
    assert.ok(isSealed(JSON.parse(row!.material)['/client_secret']));
  });

  it('the config bus carries the sealed secret under secret["/client_secret"], opened with the keyring and the plugin id', async () => {
    const { raw, data } = await kvData(h, id);
    assert.ok(!raw.includes(SECRET), 'no clear secret on the config bus');
    const sealed = (data.secret as Record<string, unknown>)['/client_secret'];
    assert.ok(isSealed(sealed));
    assert.equal(open(keyring, sealed, id), SECRET);
    assert.throws(() => open(keyring, sealed, 'another-plugin'), /failed authentication/);
    assert.equal((data.config as Record<string, unknown>).client_secret, undefined);
  });

  it('PATCH without client_secret keeps it (a new config object included); PATCH with one replaces it', async () => {
    const keep = await h.rest('PATCH', `/v1/plugins/${id}`, { config: { ...config, timeout_ms: 500 } });
    assert.equal(keep.status, 200, keep.text);
    assert.equal(keep.json.config.client_secret_set, true);
    const kept = await kvData(h, id, (d) => (d.config as { timeout_ms: number }).timeout_ms === 500);
    assert.equal(open(keyring, sealedOf(kept.data), id), SECRET);
    const enabled = await h.rest('PATCH', `/v1/plugins/${id}`, { enabled: false });
    assert.equal(enabled.status, 200, enabled.text);
    assert.equal(enabled.json.config.client_secret_set, true);

    const rotated = await h.rest('PATCH', `/v1/plugins/${id}`, { config: { ...config, client_secret: ROTATED } });
    assert.equal(rotated.status, 200, rotated.text);
    assert.ok(!rotated.text.includes(ROTATED));
    const after = await kvData(h, id, (d) => open(keyring, sealedOf(d), id) === ROTATED);
    assert.ok(!after.raw.includes(ROTATED));
  });

  it('a client secret is required (422); a malformed one is refused by the schema (400) without echoing it', async () => {
    const none = await h.rest('POST', '/v1/plugins', { type: 'oauth2-introspection', scope: {}, config });
    assert.equal(none.status, 422, none.text);
    assert.deepEqual(none.json.error.fields, [{ path: '/config/client_secret', message: 'is required' }]);
    const claimed = await h.rest('POST', '/v1/plugins', { type: 'oauth2-introspection', config: { ...config, client_secret_set: true } });
    assert.equal(claimed.status, 422, claimed.text);
    const bad = await h.rest('POST', '/v1/plugins', { type: 'oauth2-introspection', config: { ...config, client_secret: 'bad\nsecret' } });
    assert.equal(bad.status, 400, bad.text);
    assert.equal(bad.json.error.fields[0].path, '/config/client_secret');
    assert.ok(!bad.text.includes('bad\\nsecret'));
    const cleared = await h.rest('PATCH', `/v1/plugins/${id}`, { config: { ...config, client_secret: null } });
    assert.equal(cleared.status, 422, cleared.text);
  });
});
