// startGateway: one data-plane node. Config comes from the cluster's NATS KV bucket (or a ConfigBus handed
// in by the embedded `turnpike up`), is compiled off the hot path, and the uWS proxy reads the snapshot.
// This thread is the node's primary: config source, last-known-good, call-log batcher, heartbeat, status
// server. The proxy runs here (workers: 1) or in N worker threads sharing the port (src/node/).
import { hostname } from 'node:os';
import { join } from 'node:path';
import { Agent } from 'undici';
import { NatsHeartbeatChannel, freePortOn, keyringFromEnv, type Keyring, type ConfigBus, type ConfigEvent, type ConfigWatch, type ConfigWatchHandlers, type HeartbeatChannel, type LogSink } from '@turnpike/common';
import { loadUws } from './uws/loader.js';
import type { HttpsListener } from './tls/https-listener.js';
import type { MtlsListener } from './tls/mtls-listener.js';
import { ConfigManager } from './config/manager.js';
import { NatsConfigSource } from './config/nats-source.js';
import { BusQuotaWatch, QuotaWatch } from './quota/watch.js';
import { threadQuotaUsage } from './quota/usage-table.js';
import { PoolRegistry } from './upstream/pools.js';
import { ResilienceRegistry } from './upstream/resilience.js';
import { inFlightRequests } from './proxy/handler.js';
import { startProxyApp, type ProxyApp, type ProxyLimits } from './node/proxy-app.js';
import { WorkerPool } from './node/worker-pool.js';
import { GatewayMetrics } from './status/metrics.js';
import { startStatusServer } from './status/server.js';
import { CallLogBatcher, type CallLogBatcherOptions } from './call-log/batcher.js';
import { CallSpool, DEFAULT_SPOOL_MAX_BYTES } from './call-log/spool.js';
import { JetStreamLogSink } from './call-log/jetstream-sink.js';
import { HeartbeatReporter } from './heartbeat/index.js';
import { GATEWAY_VERSION } from './heartbeat/version.js';
import type { CallRecord } from '@turnpike/common';
import { NatsRateLimitSync, RateLimitRegistry, RateLimitRelay, renderRateLimitMetrics, type RateLimitSyncChannel } from './plugins/rate-limiting/index.js';
import { NatsCacheInvalidationChannel, type CacheInvalidationChannel } from '@turnpike/common';
import { applyInvalidation, DEFAULT_CACHE_MAX_BYTES, nodeCache } from './plugins/proxy-cache/index.js';
import { log } from './log.js';
import { BudgetGateServer, NatsBudgetGate, type BudgetGate } from './ai/budget-gate.js';
import { tracingConfigFromEnv, type TracingConfig } from './tracing/config.js';
import { NatsWsApiChannel, type WsApiChannel, type WsApiOp, type WsApiReply } from './websocket-api/cluster.js';
import { ownerOf, type ConnectionOwner } from './websocket-api/connection-id.js';

