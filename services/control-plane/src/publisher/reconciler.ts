// Repairs drift between PostgreSQL and the config bus: puts entities that are missing or differ, deletes
// entity keys whose entity no longer exists, and sets meta.revision; prunes day-old published outbox rows. Entities with unpublished outbox
// rows are left to the publisher, which will bring them up to date in revision order. Also deletes expired
// idempotency keys.
//
// Two ways to run (see docs/architecture.md, "Reconciliation"):
// - With compare-and-set writes (NATS KV: `ConditionalWrites`), beside the publisher and without the bus
//   lock: the bucket is read first (each key's value and KV revision), then PostgreSQL in one
//   repeatable-read snapshot, comparing entity revisions only (full rows are read for the keys that
//   differ), and every repair names the KV revision it was computed from. A key the publisher wrote after
//   the bucket was read has a newer KV revision, so the repair fails and the newer value stays.
// - Without them (the in-process bus of `turnpike up`): a full pass under the bus lock, comparing content.
import { isDeepStrictEqual } from 'node:util';
import type { Sql, TransactionSql } from 'postgres';
import { META_REVISION_KEY, entityKey, parseEntityKey, type ConfigBus, type ConfigEnvelope, type EntityKind } from '@turnpike/common';
import { toApiKeyConfig, type ApiKeyRow } from '../service/api-keys.js';
import { deleteExpiredIdempotencyKeys } from '../service/idempotency.js';
import { toConsumer, type ConsumerRow } from '../service/consumers.js';
import { toRoute, type RouteRow } from '../service/routes.js';
import { openapiDocForDataPlane, serviceForDataPlane, toService, type ServiceRow } from '../service/services.js';
import { toUpstream, type UpstreamRow } from '../service/upstreams.js';
import { withBusLock } from './bus-lock.js';
import { resourcesForDataPlane } from '../resources/store.js';
import type { ConditionalWrites } from './conditional-writes.js';
import type { BusMirror } from './bus-mirror.js';

export interface ReconcileReport {
  /** False when another control plane held the bus lock (nothing was checked). */
  ran: boolean;
  checked: number;
  put: number;
  deleted: number;
  revision: number;
  /** Repairs not made because the key changed after it was read (compare-and-set mode; a newer value won). */
  conflicts?: number;
}

/** The bus content PostgreSQL implies, as of the last published revision. */
async function desiredState(tx: TransactionSql, upTo: number): Promise<Map<string, ConfigEnvelope>> {
  const out = new Map<string, ConfigEnvelope>();
  const add = <K extends EntityKind>(kind: K, id: string, revision: string, data: ConfigEnvelope<K>['data']): void => {
    const rev = Number(revision);
    if (rev <= upTo) out.set(entityKey(kind, id), { kind, revision: rev, data } as ConfigEnvelope);
  };
  for (const r of await tx<UpstreamRow[]>`SELECT * FROM upstreams`) add('upstreams', r.id, r.revision, toUpstream(r));
  for (const r of await tx<ServiceRow[]>`SELECT * FROM services`) {
    add('services', r.id, r.revision, serviceForDataPlane(toService(r, true), r.tenant_id));
    const doc = openapiDocForDataPlane(r);
    if (doc && r.openapi_revision !== null) add('openapi_docs', r.id, r.openapi_revision, doc);
  }
  for (const r of await tx<RouteRow[]>`SELECT * FROM routes`) add('routes', r.id, r.revision, toRoute(r));
  for (const r of await tx<ConsumerRow[]>`SELECT * FROM consumers`) add('consumers', r.id, r.revision, toConsumer(r));
  for (const r of await tx<ApiKeyRow[]>`SELECT * FROM api_keys`) add('keys', r.id, r.revision, toApiKeyConfig(r));
  await resourcesForDataPlane(tx, (kind, id, revision, data) => add(kind, id, revision, data as ConfigEnvelope['data']));
  return out;
}

/** How long reading the whole bucket may take before a reconcile gives up (and releases the bus lock). */
const SNAPSHOT_TIMEOUT_MS = 120_000;
/** Bus writes in flight at once while repairing: each is a round trip, and keys are independent. */
const REPAIR_CONCURRENCY = 64;

