// Upgrading a database written before tenancy (migrations 001–002) to 003: existing configuration lands in
// the `default` tenant, the existing (bootstrap) token becomes a superuser, and per-tenant uniqueness holds.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createTestDatabase } from '@turnpike/common/testing';
import { connectPostgres } from '../src/db/connect.js';
import { loadMigrations, migrate } from '../src/db/migrate.js';

describe('migration 003: tenants, RBAC, audit', { timeout: 30_000 }, () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  before(async () => {
    db = await createTestDatabase('tp_cp_mig3');
  });
  after(async () => {
    await db?.drop();
  });

  it('moves existing rows into the default tenant and makes the existing token a superuser', async () => {
    const sql = connectPostgres(db.url, 2);
    try {
      const all = loadMigrations();
      await migrate(sql, all.filter((m) => m.version < 3));
      const up = randomUUID();
      await sql`INSERT INTO upstreams (id, name, scheme, targets, connect_timeout_ms, read_timeout_ms, revision, created_at, updated_at)
        VALUES (${up}, 'legacy', 'http', '[]', 1, 1, 1, now(), now())`;
      await sql`INSERT INTO admin_tokens (id, name, token_sha256) VALUES (${randomUUID()}, 'bootstrap', ${'a'.repeat(64)})`;
      assert.deepEqual(await migrate(sql, all.filter((m) => m.version <= 3)), [3]);

      const [row] = await sql<{ tenant: string }[]>`SELECT t.name AS tenant FROM upstreams u JOIN tenants t ON t.id = u.tenant_id WHERE u.id = ${up}`;
      assert.equal(row!.tenant, 'default');
      const [tok] = await sql<{ superuser: boolean; tenant_id: string }[]>`SELECT superuser, tenant_id FROM admin_tokens`;
      assert.equal(tok!.superuser, true);
      assert.equal(tok!.tenant_id, '00000000-0000-4000-8000-000000000001');

      // Same name in another tenant is fine; twice in one tenant is not.
      const other = randomUUID();
      await sql`INSERT INTO tenants (id, name) VALUES (${other}, 'other')`;
      await sql`INSERT INTO upstreams (id, tenant_id, name, scheme, targets, connect_timeout_ms, read_timeout_ms, revision, created_at, updated_at)
        VALUES (${randomUUID()}, ${other}, 'legacy', 'http', '[]', 1, 1, 2, now(), now())`;
      await assert.rejects(
        sql`INSERT INTO upstreams (id, tenant_id, name, scheme, targets, connect_timeout_ms, read_timeout_ms, revision, created_at, updated_at)
          VALUES (${randomUUID()}, ${other}, 'legacy', 'http', '[]', 1, 1, 3, now(), now())`,
        (err: { code?: string }) => err.code === '23505',
      );
      // New rows must name their tenant.
      await assert.rejects(
        sql`INSERT INTO consumers (id, username, revision, created_at, updated_at) VALUES (${randomUUID()}, 'x', 1, now(), now())`,
        (err: { code?: string }) => err.code === '23502',
      );
    } finally {
      await sql.end();
    }
  });
});
