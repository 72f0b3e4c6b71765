// Repairs drift between PostgreSQL and the config bus: puts entities that are missing or differ, deletes
// entity keys whose entity no longer exists, and sets meta.revision; prunes day-old published outbox rows. Entities with unpublished outbox
// rows are left to the publisher, which will bring them up to date in revision order. Also deletes expired
// idempotency keys.
import { isDeepStrictEqual } from 'node:util';
import type { Sql, TransactionSql } from 'postgres';
import { META_REVISION_KEY, entityKey, parseEntityKey, type ConfigBus, type ConfigEnvelope, type EntityKind } from '@turnpike/common';
import { toApiKeyConfig, type ApiKeyRow } from '../service/api-keys.js';
import { deleteExpiredIdempotencyKeys } from '../service/idempotency.js';
import { toConsumer, type ConsumerRow } from '../service/consumers.js';
import { toRoute, type RouteRow } from '../service/routes.js';
import { serviceForDataPlane, toService, type ServiceRow } from '../service/services.js';
import { toUpstream, type UpstreamRow } from '../service/upstreams.js';
import { withBusLock } from './bus-lock.js';

export interface ReconcileReport {
  /** False when another control plane held the bus lock (nothing was checked). */
  ran: boolean;
  checked: number;
  put: number;
  deleted: number;
  revision: number;
}

/** The bus content PostgreSQL implies, as of the last published revision. */
async function desiredState(tx: TransactionSql, upTo: number): Promise<Map<string, ConfigEnvelope>> {
  const out = new Map<string, ConfigEnvelope>();
  const add = <K extends EntityKind>(kind: K, id: string, revision: string, data: ConfigEnvelope<K>['data']): void => {
    const rev = Number(revision);
    if (rev <= upTo) out.set(entityKey(kind, id), { kind, revision: rev, data } as ConfigEnvelope);
  };
  for (const r of await tx<UpstreamRow[]>`SELECT * FROM upstreams`) add('upstreams', r.id, r.revision, toUpstream(r));
  for (const r of await tx<ServiceRow[]>`SELECT * FROM services`) add('services', r.id, r.revision, serviceForDataPlane(toService(r)));
  for (const r of await tx<RouteRow[]>`SELECT * FROM routes`) add('routes', r.id, r.revision, toRoute(r));
  for (const r of await tx<ConsumerRow[]>`SELECT * FROM consumers`) add('consumers', r.id, r.revision, toConsumer(r));
  for (const r of await tx<ApiKeyRow[]>`SELECT * FROM api_keys`) add('keys', r.id, r.revision, toApiKeyConfig(r));
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
async function busSnapshot(bus: ConfigBus): Promise<Map<string, string>> {
  const values = new Map<string, string>();
  let done!: () => void;
  const initial = new Promise<void>((resolve) => (done = resolve));
  const watch = await bus.watch({
    onEvent: (ev) => {
      if (ev.op === 'put') values.set(ev.key, ev.value);
      else values.delete(ev.key);
    },
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

export async function reconcile(sql: Sql, bus: ConfigBus): Promise<ReconcileReport> {
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
      const cur = current.get(key);
      if (cur !== undefined && isDeepStrictEqual(parseJson(cur), env)) continue;
      puts.push([key, env]);
    }
    // Keys that are not entities (meta.*, anything else sharing the bucket) are not ours to remove.
    const deletes = [...current.keys()].filter((key) => parseEntityKey(key) && !desired.has(key) && !pending.has(key));
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
      const meta = current.get(META_REVISION_KEY) ?? null;
      const want = { revision: published };
      if (meta === null || !isDeepStrictEqual(parseJson(meta), want)) await bus.put(META_REVISION_KEY, JSON.stringify(want));
    }
    return report;
  });
  return res.locked ? res.value : { ran: false, checked: 0, put: 0, deleted: 0, revision: 0 };
}