/**
 * Every live key and value of the bus, read as one watch (the initial values) rather than one get per
 * key: at 100k+ entities per-key round trips took minutes, all of it under the bus lock.
 */
async function busSnapshot(bus: ConfigBus): Promise<Map<string, BusValue>> {
  const values = new Map<string, BusValue>();
  let done!: () => void;
  const initial = new Promise<void>((resolve) => (done = resolve));
  const watch = await bus.watch({
    // A deleted key is kept with its delete marker's revision: a conditional put must name that one.
    onEvent: (ev) => values.set(ev.key, { value: ev.op === 'put' ? ev.value : null, rev: ev.revision }),
    onInitialDone: () => done(),
  });
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      initial,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`reading the config bus took over ${SNAPSHOT_TIMEOUT_MS} ms`)), SNAPSHOT_TIMEOUT_MS);
      }),
    ]);
  } finally {
    clearTimeout(timer);
    await watch.stop();
  }
  return values;
}

/** A key's last value on the bus (null: deleted) and its KV revision. */
interface BusValue {
  value: string | null;
  rev: number;
}

/** Runs `fn` over `items` with at most `limit` in flight. */
async function eachLimited<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

function parseJson(s: string): unknown {
  try {
    return JSON.parse(s);
  } catch {
    return undefined;
  }
}

/**
 * `beside`: compare-and-set writes to the bus's bucket and a mirror of it; with them the pass runs beside
 * the publisher (see top), else under the bus lock.
 */
export async function reconcile(sql: Sql, bus: ConfigBus, beside?: { writes: ConditionalWrites; mirror: BusMirror }): Promise<ReconcileReport> {
  return beside ? await reconcileBesidePublisher(sql, beside.mirror, beside.writes) : await reconcileUnderLock(sql, bus);
}

/** The mirror is behind a bucket that was emptied or re-created: the caller starts a new one. */
export class MirrorStaleError extends Error {}
/** How long a pass waits for the mirror to catch up with the bucket's newest revision. */
const CATCH_UP_TIMEOUT_MS = 10_000;

async function reconcileUnderLock(sql: Sql, bus: ConfigBus): Promise<ReconcileReport> {
  const res = await withBusLock(sql, async (tx) => {
    const [st] = await tx<{ revision: string; min_unpublished: string | null }[]>`
      SELECT c.revision, (SELECT min(revision) FROM outbox WHERE published_at IS NULL) AS min_unpublished
      FROM config_revision c`;
    const published = st!.min_unpublished === null ? Number(st!.revision) : Number(st!.min_unpublished) - 1;
    const pendingRows = await tx<{ kind: EntityKind; entity_id: string }[]>`
      SELECT DISTINCT kind, entity_id FROM outbox WHERE published_at IS NULL`;
    const pending = new Set(pendingRows.map((r) => entityKey(r.kind, r.entity_id)));
    const desired = await desiredState(tx, published);
    const report: ReconcileReport = { ran: true, checked: 0, put: 0, deleted: 0, revision: published };

    const current = await busSnapshot(bus);
    const puts: [string, ConfigEnvelope][] = [];
    for (const [key, env] of desired) {
      if (pending.has(key)) continue;
      report.checked++;
      const cur = current.get(key)?.value;
      if (cur != null && isDeepStrictEqual(parseJson(cur), env)) continue;
      puts.push([key, env]);
    }
    // Keys that are not entities (meta.*, anything else sharing the bucket) are not ours to remove.
    const deletes = [...current].filter(([key, v]) => v.value !== null && parseEntityKey(key) && !desired.has(key) && !pending.has(key)).map(([key]) => key);
    await eachLimited(puts, REPAIR_CONCURRENCY, async ([key, env]) => {
      await bus.put(key, JSON.stringify(env));
      report.put++;
    });
    await eachLimited(deletes, REPAIR_CONCURRENCY, async (key) => {
      await bus.delete(key);
      report.deleted++;
    });
    // Published rows are history once on the bus; keep a day of it for inspection.
    await tx`DELETE FROM outbox WHERE published_at < now() - interval '1 day'`;
    // Idempotency keys are only honoured for 24 h (lookups ignore older rows); drop them too.
    await deleteExpiredIdempotencyKeys(tx);
    if (st!.min_unpublished === null) {
      const meta = current.get(META_REVISION_KEY)?.value ?? null;
      const want = { revision: published };
      if (meta === null || !isDeepStrictEqual(parseJson(meta), want)) await bus.put(META_REVISION_KEY, JSON.stringify(want));
    }
    return report;
  });
  return res.locked ? res.value : { ran: false, checked: 0, put: 0, deleted: 0, revision: 0 };
}

