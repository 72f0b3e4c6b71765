#!/usr/bin/env node
// How long one control-plane reconcile takes with N consumers (PostgreSQL rows inserted in bulk), against
// an empty bucket (everything put) and against a bucket in sync (everything compared), and how long a
// write made while the in-sync reconcile runs takes to be published (the reconciler runs beside the
// publisher with compare-and-set writes, so it should not wait for the reconcile).
// Usage: bash infra/local/up.sh && node benchmarks/reconcile.mjs [N=20000] [--locked]   (after pnpm build)
// --locked: without compare-and-set writes (the in-process bus's mode: a full pass under the bus lock).
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
const { startControlPlane, natsConditionalWrites } = await import('../services/control-plane/dist/src/index.js');

const args = process.argv.slice(2);
const locked = args.includes('--locked');
const N = Number(args.find((a) => /^\d+$/.test(a)) ?? 20000);
const DEFAULT_TENANT = '00000000-0000-4000-8000-000000000001';
const db = await createTestDatabase('tp_reconcile_bench');
const nc = await connect({ servers: process.env.TP_TEST_NATS_URL });
const bucket = `tp_reconcile_bench_${Date.now()}`;
const bus = await NatsKvConfigBus.open(nc, bucket);
const token = `tpa_${'x'.repeat(40)}`;
const cp = await startControlPlane({
  pgUrl: db.url, bus, host: '127.0.0.1', restPort: 0, grpcPort: 0,
  bootstrapToken: token, reconcileIntervalMs: 3_600_000, log: () => undefined,
  busWrites: locked ? undefined : natsConditionalWrites(nc, bucket),
});
const sql = postgres(db.url, { max: 1, onnotice: () => undefined });
try {
  await sql.unsafe(`INSERT INTO consumers (id, username, tags, revision, created_at, updated_at, tenant_id)
    SELECT gen_random_uuid(), 'c' || g, '[]', 1, now(), now(), '${DEFAULT_TENANT}' FROM generate_series(1, ${N}) g`);
  await sql`UPDATE config_revision SET revision = 1`;
  console.log(`mode: ${locked ? 'under the bus lock (--locked)' : 'beside the publisher (compare-and-set)'}`);
  // The third pass is timed with a write made during it (after the second, the 100k puts of the first
  // have all come back through the reconciler's watch: steady state).
  /** A consumer created through the REST API: ms until it is on the bus. @param {string} username */
  const timedWrite = async (username) => {
    const w0 = performance.now();
    const res = await fetch(`http://127.0.0.1:${cp.restPort}/v1/consumers`, {
      method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ username }),
    });
    const made = /** @type {{ id: string }} */ (await res.json());
    while ((await bus.get(`consumers.${made.id}`)) === null) await new Promise((r) => setTimeout(r, 2));
    return performance.now() - w0;
  };
  const idle = [];
  for (let i = 0; i < 5; i++) idle.push(await timedWrite(`idle-${i}`));
  console.log(`a write with no reconcile running: on the bus after ${idle.map((ms) => ms.toFixed(0)).join(', ')} ms`);
  for (const what of ['empty bucket', 'bucket in sync', 'bucket in sync, a write during it']) {
    const t0 = performance.now();
    const running = cp.reconcile();
    // A write made while this reconcile runs: how long until it is on the bus?
    let writeMs = NaN;
    if (what === 'bucket in sync, a write during it') {
      await new Promise((r) => setTimeout(r, 300)); // into the pass (its first drain is over)
      writeMs = await timedWrite('during-reconcile');
    }
    const r = await running;
    console.log(`reconcile, ${what}, ${N} consumers: ${(performance.now() - t0).toFixed(0)} ms (checked ${r.checked}, put ${r.put}, deleted ${r.deleted}, conflicts ${r.conflicts ?? 0})` +
      (Number.isNaN(writeMs) ? '' : `; a write made during it was on the bus after ${writeMs.toFixed(0)} ms`));
  }
} finally {
  await sql.end();
  await cp.close();
  await nc.close();
  await db.drop();
}
