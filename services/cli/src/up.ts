// `turnpike up`: the embedded all-in-one. Same code paths as the cluster above the store/bus interfaces:
// embedded PostgreSQL instead of a server, an in-process config bus instead of NATS KV, chdb instead of
// a ClickHouse server, and call logs handed straight to the analytics store and the quota aggregation
// instead of JetStream (usage snapshots reach the node over a second in-process bus, the quota bucket).
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { InMemoryBudgetLedgerStore, InProcessCacheInvalidationChannel, InProcessConfigBus, InProcessHeartbeatChannel, generateSecretKey, keyringFromEnv, type Keyring } from '@turnpike/common';
import { InProcessCallsFeed, startControlPlane } from '@turnpike/control-plane';
import { BudgetLedger, startGateway } from '@turnpike/gateway';
import { ChdbStore, StoreLogSink } from '@turnpike/analytics';
import { startEmbeddedPostgres } from './embedded-postgres.js';
import { QuotaFeedingLogSink } from './quota-log-sink.js';

export interface UpOptions {
  dataDir: string;
  host: string;
  adminHost: string;
  proxyPort: number;
  /** The gateway's HTTPS listener; unset: none. */
  httpsPort?: number;
  statusPort: number;
  adminPort: number;
  grpcPort: number;
  pgPort: number;
}

const log = (msg: string): void => {
  process.stderr.write(`[turnpike up] ${msg}\n`);
};