/**
 * The core tables: what each publishes, and how a row becomes the entity the bus carries. `revision`: the
 * column holding the entity's config revision, NULL for a row that publishes no such entity (a service
 * without an OpenAPI document has no `openapi_docs` key).
 */
const CORE: ReadonlyArray<{ kind: EntityKind; table: string; revision: string; data: (row: never) => ConfigEnvelope['data'] }> = [
  { kind: 'upstreams', table: 'upstreams', revision: 'revision', data: (r: UpstreamRow) => toUpstream(r) },
  { kind: 'services', table: 'services', revision: 'revision', data: (r: ServiceRow) => serviceForDataPlane(toService(r, true), r.tenant_id) },
  { kind: 'openapi_docs', table: 'services', revision: 'openapi_revision', data: (r: ServiceRow) => openapiDocForDataPlane(r)! },
  { kind: 'routes', table: 'routes', revision: 'revision', data: (r: RouteRow) => toRoute(r) },
  { kind: 'consumers', table: 'consumers', revision: 'revision', data: (r: ConsumerRow) => toConsumer(r) },
  { kind: 'keys', table: 'api_keys', revision: 'revision', data: (r: ApiKeyRow) => toApiKeyConfig(r) },
];
/** Entities compared between two yields to the event loop. */
const YIELD_EVERY = 2_000;
/** Rows read per query when repairing many keys (an empty bucket: every entity). */
const FETCH_CHUNK = 5_000;

/**
 * Incremental and lock-free: entities are compared by revision (every change to an entity gives it a new
 * one) against a mirror of the bucket, full rows are read only for the keys that differ, and every repair
 * is a compare-and-set against the key's KV revision as of `asOf`. The mirror is caught up before
 * PostgreSQL is read, so anything published after that has a newer KV revision than the one a repair names.
 */
