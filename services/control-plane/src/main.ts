// Standalone control-plane process: configuration from TP_* environment variables, a JSON ready line on
// stdout, clean shutdown on SIGINT/SIGTERM.
import { connect } from '@nats-io/transport-node';
import {
  NatsBudgetLedgerStore,
  NatsCacheInvalidationChannel,
  NatsHeartbeatChannel,
  NatsKvConfigBus,
  configBucketName,
  keyringFromEnv,
  natsReplicas,
  natsServers,
  quotaBucketName,
  type AnalyticsStore,
} from '@turnpike/common';
import { startControlPlane } from './index.js';
import { natsConditionalWrites } from './publisher/conditional-writes.js';
import { stdoutLogger } from './log.js';

function env(name: string): string | undefined {
  const v = process.env[name];
  return v === undefined || v === '' ? undefined : v;
}

function port(name: string, fallback: number): number {
  const v = env(name);
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new Error(`${name} must be a port number, got ${JSON.stringify(v)}`);
  return n;
}

/** The ClickHouse analytics store, loaded only when TP_CLICKHOUSE_URL is set (keeps a plain start lean). */
async function openAnalytics(url: string): Promise<AnalyticsStore> {
  const { ClickHouseStore } = await import('@turnpike/analytics');
  return await ClickHouseStore.open(url, env('TP_CLICKHOUSE_DATABASE'));
}

async function main(): Promise<void> {
  const log = stdoutLogger;
  const pgUrl = env('TP_PG_URL');
  if (!pgUrl) throw new Error('TP_PG_URL is required');
  const servers = natsServers(process.env);
  const replicas = natsReplicas(process.env);
  const cluster = env('TP_CLUSTER') ?? 'default';

  const nc = await connect({ servers, name: 'turnpike-cp', maxReconnectAttempts: -1 });
  const bus = await NatsKvConfigBus.open(nc, configBucketName(cluster), { replicas });
  const quotaBus = await NatsKvConfigBus.open(nc, quotaBucketName(cluster), { replicas });
  const clickhouseUrl = env('TP_CLICKHOUSE_URL');
  const analytics = clickhouseUrl ? await openAnalytics(clickhouseUrl) : undefined;

  const keyring = keyringFromEnv();
  if (!keyring) log('secret_key_missing', { message: 'TP_SECRET_KEY is not set: writes that carry a secret (AI provider keys, HMAC/JWT secrets) answer 503' });
  const cp = await startControlPlane({
    pgUrl,
    bus,
    analytics,
    host: env('TP_ADMIN_HOST') ?? '127.0.0.1',
    restPort: port('TP_ADMIN_PORT', 8001),
    grpcPort: port('TP_GRPC_PORT', 8002),
    bootstrapToken: env('TP_BOOTSTRAP_TOKEN'),
    log,
    heartbeat: new NatsHeartbeatChannel(() => nc, cluster),
    cacheInvalidation: new NatsCacheInvalidationChannel(() => nc, cluster),
    busWrites: natsConditionalWrites(nc, configBucketName(cluster)),
    keyring,
    quota: { nc, bus: quotaBus, replicas },
    budgetLedger: new NatsBudgetLedgerStore(nc, cluster, { replicas }),
  });
  // The bootstrap token, when one was just created, has already been printed once as its own log line.
  process.stdout.write(JSON.stringify({ event: 'ready', rest_port: cp.restPort, grpc_port: cp.grpcPort, cluster }) + '\n');

  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log('shutdown', { signal });
    void (async () => {
      await cp.close();
      await bus.close();
      if (analytics) await analytics.close().catch(() => undefined);
      await nc.drain().catch(() => undefined);
      process.exit(0);
    })();
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
}

main().catch((err: unknown) => {
  process.stderr.write(JSON.stringify({ event: 'fatal', error: String(err) }) + '\n');
  process.exit(1);
});
