// Retention without TTL (ClickHouse 18.16 has none): drop whole partitions whose newest row is older
// than the cutoff. calls is partitioned by month, calls_1m by day, calls_1h and ai_usage_1h by month, so data lives
// between N days and N days plus one partition.
import { ident, sql } from './escape.js';
import type { SqlRunner } from './schema.js';
import type { Logger } from '../log.js';
import { silentLog } from '../log.js';

export interface RetentionPolicy {
  /** Days of raw calls to keep (TP_ANALYTICS_RETENTION_DAYS); 0 keeps everything. */
  rawDays: number;
  /** Days of calls_1m / calls_1h rollups to keep (TP_ANALYTICS_ROLLUP_RETENTION_DAYS); 0 keeps everything. */
  rollupDays: number;
}

export interface DroppedPartition {
  table: string;
  partition: string;
}

const DAY_MS = 86_400_000;

/** Drops the expired partitions of calls and the rollups; returns what it dropped. */
export async function dropExpiredPartitions(runner: SqlRunner, db: string, policy: RetentionPolicy, nowMs = Date.now()): Promise<DroppedPartition[]> {
  const keep = new Map<string, number>();
  if (policy.rawDays > 0) keep.set('calls', policy.rawDays);
  if (policy.rollupDays > 0) {
    keep.set('calls_1m', policy.rollupDays);
    keep.set('calls_1h', policy.rollupDays);
    keep.set('ai_usage_1h', policy.rollupDays);
  }
  if (keep.size === 0) return [];
  const out = await runner.exec(
    sql`SELECT table, partition, toUInt32(max(max_time)) AS newest FROM system.parts
WHERE database = ${db} AND active AND has(${[...keep.keys()]}, table)
GROUP BY table, partition FORMAT JSONEachRow`.text,
  );
  const dropped: DroppedPartition[] = [];
  for (const line of out.split('\n')) {
    if (line.trim() === '') continue;
    const row = JSON.parse(line) as { table: string; partition: string; newest: number | string };
    const days = keep.get(row.table);
    const newestMs = Number(row.newest) * 1000;
    // newest 0: the part has no time range recorded; never guess about deleting it.
    if (days === undefined || newestMs === 0 || newestMs >= nowMs - days * DAY_MS) continue;
    // Partition ids here are toYYYYMM / toYYYYMMDD numbers; anything else is left alone.
    if (!/^\d{6,8}$/.test(row.partition)) continue;
    await runner.exec(sql`ALTER TABLE ${ident(db)}.${ident(row.table)} DROP PARTITION ${Number(row.partition)}`.text);
    dropped.push({ table: row.table, partition: row.partition });
  }
  return dropped;
}

export interface RetentionTask {
  /** Runs one pass now (also what the timer runs). */
  runOnce(): Promise<DroppedPartition[]>;
  close(): Promise<void>;
}

/** Runs dropExpiredPartitions every intervalMs (first pass at once); failures are logged and retried next time. */
export function startRetention(runner: SqlRunner, db: string, policy: RetentionPolicy, intervalMs = 3_600_000, log: Logger = silentLog): RetentionTask {
  let running: Promise<DroppedPartition[]> = Promise.resolve([]);
  const runOnce = (): Promise<DroppedPartition[]> => {
    running = running
      .catch(() => [])
      .then(async () => {
        const dropped = await dropExpiredPartitions(runner, db, policy);
        for (const d of dropped) log('info', 'retention.dropped_partition', { database: db, ...d });
        return dropped;
      });
    return running;
  };
  const tick = (): void => {
    runOnce().catch((e: unknown) => log('warn', 'retention.failed', { database: db, error: (e as Error).message }));
  };
  tick();
  const timer = setInterval(tick, intervalMs);
  timer.unref();
  return {
    runOnce,
    close: async () => {
      clearInterval(timer);
      await running.catch(() => undefined);
    },
  };
}