async function reconcileBesidePublisher(sql: Sql, mirror: BusMirror, writes: ConditionalWrites): Promise<ReconcileReport> {
  // Read-your-writes on the mirror: everything on the bucket now (a tampering a moment ago included) is in
  // it before PostgreSQL is read. Keys written after `asOf` are the publisher's business this pass.
  const last = await writes.lastRevision();
  if (last < mirror.seq) throw new MirrorStaleError(`the bucket's last revision ${last} is behind the mirror's ${mirror.seq}`);
  if (!(await mirror.caughtUp(last, CATCH_UP_TIMEOUT_MS))) throw new MirrorStaleError(`the mirror did not reach revision ${last}`);
  const asOf = mirror.seq;
  /** The key as of `asOf`; null when it changed since (then it is left alone). */
  const current = (key: string): { rev: number; kind: string | null; revision: number | null; value: string | null } | null => {
    const m = mirror.get(key);
    if (!m) return { rev: 0, kind: null, revision: null, value: null };
    return m.rev > asOf ? null : m;
  };
  const plan = await sql.begin('ISOLATION LEVEL REPEATABLE READ READ ONLY', async (tx) => {
    const [st] = await tx<{ revision: string; min_unpublished: string | null }[]>`
      SELECT c.revision, (SELECT min(revision) FROM outbox WHERE published_at IS NULL) AS min_unpublished
      FROM config_revision c`;
    const published = st!.min_unpublished === null ? Number(st!.revision) : Number(st!.min_unpublished) - 1;
    const pendingRows = await tx<{ kind: EntityKind; entity_id: string }[]>`
      SELECT DISTINCT kind, entity_id FROM outbox WHERE published_at IS NULL`;
    const pending = new Set(pendingRows.map((r) => entityKey(r.kind, r.entity_id)));
    const known = new Set<string>();
    const puts: Array<{ key: string; expected: number; env: ConfigEnvelope }> = [];
    let checked = 0;
    for (const { kind, table, revision, data } of CORE) {
      const stale: string[] = [];
      // In batches through a cursor, yielding between them: the publisher and the admin API share this
      // process, and 100,000 rows at once kept them waiting for the whole read.
      for await (const batch of tx<{ id: string; revision: string }[]>`
        SELECT id, ${tx(revision)} AS revision FROM ${tx(table)} WHERE ${tx(revision)} IS NOT NULL`.cursor(YIELD_EVERY)) {
        await new Promise<void>((resolve) => setImmediate(resolve));
        for (const r of batch) {
          const key = entityKey(kind, r.id);
          if (Number(r.revision) > published) continue; // not published yet: the publisher's
          known.add(key);
          if (pending.has(key)) continue;
          checked++;
          const cur = current(key);
          if (cur && !(cur.kind === kind && cur.revision === Number(r.revision))) stale.push(r.id);
        }
      }
      for (let i = 0; i < stale.length; i += FETCH_CHUNK) {
        const ids = stale.slice(i, i + FETCH_CHUNK);
        for (const r of await tx<Array<{ id: string } & Record<string, unknown>>>`SELECT * FROM ${tx(table)} WHERE id IN ${tx(ids)}`) {
          const key = entityKey(kind, r.id);
          const expected = current(key)?.rev;
          if (expected !== undefined) puts.push({ key, expected, env: { kind, revision: Number(r[revision]), data: data(r as never) } as ConfigEnvelope });
        }
      }
    }
    await resourcesForDataPlane(tx, (kind, id, revision, data) => {
      const key = entityKey(kind, id);
      const rev = Number(revision);
      if (rev > published) return;
      known.add(key);
      if (pending.has(key)) return;
      checked++;
      const cur = current(key);
      if (cur && !(cur.kind === kind && cur.revision === rev)) puts.push({ key, expected: cur.rev, env: { kind, revision: rev, data } as ConfigEnvelope });
    });
    // Keys that are not entities (meta.*, anything else sharing the bucket) are not ours to remove.
    const deletes: Array<{ key: string; expected: number }> = [];
    for (const [key, m] of mirror.entries()) {
      if (m.kind !== null && m.rev <= asOf && parseEntityKey(key) && !known.has(key) && !pending.has(key)) deletes.push({ key, expected: m.rev });
    }
    return { published, settled: st!.min_unpublished === null, puts, deletes, checked };
  });

  const report: ReconcileReport = { ran: true, checked: plan.checked, put: 0, deleted: 0, revision: plan.published, conflicts: 0 };
  await eachLimited(plan.puts, REPAIR_CONCURRENCY, async ({ key, expected, env }) => {
    if (await writes.putIf(key, JSON.stringify(env), expected)) report.put++;
    else report.conflicts!++;
  });
  await eachLimited(plan.deletes, REPAIR_CONCURRENCY, async ({ key, expected }) => {
    if (await writes.deleteIf(key, expected)) report.deleted++;
    else report.conflicts!++;
  });
  const meta = current(META_REVISION_KEY);
  if (plan.settled && meta) {
    const want = { revision: plan.published };
    if (meta.value === null || !isDeepStrictEqual(parseJson(meta.value), want)) {
      if (!(await writes.putIf(META_REVISION_KEY, JSON.stringify(want), meta.rev))) report.conflicts!++;
    }
  }
  await sql.begin(async (tx) => {
    // Published rows are history once on the bus; keep a day of it for inspection.
    await tx`DELETE FROM outbox WHERE published_at < now() - interval '1 day'`;
    // Idempotency keys are only honoured for 24 h (lookups ignore older rows); drop them too.
    await deleteExpiredIdempotencyKeys(tx);
  });
  return report;
}
