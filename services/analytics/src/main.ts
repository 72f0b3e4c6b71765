// Standalone ingester process: TP_NATS_URL, TP_CLICKHOUSE_URL, TP_CLICKHOUSE_DATABASE (default turnpike).
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { startIngester, type Ingester } from './ingester/ingester.js';
import { jsonLog } from './log.js';
import { ClickHouseStore } from './stores/clickhouse-store.js';

let store: ClickHouseStore | undefined;
let nc: NatsConnection | undefined;
let ingester: Ingester | undefined;
let stopping = false;

async function stop(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  jsonLog('info', 'stopping', { signal });
  const force = setTimeout(() => process.exit(1), 15_000);
  force.unref();
  await ingester?.close();
  await nc?.drain().catch(() => undefined);
  await store?.close();
  if (ingester) jsonLog('info', 'stopped', { ...ingester.stats() });
  process.exit(0);
}

async function main(): Promise<void> {
  // Installed first, so a signal during start-up also ends cleanly.
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));

  const natsUrl = process.env.TP_NATS_URL ?? 'nats://127.0.0.1:4222';
  const chUrl = process.env.TP_CLICKHOUSE_URL;
  if (!chUrl) throw new Error('TP_CLICKHOUSE_URL is required (e.g. http://127.0.0.1:8123)');
  const database = process.env.TP_CLICKHOUSE_DATABASE ?? 'turnpike';

  store = await ClickHouseStore.open(chUrl, database);
  nc = await connect({ servers: natsUrl, name: 'turnpike-ingester', maxReconnectAttempts: -1 });
  ingester = await startIngester({ nc, store, log: jsonLog });
  if (stopping) return;
  // The one line other processes wait for.
  process.stdout.write(JSON.stringify({ event: 'ready', service: 'ingester', nats: natsUrl, database }) + '\n');
}

main().catch((e: unknown) => {
  jsonLog('error', 'fatal', { error: e instanceof Error ? e.message : String(e) });
  process.exit(1);
});
