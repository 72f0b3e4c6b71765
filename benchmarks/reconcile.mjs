#!/usr/bin/env node
// How long one control-plane reconcile takes with N consumers (PostgreSQL rows inserted in bulk), against
// an empty bucket (everything put) and against a bucket in sync (everything compared). The reconciler
// holds the bus lock meanwhile, so this is also how long publishing can wait behind it.
// Usage: bash infra/local/up.sh && node benchmarks/reconcile.mjs [N=20000]   (after pnpm build)
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
for (const line of readFileSync(join(ROOT, '.work/local/env'), 'utf8').split('\n')) {
  const m = /^([A-Z0-9_]+)=(.*)$/.exec(line);
  if (m && process.env[m[1]] === undefined) process.env[m[1]] = m[2];
}
const requireFromCommon = createRequire(join(ROOT, 'services/common/package.json'));
/** @type {typeof import('../services/common/node_modules/@nats-io/transport-node/lib/mod.js')} */
const { connect } = requireFromCommon('@nats-io/transport-node');
/** @type {typeof import('../services/common/node_modules/postgres/types/index.js')} */
const postgres = requireFromCommon('postgres');
const { NatsKvConfigBus } = await import('../services/common/dist/src/index.js');
const { createTestDatabase } = await import('../services/common/dist/src/testing/index.js');
const { startControlPlane } = await import('../services/control-plane/dist/src/index.js');

const N = Number(process.argv[2] ?? 20000);
const DEFAULT_TENANT = '00000000-0000-4000-8000-000000000001';
const db = await createTestDatabase('tp_reconcile_bench');
const nc = await connect({ servers: process.env.TP_TEST_NATS_URL });
const bus = await NatsKvConfigBus.open(nc, `tp_reconcile_bench_${Date.now()}`);
const cp = await startControlPlane({
  pgUrl: db.url, bus, host: '127.0.0.1', restPort: 0, grpcPort: 0,
  bootstrapToken: `tpa_${'x'.repeat(40)}`, reconcileIntervalMs: 3_600_000, log: () => undefined,
});
const sql = postgres(db.url, { max: 1, onnotice: () => undefined });
try {
  await sql.unsafe(`INSERT INTO consumers (id, username, tags, revision, created_at, updated_at, tenant_id)
    SELECT gen_random_uuid(), 'c' || g, '[]', 1, now(), now(), '${DEFAULT_TENANT}' FROM generate_series(1, ${N}) g`);
  await sql`UPDATE config_revision SET revision = 1`;
  for (const what of ['empty bucket', 'bucket in sync']) {
    const t0 = performance.now();
    const r = await cp.reconcile();
    console.log(`reconcile, ${what}, ${N} consumers: ${(performance.now() - t0).toFixed(0)} ms (checked ${r.checked}, put ${r.put}, deleted ${r.deleted})`);
  }
} finally {
  await sql.end();
  await cp.close();
  await nc.close();
  await db.drop();
}
