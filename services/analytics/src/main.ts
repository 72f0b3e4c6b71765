// Standalone ingester process: TP_NATS_URL (one server or a comma-separated list), TP_NATS_REPLICAS, TP_CLICKHOUSE_URL, TP_CLICKHOUSE_DATABASE (default turnpike),
// TP_INGEST_BATCH_MAX / TP_INGEST_INSERT_MAX / TP_INGEST_RETRY_MAX_MS, and retention
// (TP_ANALYTICS_RETENTION_DAYS, TP_ANALYTICS_ROLLUP_RETENTION_DAYS, TP_ANALYTICS_RETENTION_INTERVAL_MS).
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { natsReplicas, natsServers } from '@turnpike/common';
import { startIngester, type Ingester } from './ingester/ingester.js';
import { jsonLog } from './log.js';
import { ClickHouseStore } from './stores/clickhouse-store.js';
import { startRetention, type RetentionTask } from './clickhouse/retention.js';

let store: ClickHouseStore | undefined;
let nc: NatsConnection | undefined;
let ingester: Ingester | undefined;
let retention: RetentionTask | undefined;
let stopping = false;

async function stop(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  jsonLog('info', 'stopping', { signal });
  const force = setTimeout(() => process.exit(1), 15_000);
  force.unref();
  await ingester?.close();
  await retention?.close();
  await nc?.drain().catch(() => undefined);
  await store?.close();
  if (ingester) jsonLog('info', 'stopped', { ...ingester.stats() });
  process.exit(0);
}

async function main(): Promise<void> {
  // Installed first, so a signal during start-up also ends cleanly.
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));

  const servers = natsServers(process.env, 'nats://127.0.0.1:4222');
  const replicas = natsReplicas(process.env);
  const chUrl = process.env.TP_CLICKHOUSE_URL;
  if (!chUrl) throw new Error('TP_CLICKHOUSE_URL is required (e.g. http://127.0.0.1:8123)');
  const database = process.env.TP_CLICKHOUSE_DATABASE ?? 'turnpike';

  const batchMax = intEnv('TP_INGEST_BATCH_MAX', 500, 1);
  const insertMax = intEnv('TP_INGEST_INSERT_MAX', 10_000, 1);
  const nakMaxDelayMs = intEnv('TP_INGEST_RETRY_MAX_MS', 30_000, 100);
  const policy = { rawDays: intEnv('TP_ANALYTICS_RETENTION_DAYS', 0, 0), rollupDays: intEnv('TP_ANALYTICS_ROLLUP_RETENTION_DAYS', 0, 0) };
  const retentionEveryMs = intEnv('TP_ANALYTICS_RETENTION_INTERVAL_MS', 3_600_000, 60_000);

  store = await ClickHouseStore.open(chUrl, database);
  nc = await connect({ servers, name: 'turnpike-ingester', maxReconnectAttempts: -1 });
  ingester = await startIngester({ nc, store, batchMax, insertMax, nakMaxDelayMs, replicas, log: jsonLog });
  // Several ingesters may run the same drops: DROP PARTITION of a dropped partition fails and is logged.
  if (policy.rawDays > 0 || policy.rollupDays > 0) retention = startRetention(store.sqlRunner, database, policy, retentionEveryMs, jsonLog);
  if (stopping) return;
  // The one line other processes wait for.
  process.stdout.write(JSON.stringify({ event: 'ready', service: 'ingester', nats: nc.getServer(), database }) + '\n');
}

/** A whole-number setting from the environment, at least `min`; anything else stops the process. */
function intEnv(name: string, def: number, min: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return def;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < min) throw new Error(`${name} must be an integer >= ${min}, got ${JSON.stringify(raw)}`);
  return n;
}

main().catch((e: unknown) => {
  jsonLog('error', 'fatal', { error: e instanceof Error ? e.message : String(e) });
  process.exit(1);
});