export async function runUp(o: UpOptions): Promise<void> {
  const dataDir = resolve(o.dataDir);
  // Traversable, not listable, by others (embedded PostgreSQL may run as `postgres`); secrets inside are 0600.
  mkdirSync(dataDir, { recursive: true, mode: 0o711 });
  const closers: Array<[string, () => Promise<void>]> = [];
  let stopping = false;
  const stop = async (code: number): Promise<void> => {
    if (stopping) return;
    stopping = true;
    log('stopping');
    for (const [what, close] of closers.reverse()) {
      try {
        await close();
      } catch (e) {
        log(`error stopping ${what}: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
    log('stopped');
    process.exit(code);
  };
  process.once('SIGINT', () => void stop(0));
  process.once('SIGTERM', () => void stop(0));

  try {
    const pg = await startEmbeddedPostgres(join(dataDir, 'postgres'), o.pgPort, log);
    closers.push(['postgres', pg.stop]);

    const analytics = await ChdbStore.open(join(dataDir, 'analytics'));
    closers.push(['analytics', () => analytics.close()]);

    const bus = new InProcessConfigBus();
    closers.push(['config bus', () => bus.close()]);
    // The embedded node's heartbeats feed the control plane's cluster view (/v1/cluster/nodes).
    const heartbeat = new InProcessHeartbeatChannel();
    // POST /v1/cache/invalidations reaches the embedded node's proxy-cache.
    const cacheInvalidation = new InProcessCacheInvalidationChannel('default');
    // Usage-plan quotas: the node's call batches are counted by the control plane, whose usage snapshots
    // come back to the node through an in-process quota bucket.
    const quotaCalls = new InProcessCallsFeed();
    const quotaBus = new InProcessConfigBus();
    closers.push(['quota bus', () => quotaBus.close()]);

    // AI budgets: one ledger in this process, read by the control plane's usage endpoint and written by the node.
    const budgetStore = new InMemoryBudgetLedgerStore();

    const tokenFile = join(dataDir, 'admin-token');
    const keyring = loadOrCreateKeyring(join(dataDir, 'secret-key'));
    // The portal's "try it" goes to this process's own node (its port is known once the node listens).
    let proxyUrl: string | null = null;
    const cp = await startControlPlane({
      portalGatewayUrl: () => process.env.TP_PORTAL_GATEWAY_URL || proxyUrl,
      keyring,
      pgUrl: pg.url,
      bus,
      analytics,
      host: o.adminHost,
      restPort: o.adminPort,
      grpcPort: o.grpcPort,
      heartbeat,
      cacheInvalidation,
      quota: { feed: quotaCalls, bus: quotaBus },
      budgetLedger: budgetStore,
    });
    closers.push(['control plane', () => cp.close()]);
    // The bootstrap token exists only once, at first start; keep it for this user (0600) so that later
    // starts can point at it. Postgres holds only its hash.
    if (cp.bootstrapToken) {
      writeFileSync(tokenFile, cp.bootstrapToken + '\n', { mode: 0o600 });
      chmodSync(tokenFile, 0o600);
    }

    const gw = await startGateway({
      nodeId: 'embedded',
      cluster: 'default',
      bus,
      logSink: new QuotaFeedingLogSink(new StoreLogSink(analytics), quotaCalls, 'embedded'),
      dataDir: join(dataDir, 'gateway'),
      host: o.host,
      proxyPort: o.proxyPort,
      ...(o.httpsPort !== undefined ? { httpsPort: o.httpsPort } : {}),
      statusPort: o.statusPort,
      heartbeat,
      cacheInvalidation,
      quotaBus,
      // Opens the certificate keys the control plane seals (no HTTPS listener unless a port is given).
      keyring,
      budgetLedger: new BudgetLedger({ store: budgetStore, nodeId: 'embedded' }),
    });
    closers.push(['gateway', () => gw.close()]);
    proxyUrl = `http://${displayHost(o.host)}:${gw.proxyPort}`;

    const token = cp.bootstrapToken ?? (existsSync(tokenFile) ? readFileSync(tokenFile, 'utf8').trim() : undefined);
    const lines = [
      '',
      'Turnpike is up.',
      `  proxy        http://${displayHost(o.host)}:${gw.proxyPort}`,
      ...(gw.httpsPort !== null ? [`  proxy https  https://${displayHost(o.host)}:${gw.httpsPort}   (certificates: /v1/certificates)`] : []),
      `  admin REST   http://${displayHost(o.adminHost)}:${cp.restPort}/v1   (OpenAPI: /v1/openapi.json)`,
      `  admin gRPC   ${displayHost(o.adminHost)}:${cp.grpcPort}`,
      `  console      http://${displayHost(o.adminHost)}:${cp.restPort}/console/   (sign in with the admin token)`,
      `  portal       http://${displayHost(o.adminHost)}:${cp.restPort}/portal/   (developers; sign-up: PATCH /v1/portal/settings {"signup":"open"})`,
      `  node status  http://${displayHost(o.host)}:${gw.statusPort}/readyz  /metrics`,
      `  data         ${dataDir}`,
      token
        ? `  admin token  ${token}${cp.bootstrapToken ? '   (new: shown once here, kept in ' + tokenFile + ')' : '   (from ' + tokenFile + ')'}`
        : `  admin token  issued at first start (not kept in ${tokenFile})`,
      '',
      'Ctrl-C stops everything.',
      '',
    ];
    process.stdout.write(lines.join('\n'));
    process.stdout.write(
      JSON.stringify({ event: 'ready', proxy_port: gw.proxyPort, status_port: gw.statusPort, admin_port: cp.restPort, grpc_port: cp.grpcPort }) + '\n',
    );
  } catch (e) {
    log(`failed to start: ${e instanceof Error ? e.message : String(e)}`);
    await stop(1);
  }
}

function displayHost(h: string): string {
  return h === '0.0.0.0' || h === '::' ? '127.0.0.1' : h;
}

/**
 * The keyring that seals secrets at rest: TP_SECRET_KEY(S) when set, else a key generated at first start and
 * kept beside the data (0600), so that secrets stored by one start open in the next.
 */
function loadOrCreateKeyring(file: string): Keyring {
  const fromEnv = keyringFromEnv();
  if (fromEnv) return fromEnv;
  if (!existsSync(file)) writeFileSync(file, generateSecretKey().toString('hex') + '\n', { mode: 0o600, flag: 'wx' });
  chmodSync(file, 0o600);
  return keyringFromEnv({ TP_SECRET_KEY: readFileSync(file, 'utf8') })!;
}
