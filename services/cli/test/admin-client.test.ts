// The CLI's admin client against a real control plane: every page is read, and API errors keep their
// code, field paths and request id.
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { InProcessConfigBus, type Upstream } from '@turnpike/common';
import { createTestDatabase } from '@turnpike/common/testing';
import { startControlPlane, type ControlPlane } from '@turnpike/control-plane';
import { AdminApiError, AdminClient } from '../src/declarative/admin-client.js';

describe('admin client', { timeout: 60_000 }, () => {
  let cp: ControlPlane;
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let client: AdminClient;
  const token = `tpa_client_${randomBytes(16).toString('hex')}`;

  before(async () => {
    db = await createTestDatabase('tp_cli_client');
    cp = await startControlPlane({ pgUrl: db.url, bus: new InProcessConfigBus(), restPort: 0, grpcPort: 0, bootstrapToken: token, log: () => undefined });
    client = new AdminClient({ url: `http://127.0.0.1:${cp.restPort}/`, token, pageLimit: 2 });
  });
  after(async () => {
    await cp?.close();
    await db?.drop();
  });

  test('listAll follows the cursor through every page, in creation order', async () => {
    for (let i = 0; i < 5; i++) await client.create('/v1/upstreams', { name: `u${i}`, targets: [{ host: 'h', port: 80 + i }] });
    const all = await client.listAll<Upstream>('/v1/upstreams');
    assert.deepEqual(all.map((u) => u.name), ['u0', 'u1', 'u2', 'u3', 'u4']);
  });

  test('patch, replace and remove act on one entity', async () => {
    const [u] = await client.listAll<Upstream>('/v1/upstreams');
    const patched = await client.patch<Upstream>(`/v1/upstreams/${u!.id}`, { tags: ['a'] });
    assert.deepEqual(patched.tags, ['a']);
    const replaced = await client.replace<Upstream>(`/v1/upstreams/${u!.id}`, { name: 'u0', targets: [{ host: 'h', port: 80 }] });
    assert.deepEqual(replaced.tags, []);
    await client.remove(`/v1/upstreams/${u!.id}`);
    assert.equal((await client.listAll<Upstream>('/v1/upstreams')).length, 4);
  });

  test('a validation error keeps the API code and its field paths', async () => {
    const err = await client.create('/v1/upstreams', { name: 'bad', targets: [{ host: 'h', port: 0 }] }).catch((e: unknown) => e);
    assert.ok(err instanceof AdminApiError);
    assert.equal(err.status, 400);
    assert.equal(err.code, 'TP_ERR_VALIDATION');
    assert.deepEqual(err.fields, [{ path: '/targets/0/port', message: 'must be >= 1' }]);
    assert.ok(err.requestId);
  });

  test('a wrong token and an unreachable address are errors with codes', async () => {
    const wrong = new AdminClient({ url: `http://127.0.0.1:${cp.restPort}`, token: 'tpa_nope' });
    const e1 = await wrong.listAll('/v1/upstreams').catch((e: unknown) => e);
    assert.ok(e1 instanceof AdminApiError);
    assert.equal(e1.code, 'TP_ERR_AUTH_TOKEN_INVALID');
    const down = new AdminClient({ url: 'http://127.0.0.1:1', token });
    const e2 = await down.listAll('/v1/upstreams').catch((e: unknown) => e);
    assert.ok(e2 instanceof AdminApiError);
    assert.equal(e2.code, 'TP_ERR_UNREACHABLE');
    assert.match(e2.message, /cannot reach the admin API at http:\/\/127\.0\.0\.1:1: ECONNREFUSED/);
  });
});
