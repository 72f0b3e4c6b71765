// The control plane as a library: PostgreSQL (migrated at start), the outbox publisher and reconciler
// feeding the config bus, and the REST and gRPC admin APIs over one service layer.
import type { AnalyticsStore, BudgetLedgerStore, CacheInvalidationChannel, ConfigBus, HeartbeatChannel, Keyring } from '@turnpike/common';
import { NodeRegistry } from './cluster/node-registry.js';
import { connectPostgres } from './db/connect.js';
import { migrate } from './db/migrate.js';
import { closeGrpc, buildGrpcServer, listenGrpc } from './grpc/server.js';
import { stdoutLogger, type Logger } from './log.js';
import { OutboxPublisher } from './publisher/outbox-publisher.js';
import type { ReconcileReport } from './publisher/reconciler.js';
import type { ConditionalWrites } from './publisher/conditional-writes.js';
import { buildRestServer } from './rest/server.js';
import { startQuotaAggregator } from './quota/aggregator.js';
import type { InProcessCallsFeed } from './quota/in-process-calls.js';
import type { NatsConnection } from '@nats-io/transport-node';
import { ensureBootstrapToken, type ServiceContext } from './service/index.js';

export interface ControlPlaneOptions {
  pgUrl: string;
  bus: ConfigBus;
  analytics?: AnalyticsStore | undefined;
  /** Listen address of both APIs (default 127.0.0.1). */
  host?: string | undefined;
  /** 0 picks a free port (the chosen one is returned). */
  restPort: number;
  grpcPort: number;
  /** Admin token to create when none exists yet (else one is generated). */
  bootstrapToken?: string | undefined;
  log?: Logger | undefined;
  /** Outbox poll interval (default 1 s) and reconciliation interval (default 60 s). */
  pollIntervalMs?: number | undefined;
  reconcileIntervalMs?: number | undefined;
  /** The developer portal's "try it" gateway when a tenant sets none (default: env TP_PORTAL_GATEWAY_URL). */
  portalGatewayUrl?: string | null | (() => string | null) | undefined;
  /** Cap of the publisher's retry backoff after bus errors (default 10 s). */
  maxBackoffMs?: number | undefined;
  /** Where gateway nodes' heartbeats arrive (cluster view, /v1/cluster/nodes); none: the view is empty. */
  heartbeat?: HeartbeatChannel | undefined;
  /** Where cache invalidations (POST /v1/cache/invalidations) go to the gateway nodes; none: that endpoint answers 503. */
  cacheInvalidation?: CacheInvalidationChannel | undefined;
  /**
   * Seals secrets at rest (AI provider keys, HMAC and JWT secrets); the gateway nodes need the same keys.
   * None: writes that carry a secret answer 503 TP_ERR_UNAVAILABLE.
   */
  keyring?: Keyring | null | undefined;
  /**
   * Compare-and-set writes to `bus`'s bucket (`natsConditionalWrites` for NATS KV): the reconciler then
   * runs beside the publisher instead of under the bus lock. None (the in-process bus): under the lock.
   */
  busWrites?: ConditionalWrites | undefined;
  /**
   * Quota aggregation (usage plans): reads the calls stream over `nc` and writes usage snapshots to `bus`
   * (the cluster's quota bucket, quotaBucketName). `turnpike up`: the call batches of its in-process
   * call-log sink (`feed`) and an in-process bucket the embedded node watches. None: quotas are neither
   * counted nor enforced.
   */
  quota?: { nc: NatsConnection; bus: ConfigBus; replicas?: number } | { feed: InProcessCallsFeed; bus: ConfigBus } | undefined;
  /**
   * The AI budget ledger the gateway nodes keep (NatsBudgetLedgerStore on the cluster's NATS), read by
   * GET /v1/ai-budgets/{id}/usage. None: that endpoint answers 503.
   */
  budgetLedger?: BudgetLedgerStore | undefined;
}

export interface ControlPlane {
  restPort: number;
  grpcPort: number;
  /** Set only on the first start against an empty database: the clear bootstrap admin token. */
  bootstrapToken?: string;
  /** Drains the outbox, then repairs bus drift now (the periodic run does the same). */
  reconcile(): Promise<ReconcileReport>;
  close(): Promise<void>;
}

export async function startControlPlane(opts: ControlPlaneOptions): Promise<ControlPlane> {
  const log = opts.log ?? stdoutLogger;
  const host = opts.host ?? '127.0.0.1';
  const sql = connectPostgres(opts.pgUrl);
  // The outbox publisher and the quota aggregation get a small pool of their own: while PostgreSQL is away
  // or they catch up after it, their retries never hold the connections the admin APIs answer with.
  const background = connectPostgres(opts.pgUrl, 3);
  const cleanup: Array<() => Promise<void>> = [async () => await sql.end({ timeout: 5 }), async () => await background.end({ timeout: 5 })];
  const closeAll = async (): Promise<void> => {
    for (const fn of cleanup.splice(0).reverse()) await fn().catch((err: unknown) => log('close_failed', { error: String(err) }));
  };

  try {
    const applied = await migrate(sql);
    if (applied.length > 0) log('migrations_applied', { versions: applied });

    const publisher = new OutboxPublisher(background, opts.bus, log, {
      pollIntervalMs: opts.pollIntervalMs,
      reconcileIntervalMs: opts.reconcileIntervalMs,
      maxBackoffMs: opts.maxBackoffMs,
      writes: opts.busWrites,
    });
    const ctx: ServiceContext = { sql, onCommit: () => publisher.notify(), keyring: opts.keyring ?? null };
    const bootstrapToken = await ensureBootstrapToken(ctx, opts.bootstrapToken);
    if (bootstrapToken !== undefined) log('bootstrap_token', { token: bootstrapToken });

    cleanup.push(async () => await publisher.stop());
    await publisher.start();

    if (opts.quota) {
      const calls = 'nc' in opts.quota ? { nc: opts.quota.nc, replicas: opts.quota.replicas } : { feed: opts.quota.feed };
      const aggregator = await startQuotaAggregator({ sql: background, calls, bus: opts.quota.bus, log });
      cleanup.push(async () => await aggregator.close());
    }

    const nodes = new NodeRegistry();
    if (opts.heartbeat) {
      const sub = nodes.follow(opts.heartbeat);
      cleanup.push(async () => sub.stop());
    }

    const rest = buildRestServer({ ctx, analytics: opts.analytics, log, nodes, cacheInvalidation: opts.cacheInvalidation, budgetLedger: opts.budgetLedger, portalGatewayUrl: opts.portalGatewayUrl });
    cleanup.push(async () => await rest.close());
    await rest.listen({ host, port: opts.restPort });
    const addr = rest.server.address();
    const restPort = typeof addr === 'object' && addr ? addr.port : opts.restPort;

    const grpcServer = buildGrpcServer(ctx, log, nodes);
    cleanup.push(async () => await closeGrpc(grpcServer));
    const grpcPort = await listenGrpc(grpcServer, host, opts.grpcPort);

    const cp: ControlPlane = {
      restPort,
      grpcPort,
      reconcile: async () => await publisher.reconcile(),
      close: closeAll,
    };
    if (bootstrapToken !== undefined) cp.bootstrapToken = bootstrapToken;
    return cp;
  } catch (err) {
    await closeAll();
    throw err;
  }
}

export type { Logger } from './log.js';
export type { ReconcileReport } from './publisher/reconciler.js';
export { InProcessCallsFeed } from './quota/in-process-calls.js';
export { natsConditionalWrites, type ConditionalWrites } from './publisher/conditional-writes.js';