export interface GatewayOptions {
  nodeId?: string;
  cluster?: string;
  /** NATS mode: the config bucket of `cluster` and the call-log stream; several servers: one cluster's (TP_NATS_URL). */
  natsUrl?: string | readonly string[];
  /** Copies of each bucket and stream this node creates when absent (TP_NATS_REPLICAS; default 1). */
  natsReplicas?: number;
  /** Embedded mode: a ready config bus (e.g. InProcessConfigBus). */
  bus?: ConfigBus;
  /** Where call logs go; required in embedded mode, JetStream by default with NATS. */
  logSink?: LogSink;
  dataDir?: string;
  /**
   * Bound of the call-log spool under `<dataDir>/call-spool/` (env TP_CALL_SPOOL_MAX_BYTES; default 256 MiB);
   * 0 turns the spool off (records then wait in memory only).
   */
  callSpoolMaxBytes?: number;
  /** Call-log tuning (tests): batcher options and the JetStream publish timeout. */
  callLog?: Omit<CallLogBatcherOptions, 'spool'> & { publishTimeoutMs?: number };
  host?: string;
  proxyPort?: number;
  /**
   * The HTTPS listener's port (env TP_HTTPS_PORT; main.ts defaults it to 8443). Unset or negative: no HTTPS
   * listener (the default for embedded use); 0: a free port.
   */
  httpsPort?: number;
  /**
   * The mTLS listener's port (env TP_MTLS_PORT): TLS with a required, verified client certificate, for routes
   * with mtls-auth (tls/mtls-listener.ts). Unset or negative: none (the default); 0: a free port. One thread
   * per node serves it: this one, or worker 0 with worker threads.
   */
  mtlsPort?: number;
  /** Opens certificate keys sealed by the control plane; default: keyringFromEnv() (TP_SECRET_KEY[S]). */
  keyring?: Keyring | null;
  /**
   * The AI budget ledger (ai/budget-ledger.ts). Unset: over the node's NATS connection (with `natsUrl`), none
   * with a `bus` (`turnpike up` passes one over the store it shares with its control plane); null: none. Calls
   * that a budget counts are refused (503) on a node without one.
   */
  budgetLedger?: BudgetGate | null;
  /** How long a budget reservation holds when its call never settles (env TP_AI_BUDGET_RESERVATION_EXPIRY_MS; default 5 min). */
  budgetReservationExpiryMs?: number;
  statusPort?: number;
  maxBodyBytes?: number;
  maxHeaderBytes?: number;
  /** Longest request-target (path + query) accepted; longer ones get 414 (default 8 KiB). */
  maxUrlBytes?: number;
  /**
   * A request body that sends nothing for this long gets 408 (env TP_CLIENT_BODY_TIMEOUT_MS; default 5 s,
   * under uWS's own cut of bodies slower than 16 KiB/s at ~10 s, which answers nothing; 0 disables).
   */
  clientBodyTimeoutMs?: number;
  /** Largest WebSocket message either way (env TP_WS_MAX_MESSAGE_BYTES; default 16 MiB); bigger: close 1009. */
  wsMaxMessageBytes?: number;
  /** Idle timeout of WebSocket connections on http services (env TP_WS_IDLE_TIMEOUT_MS; default 120 s). */
  wsIdleTimeoutMs?: number;
  /** How long to wait for the bus's initial values before falling back to last-known-good. */
  initialConfigWaitMs?: number;
  /** Grace period for in-flight requests on close (env TP_DRAIN_TIMEOUT_MS; default 30 s). */
  drainTimeoutMs?: number;
  /**
   * Proxy threads (env TP_WORKERS). 1 (the default here; `turnpike up` keeps it): the proxy runs in this
   * thread. N > 1: N worker threads listen on the same port (SO_REUSEPORT) and this thread is the primary.
   */
  workers?: number;
  /** Test only (TP_TEST_HOOKS=1): SIGUSR2 makes worker 0 throw an uncaught error. */
  testHooks?: boolean;
  /** Where heartbeats go: by default NATS core pub/sub with NATS, none in embedded mode unless given. */
  heartbeat?: HeartbeatChannel;
  /** Heartbeat period (default 2 s); 0 sends only the beats after config swaps and on close. */
  heartbeatIntervalMs?: number;
  /**
   * Route stages this node serves (env TP_STAGES): routes whose `stage` is listed plus stage-less routes.
   * Unset or empty: every route.
   */
  stages?: readonly string[];
  /**
   * Proxies whose X-Forwarded-For (or Forwarded) names the client (env TP_TRUSTED_PROXIES: addresses and
   * CIDRs, comma-separated): ip-restriction and the client address read past them. Unset: none.
   */
  trustedProxies?: readonly string[];
  /** proxy-cache's bound per proxy thread, in bytes (env TP_CACHE_MAX_BYTES; default 64 MiB). */
  cacheMaxBytes?: number;
  /** The AI exact-match response cache's bound per proxy thread, in bytes (env TP_AI_CACHE_MAX_BYTES; default 32 MiB). */
  aiCacheMaxBytes?: number;
  /**
   * OpenTelemetry tracing (tracing/config.ts); unset: from the environment (TP_TRACE_SAMPLE_RATIO,
   * TP_OTEL_EXPORTER_OTLP_ENDPOINT / OTEL_EXPORTER_OTLP_ENDPOINT …); null: off.
   */
  tracing?: TracingConfig | null;
  /**
   * Where the control plane's cache invalidations arrive: by default NATS core pub/sub with NATS; none in
   * embedded mode unless given.
   */
  cacheInvalidation?: CacheInvalidationChannel | null;
  /**
   * Where usage-plan quota snapshots arrive: by default the cluster's quota bucket over NATS; in embedded
   * mode (`turnpike up`) the in-process bucket its control plane writes. None there: quotas are not enforced.
   */
  quotaBus?: ConfigBus | null;
  /**
   * Where rate-limit counters are exchanged with the cluster's other nodes: by default NATS core pub/sub with
   * NATS; none in embedded mode unless given (limits are then this node's alone).
   */
  rateLimitSync?: RateLimitSyncChannel | null;
  /**
   * Where WebSocket API management calls reach the node holding a connection (websocket-api/cluster.ts): by
   * default NATS request/reply with NATS; none in embedded mode unless given (then only this node's connections).
   */
  wsApiChannel?: WsApiChannel | null;
}

