// Migrations: applied once, in order, recorded; concurrent starts against one database are safe.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createTestDatabase } from '@turnpike/common/testing';
import { connectPostgres } from '../src/db/connect.js';
import { loadMigrations, migrate } from '../src/db/migrate.js';

describe('migrations', { timeout: 30_000 }, () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  before(async () => {
    db = await createTestDatabase('tp_cp_mig');
  });
  after(async () => {
    await db?.drop();
  });

  it('two control planes migrating at once apply each migration exactly once', async () => {
    const a = connectPostgres(db.url, 2);
    const b = connectPostgres(db.url, 2);
    try {
      const [ra, rb] = await Promise.all([migrate(a), migrate(b)]);
      const all = loadMigrations().map((m) => m.version);
      assert.deepEqual([...ra, ...rb].sort((x, y) => x - y), all);
      const rows = await a<{ version: number }[]>`SELECT version FROM schema_migrations ORDER BY version`;
      assert.deepEqual(rows.map((r) => r.version), all);
      assert.deepEqual(await migrate(a), [], 'a later start has nothing to do');
      const [rev] = await a<{ revision: string }[]>`SELECT revision FROM config_revision`;
      assert.equal(Number(rev!.revision), 0);
    } finally {
      await a.end();
      await b.end();
    }
  });
});
