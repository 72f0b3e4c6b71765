// Standalone gateway node: configuration from the environment, one JSON `ready` line, clean shutdown.
import { availableParallelism, hostname } from 'node:os';
import { natsReplicas, natsServers } from '@turnpike/common';
import { startGateway, type Gateway } from './index.js';
import { UwsFallbackError } from './uws/loader.js';
import { compileTrustedProxies } from './plugins/ip-restriction/index.js';
import { errMessage, log } from './log.js';

const env = process.env;

/** `TP_TRUSTED_PROXIES=10.0.0.0/8,192.0.2.7`: proxies whose X-Forwarded-For names the client; invalid entries stop the node. */
function trustedProxiesEnv(): string[] {
  const v = process.env.TP_TRUSTED_PROXIES;
  if (v === undefined || v.trim() === '') return [];
  const list = v.split(',').map((s) => s.trim()).filter((s) => s !== '');
  try {
    compileTrustedProxies(list);
  } catch (e) {
    throw new Error(`TP_TRUSTED_PROXIES: ${(e as Error).message}`);
  }
  return list;
}

/** `TP_STAGES=prod,staging`: the route stages this node serves (plus stage-less routes); unset: all. */
function stagesEnv(): string[] | undefined {
  const v = env.TP_STAGES;
  if (v === undefined || v.trim() === '') return undefined;
  const stages = v.split(',').map((s) => s.trim()).filter((s) => s !== '');
  const bad = stages.find((s) => !/^[a-z0-9][a-z0-9_-]{0,63}$/.test(s));
  if (bad !== undefined) throw new Error(`TP_STAGES: ${JSON.stringify(bad)} is not a stage name (a-z, 0-9, "_", "-"; up to 64)`);
  return stages;
}

function intEnv(name: string, dflt: number): number {
  const v = env[name];
  if (v === undefined || v === '') return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name} must be a non-negative integer`);
  return n;
}

/** TP_WORKERS: proxy worker threads; default one per core (availableParallelism), 1 = no worker threads. */
function workersEnv(): number {
  const n = intEnv('TP_WORKERS', availableParallelism());
  if (n < 1) throw new Error('TP_WORKERS must be at least 1');
  return n;
}

async function main(): Promise<void> {
  const nodeId = env.TP_NODE_ID || `${hostname()}-${process.pid}`;
  // TP_NATS_URL: one server or a comma-separated list of a cluster's; a bad entry stops the node here.
  const servers = natsServers(env);
  const replicas = natsReplicas(env);

  // Handlers go in before anything is announced: a signal that arrives with no handler kills at once.
  let gw: Gateway | null = null;
  let stopping = false;
  const drainTimeoutMs = intEnv('TP_DRAIN_TIMEOUT_MS', 30_000);
  const stop = (signal: string): void => {
    if (stopping) {
      // A second signal: no more waiting for in-flight requests.
      log('warn', 'gateway.stopping_now', { signal });
      const exit = (): never => process.exit(1);
      if (gw) void gw.abort().then(exit, exit);
      else exit();
      return;
    }
    stopping = true;
    log('info', 'gateway.stopping', { signal, drain_timeout_ms: drainTimeoutMs });
    // The drain has its own deadline; this one covers a close that hangs after it (flush, NATS drain).
    const hard = setTimeout(() => {
      const exit = (): never => process.exit(1);
      if (gw) void gw.abort().then(exit, exit);
      else exit();
    }, drainTimeoutMs + 15_000);
    hard.unref();
    if (!gw) return; // Startup finishes first, then sees `stopping`.
    gw.close().then(
      () => process.exit(0),
      (e: unknown) => {
        log('error', 'gateway.stop_failed', { error: errMessage(e) });
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));

  gw = await startGateway({
    nodeId,
    cluster: env.TP_CLUSTER || 'default',
    natsUrl: servers,
    natsReplicas: replicas,
    dataDir: env.TP_DATA_DIR || `.turnpike/gateway-${nodeId}`,
    host: env.TP_PROXY_HOST || '0.0.0.0',
    proxyPort: intEnv('TP_PROXY_PORT', 8000),
    // TP_HTTPS_PORT: the HTTPS listener (default 8443); -1 turns it off.
    httpsPort: env.TP_HTTPS_PORT?.trim() === '-1' ? undefined : intEnv('TP_HTTPS_PORT', 8443),
    // TP_MTLS_PORT: the mTLS listener (client certificates required); off unless set, -1 turns it off too.
    mtlsPort: env.TP_MTLS_PORT === undefined || ['', '-1'].includes(env.TP_MTLS_PORT.trim()) ? undefined : intEnv('TP_MTLS_PORT', 0),
    statusPort: intEnv('TP_STATUS_PORT', 8100),
    maxBodyBytes: intEnv('TP_MAX_BODY_BYTES', 10 * 1024 * 1024),
    maxHeaderBytes: intEnv('TP_MAX_HEADER_BYTES', 16 * 1024),
    maxUrlBytes: intEnv('TP_MAX_URL_BYTES', 8 * 1024),
    clientBodyTimeoutMs: env.TP_CLIENT_BODY_TIMEOUT_MS === undefined ? undefined : intEnv('TP_CLIENT_BODY_TIMEOUT_MS', 0),
    wsMaxMessageBytes: intEnv('TP_WS_MAX_MESSAGE_BYTES', 16 * 1024 * 1024),
    wsIdleTimeoutMs: intEnv('TP_WS_IDLE_TIMEOUT_MS', 120_000),
    workers: workersEnv(),
    drainTimeoutMs,
    testHooks: env.TP_TEST_HOOKS === '1',
    heartbeatIntervalMs: intEnv('TP_HEARTBEAT_MS', 2_000),
    stages: stagesEnv(),
    trustedProxies: trustedProxiesEnv(),
    // TP_CACHE_MAX_BYTES: proxy-cache's bound per proxy thread (default 64 MiB).
    cacheMaxBytes: intEnv('TP_CACHE_MAX_BYTES', 64 * 1024 * 1024),
    // TP_AI_CACHE_MAX_BYTES: the AI exact-match response cache's bound per proxy thread (default 32 MiB).
    aiCacheMaxBytes: intEnv('TP_AI_CACHE_MAX_BYTES', 32 * 1024 * 1024),
    // TP_AI_BUDGET_RESERVATION_EXPIRY_MS: how long an AI budget reservation holds if its call never settles.
    budgetReservationExpiryMs: intEnv('TP_AI_BUDGET_RESERVATION_EXPIRY_MS', 300_000),
    // TP_CALL_SPOOL_MAX_BYTES: bound of the on-disk call-log spool (default 256 MiB; 0 turns it off).
    callSpoolMaxBytes: intEnv('TP_CALL_SPOOL_MAX_BYTES', 256 * 1024 * 1024),
  });
  if (stopping) {
    stopping = false;
    stop('early signal');
    return;
  }
  process.stdout.write(JSON.stringify({ event: 'ready', proxy_port: gw.proxyPort, https_port: gw.httpsPort, mtls_port: gw.mtlsPort, status_port: gw.statusPort, node_id: gw.nodeId, workers: gw.workers }) + '\n');
}

main().catch((e: unknown) => {
  log('error', 'gateway.start_failed', { error: errMessage(e) });
  process.exit(e instanceof UwsFallbackError ? e.exitCode : 1);
});