/** How long a management call waits for the node holding the connection. */
const WS_API_REMOTE_TIMEOUT_MS = 5_000;

export interface Gateway {
  nodeId: string;
  proxyPort: number;
  /** Null without an HTTPS listener. */
  httpsPort: number | null;
  /** Null without an mTLS listener. */
  mtlsPort: number | null;
  statusPort: number;
  /** Proxy threads serving (1: the proxy runs in the caller's thread). */
  workers: number;
  snapshot(): { revision: number; loaded: boolean; source: string | null };
  /** Graceful drain (stop accepting, finish in-flight up to drainTimeoutMs, flush call logs), then stop. */
  close(): Promise<void>;
  /** A second signal: drop every connection and stop the proxy threads now (call logs not flushed). */
  abort(): Promise<void>;
}

export async function startGateway(opts: GatewayOptions): Promise<Gateway> {
  const nodeId = opts.nodeId ?? `${hostname()}-${process.pid}`;
  const cluster = opts.cluster ?? 'default';
  const dataDir = opts.dataDir ?? `.turnpike/gateway-${nodeId}`;
  const host = opts.host ?? '0.0.0.0';
  if (!opts.bus && !opts.natsUrl) throw new Error('startGateway needs natsUrl or bus');
  if (!opts.logSink && !opts.natsUrl) throw new Error('startGateway needs logSink when there is no NATS');
  const replicas = opts.natsReplicas ?? 1;
  const startedAt = Date.now();
  // Set once the node is up; config swaps before that are reported by its first beat.
  let heartbeat: HeartbeatReporter | null = null;

  // Loaded here in both modes: refuses the pure-JS fallback before any thread starts.
  const { uws, native } = loadUws();
  const requestedWorkers = Math.max(1, Math.floor(opts.workers ?? 1));
  // The pure-JS fallback (allowed with TP_ALLOW_UWS_FALLBACK) has no SO_REUSEPORT: one thread only.
  const workers = native ? requestedWorkers : 1;
  if (workers < requestedWorkers) log('warn', 'gateway.workers_reduced', { requested: requestedWorkers, workers, reason: 'uWS fallback cannot share a port between threads' });
  const threaded = workers > 1;
  // The pure-JS fallback has no SSLApp: it serves plain HTTP only.
  const wantsHttps = opts.httpsPort !== undefined && opts.httpsPort >= 0;
  const httpsPort = wantsHttps && native ? opts.httpsPort! : null;
  if (wantsHttps && !native) log('warn', 'gateway.https_disabled', { reason: 'the uWS fallback has no TLS (SSLApp)' });
  const wantsMtls = opts.mtlsPort !== undefined && opts.mtlsPort >= 0;
  let mtlsPort = wantsMtls && native ? opts.mtlsPort! : null;
  if (wantsMtls && !native) log('warn', 'gateway.mtls_disabled', { reason: 'the uWS fallback has no unix socket listener or PROXY protocol' });
  // Worker 0 hosts it: a free port is chosen here, so that worker 0 restarted after a crash binds the same one.
  if (threaded && mtlsPort === 0) mtlsPort = await freePortOn(host);
  const pools = new PoolRegistry();
  const metrics = new GatewayMetrics();
  // Upstream health checks, breakers, retry budgets: kept by the thread that proxies (each worker has its own).
  const resilience = threaded ? null : new ResilienceRegistry();
  metrics.resilience = resilience;
  // With worker threads this manager compiles only to write last-known-good and to replay a restarted
  // worker: its routes are never served, so its upstreams get one idle dispatcher that opens nothing.
  const unused = threaded ? new Agent() : null;
  // Set once the proxy listens; a swap before that is picked up by the listener's start.
  let https: HttpsListener | null = null;
  let mtls: MtlsListener | null = null;
  const keyring = opts.keyring !== undefined ? opts.keyring : keyringFromEnv();
  // The proxy thread's rate limiters; its channel's connection is read only once the config source exists.
  let source: NatsConfigSource | null = null;
  const rateLimitChannel = opts.rateLimitSync !== undefined ? opts.rateLimitSync : opts.natsUrl && !opts.bus ? new NatsRateLimitSync(() => source?.connection, cluster) : null;
  // The AI budget ledger lives in this thread (where the NATS connection is); workers reach it by message.
  const natsBudgets =
    opts.budgetLedger === undefined && opts.natsUrl && !opts.bus
      ? new NatsBudgetGate(() => source?.connection, cluster, { nodeId, replicas, ...(opts.budgetReservationExpiryMs !== undefined ? { reservationExpiryMs: opts.budgetReservationExpiryMs } : {}) })
      : null;
  const budgets: BudgetGate | null = opts.budgetLedger !== undefined ? opts.budgetLedger : natsBudgets;
  const budgetServers = new Map<number, BudgetGateServer>();
  const wsApiChannel = opts.wsApiChannel !== undefined ? opts.wsApiChannel : opts.natsUrl && !opts.bus ? new NatsWsApiChannel(() => source?.connection, cluster) : null;
  let wsApiServing: { stop(): void } | null = null;
  // With worker threads each worker has its own limiters, a node of the exchange of its own: the primary
  // relays their counters (to NATS and between them); its own registry only serves its unused compiles.
  const rateLimits = new RateLimitRegistry({ nodeId, channel: threaded ? null : rateLimitChannel });
  let relayTo: WorkerPool | null = null;
  const rateLimitRelay = threaded
    ? new RateLimitRelay(rateLimitChannel, nodeId, { toWorkers: (m, except) => relayTo?.postRateLimit(m, except), link: (up) => relayTo?.postRateLimitLink(up) })
    : null;
  const manager = new ConfigManager({
    dataDir,
    poolFor: (origin, connectTimeoutMs, tls) => {
      const o = { connectTimeoutMs, tls };
      return { key: PoolRegistry.key(origin, o), dispatcher: unused ?? pools.get(origin, o) };
    },
    onSwap: (snap) => {
      https?.apply(snap.tls);
      mtls?.apply(snap.tls);
      if (!threaded) pools.retain(snap.poolKeys);
      resilience?.retain(snap.resilienceKeys);
      if (!threaded) heartbeat?.beat();
    },
    stages: opts.stages && opts.stages.length > 0 ? new Set(opts.stages) : null,
    resilience,
    keyring,
    trustedProxies: opts.trustedProxies ?? [],
    rateLimits,
  });

  let batcher: CallLogBatcher | null = null;
  const record = (rec: CallRecord): void => batcher!.record(rec);
  let beatRevision = -1;
  // The proxy handler's settings, the same for every proxy thread.
  const limits: ProxyLimits = {
    maxBodyBytes: opts.maxBodyBytes ?? 10 * 1024 * 1024,
    maxHeaderBytes: opts.maxHeaderBytes ?? 16 * 1024,
    maxUrlBytes: opts.maxUrlBytes ?? 8 * 1024,
    clientBodyTimeoutMs: opts.clientBodyTimeoutMs ?? 5_000,
    wsMaxMessageBytes: opts.wsMaxMessageBytes ?? 16 * 1024 * 1024,
    wsIdleTimeoutMs: opts.wsIdleTimeoutMs ?? 120_000,
    tracing: opts.tracing !== undefined ? opts.tracing : tracingConfigFromEnv(process.env),
    aiCacheMaxBytes: opts.aiCacheMaxBytes ?? 32 * 1024 * 1024,
  };
  const pool = threaded
    ? new WorkerPool({
        count: workers,
        manager,
        record,
        onRateLimit: (w, m) => rateLimitRelay?.fromWorker(w, m),
        onWsApi: (owner, op, reply) => void wsApiRun(owner, op).then(reply, () => reply({ status: 503 })),
        onBudget: (w, m, reply) => {
          let server = budgetServers.get(w);
          // A restarted worker gets a fresh reply channel; its predecessor's open reservations expire in the ledger.
          if (server === undefined) budgetServers.set(w, (server = new BudgetGateServer(() => budgets, reply)));
          server.handle(m, reply);
        },
        // The primary's own swap comes first; the cluster view should move when every worker has.
        onApplied: () => {
          const rev = Math.min(...pool!.states().map((w) => w.revision));
          if (rev !== beatRevision) {
            beatRevision = rev;
            heartbeat?.beat();
          }
        },
        init: {
          nodeId,
          dataDir,
          host,
          limits,
          httpsDataDir: httpsPort !== null ? dataDir : null,
          mtlsPort,
          stages: opts.stages && opts.stages.length > 0 ? [...opts.stages] : null,
          keyring: keyring ? { activeKid: keyring.activeKid, keys: [...keyring.keys] } : null,
          trustedProxies: [...(opts.trustedProxies ?? [])],
          workers,
          cacheMaxBytes: opts.cacheMaxBytes ?? DEFAULT_CACHE_MAX_BYTES,
        },
      })
    : null;
  relayTo = pool;
  // With worker threads a connection lives in the worker its id names: run there, or on the owning node.
  const wsApiRun = (owner: ConnectionOwner, op: WsApiOp): Promise<WsApiReply> =>
    owner.nodeId === nodeId ? pool!.wsApiOp(owner.worker, op) : wsApiChannel ? wsApiChannel.request(owner.nodeId, op, WS_API_REMOTE_TIMEOUT_MS) : Promise.resolve({ status: 410 });
  if (pool && wsApiChannel) {
    wsApiServing = wsApiChannel.serve(nodeId, async (op) => {
      const owner = ownerOf(op.id);
      return owner !== null && owner.nodeId === nodeId ? await pool.wsApiOp(owner.worker, op) : { status: 410 };
    });
  }
  const session = (): ConfigWatchHandlers => (pool ? pool.watchSession(manager.newWatchSession()) : manager.newWatchSession());

  let busWatch: ConfigWatch | null = null;
  if (opts.bus) busWatch = await opts.bus.watch(session());
  else {
    source = new NatsConfigSource(opts.natsUrl!, cluster, nodeId, { newWatchSession: session }, replicas);
    source.start();
  }
  const natsConnected = (): boolean => (source ? source.connected : true);
  // Usage-plan quotas: the control plane's usage snapshots, for this thread's table and every worker's.
  const deliverQuota = (events: ConfigEvent[]): void => {
    for (const ev of events) threadQuotaUsage.apply(ev);
    pool?.postQuota(events);
  };
  const quotaWatch = opts.quotaBus ? new BusQuotaWatch(opts.quotaBus, deliverQuota) : source ? new QuotaWatch(() => source?.connection, cluster, deliverQuota, replicas) : null;
  // proxy-cache: this thread's store (used when it proxies), and invalidations for every proxy thread's.
  if (!threaded) nodeCache.resize(opts.cacheMaxBytes ?? DEFAULT_CACHE_MAX_BYTES);
  const invalidations = opts.cacheInvalidation !== undefined ? opts.cacheInvalidation : source ? new NatsCacheInvalidationChannel(() => source?.connection, cluster) : null;
  const invalidationSub =
    invalidations?.subscribe((inv) => {
      if (pool) pool.invalidateCache(inv);
      else log('info', 'cache.invalidated', { id: inv.id, dropped: applyInvalidation(nodeCache, inv) });
    }) ?? null;
  rateLimits.start();
  rateLimitRelay?.start();

  const { publishTimeoutMs, ...batcherOpts } = opts.callLog ?? {};
  const sink = opts.logSink ?? new JetStreamLogSink(() => source?.connection, nodeId, { replicas, ...(publishTimeoutMs !== undefined ? { publishTimeoutMs } : {}) });
  // The spool takes over what a previous run left in it; the batcher replays that before new records.
  const spoolMax = opts.callSpoolMaxBytes ?? DEFAULT_SPOOL_MAX_BYTES;
  const spool = spoolMax > 0 ? new CallSpool(join(dataDir, 'call-spool'), { maxBytes: spoolMax }) : undefined;
  batcher = new CallLogBatcher(sink, { ...batcherOpts, ...(spool ? { spool } : {}) });

  // Wait briefly for the bus; if it cannot deliver, serve the last-known-good config meanwhile.
  const waited = await Promise.race([
    manager.whenLoaded().then(() => true),
    new Promise<boolean>((r) => setTimeout(() => r(false), opts.initialConfigWaitMs ?? 2_000).unref()),
  ]);
  if (!waited && !manager.snapshot && manager.loadLastKnownGood()) pool?.loadLastKnownGood();
  // Quota usage too, so that a restarted node does not admit a consumer whose quota is used up.
  if (quotaWatch && waited) await Promise.race([quotaWatch.initialized, new Promise((r) => setTimeout(r, opts.initialConfigWaitMs ?? 2_000).unref())]);
  if (!manager.snapshot) log('warn', 'config.not_loaded', { msg: 'serving 503 until the config bus delivers' });

  let local: ProxyApp | null = null;
  let proxyPort: number;
  /** With worker threads: the port their HTTPS listeners share (each applies its own snapshot's certificates). */
  let workersHttpsPort: number | null = null;
  if (pool) {
    const ports = await pool.listen(opts.proxyPort ?? 8000, httpsPort).catch(async (e: unknown) => {
      // The workers that did listen must close their sockets before the process may exit.
      await pool.exitNow();
      throw e;
    });
    proxyPort = ports.port;
    workersHttpsPort = ports.httpsPort;
    log('info', 'gateway.workers_started', { workers, proxy_port: proxyPort, https_port: workersHttpsPort, mtls_port: mtlsPort });
  } else {
    local = await startProxyApp(uws, {
      host,
      port: opts.proxyPort ?? 8000,
      nodeId,
      limits,
      snapshot: () => manager.snapshot,
      record,
      metrics,
      https: httpsPort !== null ? { port: httpsPort, dataDir } : null,
      mtls: mtlsPort !== null ? { port: mtlsPort, dataDir } : null,
      budgets,
      wsApiRemote: wsApiChannel ? (owner, op) => wsApiChannel.request(owner.nodeId, op, WS_API_REMOTE_TIMEOUT_MS) : null,
    });
    proxyPort = local.port;
    const app = local;
    wsApiServing = wsApiChannel?.serve(nodeId, async (op) => app.wsApi.execute(op)) ?? null;
    https = local.https;
    mtls = local.mtls;
    mtlsPort = mtls?.port ?? null;
    // A swap while the listeners were starting went nowhere: catch up (a no-op when nothing changed).
    if (manager.snapshot) {
      https?.apply(manager.snapshot.tls);
      mtls?.apply(manager.snapshot.tls);
    }
  }
  if (opts.testHooks && pool) process.on('SIGUSR2', () => pool.crash(0));

  let draining = false;
  /** The revision every proxy thread serves (with workers: the lowest applied). */
  const servedRevision = (): number => (pool ? Math.min(...pool.states().map((w) => w.revision)) : (manager.snapshot?.revision ?? 0));
  const proxyReady = (): boolean => (pool ? pool.states().every((w) => w.ready) : manager.snapshot !== null);
  const ready = (): boolean => !draining && proxyReady();
  const inFlight = (): number => (pool ? pool.states().reduce((n, w) => n + w.inFlight, 0) : inFlightRequests());
  const requestsTotal = (): number => (pool ? pool.states().reduce((n, w) => n + w.requests, 0) : metrics.requestsTotal());
  // The heartbeat reads cached worker counters: keep them fresh without a scrape.
  const statsTimer = pool ? setInterval(() => void pool.refreshStats(), 1_000) : null;
  statsTimer?.unref();

  const status = await startStatusServer(host, opts.statusPort ?? 8100, {
    ready: () => {
      const snap = manager.snapshot;
      return {
        ready: ready(),
        body: {
          ready: ready(),
          ...(draining ? { draining: true } : {}),
          node_id: nodeId,
          revision: pool ? servedRevision() : (snap?.revision ?? 0),
          source: manager.source,
          nats_connected: natsConnected(),
          counts: snap?.counts ?? null,
          rejected: snap?.rejected ?? [],
          ...(pool ? { workers: pool.states().map((w) => ({ id: w.id, ready: w.ready, revision: w.revision, restarts: w.restarts })) } : {}),
        },
      };
    },
    metrics: async () => {
      let view = metrics;
      let workerStates: ReturnType<WorkerPool['states']> | undefined;
      if (pool) {
        workerStates = await pool.refreshStats();
        view = new GatewayMetrics();
        for (const st of pool.metricsStates()) view.add(st);
      }
      return view.render({
        revision: pool ? servedRevision : () => manager.snapshot?.revision ?? 0,
        rejected: () => manager.snapshot?.rejected.length ?? 0,
        configLoaded: proxyReady,
        natsConnected,
        uwsNative: () => native,
        callLog: () => batcher!.stats(),
        callSpool: () => batcher!.spoolStats(),
        inFlight,
        workers: () => workerStates ?? [],
      }) + (pool ? renderRateLimitMetrics(pool.rateLimitStats()) : rateLimits.renderMetrics());
    },
  });

  const channel = opts.heartbeat ?? (source ? new NatsHeartbeatChannel(() => source?.connection, cluster) : null);
  if (channel) {
    const nodeHostname = hostname();
    heartbeat = new HeartbeatReporter({
      channel,
      intervalMs: opts.heartbeatIntervalMs ?? 2_000,
      read: () => ({
        node_id: nodeId,
        cluster,
        hostname: nodeHostname,
        pid: process.pid,
        version: GATEWAY_VERSION,
        started_at: startedAt,
        revision: servedRevision(),
        source: manager.source ?? 'none',
        ready: ready(),
        bus_connected: natsConnected(),
        in_flight: inFlight(),
        requests_total: requestsTotal(),
      }),
    });
    heartbeat.beat();
  }

  const drainTimeoutMs = opts.drainTimeoutMs ?? 30_000;
  let closing: Promise<void> | null = null;
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      // First, while NATS is still connected: the cluster view and /readyz show this node unready at once.
      draining = true;
      heartbeat?.stop();
      const deadline = Date.now() + drainTimeoutMs;
      log('info', 'gateway.draining', { in_flight: inFlight(), timeout_ms: drainTimeoutMs });
      // Every proxy thread stops accepting, finishes its in-flight requests, then closes its connections.
      if (pool) await pool.drain(deadline);
      else await local!.drain(deadline);
      if (statsTimer) clearInterval(statsTimer);
      wsApiServing?.stop();
      invalidationSub?.stop();
      rateLimits.stop();
      rateLimitRelay?.stop();
      await natsBudgets?.close().catch(() => undefined);
      manager.close();
      await busWatch?.stop().catch(() => undefined);
      await quotaWatch?.close();
      // The workers' last call records arrived before their threads ended: the batcher flushes them all.
      await batcher!.close().catch(() => undefined);
      await source?.close();
      resilience?.close();
      await pools.close();
      await unused?.close().catch(() => undefined);
      await status.close();
      log('info', 'gateway.drained', {});
    })());

  const abort = async (): Promise<void> => {
    draining = true;
    if (pool) await pool.exitNow();
    else local!.closeNow();
  };

  return {
    nodeId,
    proxyPort,
    httpsPort: https?.port ?? workersHttpsPort,
    mtlsPort,
    statusPort: status.port,
    workers,
    snapshot: () => ({ revision: servedRevision(), loaded: proxyReady(), source: manager.source }),
    close,
    abort,
  };
}

/** The id a call-log batch is deduplicated by (the calls stream's msgID; `turnpike up`'s quota feed). */
export { batchId } from './call-log/jetstream-sink.js';
export { BudgetLedger } from './ai/budget-ledger.js';
export type { BudgetGate } from './ai/budget-gate.js';
