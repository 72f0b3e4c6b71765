// A proxy worker thread (TP_WORKERS > 1): its own ConfigManager fed by the primary's forwarded KV entries
// (it never writes last-known-good), its own upstream pools and counters, and a uWS app listening on the
// node's proxy port. Call records go to the primary in batches.
import { parentPort, workerData } from 'node:worker_threads';
import { type CallRecord, type ConfigWatchHandlers } from '@turnpike/common';
import { loadUws } from '../uws/loader.js';
import { ConfigManager } from '../config/manager.js';
import { PoolRegistry } from '../upstream/pools.js';
import { ResilienceRegistry } from '../upstream/resilience.js';
import { GatewayMetrics } from '../status/metrics.js';
import { inFlightRequests } from '../proxy/handler.js';
import { errMessage, log } from '../log.js';
import { startProxyApp, type ProxyApp } from './proxy-app.js';
import { threadQuotaUsage } from '../quota/usage-table.js';
import { applyInvalidation, nodeCache } from '../plugins/proxy-cache/index.js';
import type { FromWorker, ToWorker, WorkerInit } from './messages.js';
import { RateLimitRegistry, RateLimitRelay, WorkerSyncChannel } from '../plugins/rate-limiting/index.js';
import { RelayedBudgetGate } from '../ai/budget-gate.js';
import { wsApiRelay, type WorkerWsApiRemote } from '../websocket-api/worker-relay.js';

/** Records per message to the primary, and the longest a record waits for its batch. */
const CALL_BATCH = 256;
const CALL_FLUSH_MS = 50;

const port = parentPort!;
const init = workerData as WorkerInit;
const post = (m: FromWorker): void => port.postMessage(m);

// Worker threads run only on the native binary (startGateway falls back to one thread otherwise).
const { uws } = loadUws(false);
const pools = new PoolRegistry();
const metrics = new GatewayMetrics();
nodeCache.resize(init.cacheMaxBytes);
const resilience = new ResilienceRegistry();
metrics.resilience = resilience;
// This thread's rate limiters: a node of the cluster's exchange of its own, relayed by the primary.
const rateLimitChannel = new WorkerSyncChannel((m) => post({ t: 'ratelimit', m }));
const rateLimits = new RateLimitRegistry({ nodeId: RateLimitRelay.workerNodeId(init.nodeId, init.index), channel: rateLimitChannel, threads: init.workers });
rateLimits.start();
// AI budgets: reserved and settled by the primary's ledger, asked over this thread's port.
const budgets = new RelayedBudgetGate((m) => post({ t: 'budget', m }));
// WebSocket API management calls for connections this thread does not hold: the primary runs them there.
const wsApiRemote: WorkerWsApiRemote = wsApiRelay((id, m) => post({ t: 'wsapi-remote', id, owner: m.owner, op: m.op }));
const manager = new ConfigManager({
  rateLimits,
  dataDir: init.dataDir,
  persist: false,
  poolFor: (origin, connectTimeoutMs, tls) => {
    const o = { connectTimeoutMs, tls };
    return { key: PoolRegistry.key(origin, o), dispatcher: pools.get(origin, o) };
  },
  onSwap: (snap) => {
    app?.https?.apply(snap.tls);
    app?.mtls?.apply(snap.tls);
    pools.retain(snap.poolKeys);
    resilience.retain(snap.resilienceKeys);
    post({ t: 'applied', revision: snap.revision, source: manager.source });
  },
  stages: init.stages ? new Set(init.stages) : null,
  resilience,
  // Certificate keys open with the node's keyring, as the primary holds it.
  keyring: init.keyring ? { activeKid: init.keyring.activeKid, keys: new Map(init.keyring.keys.map(([kid, k]) => [kid, Buffer.from(k)])) } : null,
  trustedProxies: init.trustedProxies,
});

let calls: CallRecord[] = [];
function flushCalls(): void {
  if (calls.length === 0) return;
  // Transferred as one structured clone; the array is not touched again here.
  post({ t: 'calls', records: calls });
  calls = [];
}
function record(rec: CallRecord): void {
  calls.push(rec);
  if (calls.length >= CALL_BATCH) flushCalls();
}
const flushTimer = setInterval(flushCalls, CALL_FLUSH_MS);
flushTimer.unref();

let app: ProxyApp | null = null;
let session: ConfigWatchHandlers | null = null;
let draining = false;

// uWS's handles must be closed before the thread ends: a worker that exits with a listen socket or a
// connection open aborts the whole process (libuv asserts on the worker's loop close).
function dieNow(code: number): never {
  try {
    app?.closeNow();
    flushCalls();
  } finally {
    process.exit(code);
  }
}

process.on('uncaughtException', (e) => {
  log('error', 'worker.uncaught', { worker: init.index, error: errMessage(e), stack: e instanceof Error ? e.stack : undefined });
  dieNow(1);
});
process.on('unhandledRejection', (e) => {
  log('error', 'worker.unhandled_rejection', { worker: init.index, error: errMessage(e) });
  dieNow(1);
});

port.on('message', (m: ToWorker) => {
  switch (m.t) {
    case 'begin':
      session = manager.newWatchSession({ reduced: m.reduced });
      return;
    case 'events':
      if (session) for (const ev of m.events) session.onEvent(ev);
      return;
    case 'initial-done':
      session?.onInitialDone();
      return;
    case 'quota':
      for (const ev of m.events) threadQuotaUsage.apply(ev);
      return;
    case 'lkg':
      manager.loadLastKnownGood();
      return;
    case 'listen':
      void listen(m.port, m.httpsPort);
      return;
    case 'stats':
      post({ t: 'stats', id: m.id, metrics: metrics.state(), inFlight: inFlightRequests(), requests: metrics.requestsTotal(), rateLimit: rateLimits.stats() });
      return;
    case 'ratelimit':
      rateLimitChannel.deliver(m.m);
      return;
    case 'ratelimit-link':
      rateLimitChannel.link(m.up);
      return;
    case 'budget':
      budgets.deliver(m.r);
      return;
    case 'wsapi-op':
      post({ t: 'wsapi-op-reply', id: m.id, r: app ? app.wsApi.execute(m.op) : { status: 410 } });
      return;
    case 'wsapi-reply':
      wsApiRemote.deliver(m.id, m.r);
      return;
    case 'cache-invalidate':
      log('info', 'cache.invalidated', { worker: init.index, id: m.inv.id, dropped: applyInvalidation(nodeCache, m.inv) });
      return;
    case 'drain':
      void drain(m.deadline);
      return;
    case 'exit-now':
      dieNow(1);
    // falls through: dieNow never returns
    case 'crash':
      setImmediate(() => {
        throw new Error('crash requested by the test hook');
      });
      return;
  }
});

async function listen(listenPort: number, httpsPort: number | null): Promise<void> {
  try {
    app = await startProxyApp(uws, {
      host: init.host,
      port: listenPort,
      nodeId: init.nodeId,
      limits: init.limits,
      snapshot: () => manager.snapshot,
      record,
      metrics,
      https: init.httpsDataDir !== null && httpsPort !== null ? { port: httpsPort, dataDir: init.httpsDataDir } : null,
      mtls: init.mtlsPort !== null && init.index === 0 ? { port: init.mtlsPort, dataDir: init.dataDir } : null,
      budgets,
      worker: init.index,
      wsApiRemote: (owner, op) => wsApiRemote.request({ owner, op }),
    });
    // A swap while the listeners were starting went nowhere: catch up (a no-op when nothing changed).
    if (manager.snapshot) {
      app.https?.apply(manager.snapshot.tls);
      app.mtls?.apply(manager.snapshot.tls);
    }
    if (draining) app.closeNow();
    else post({ t: 'listening', port: app.port, httpsPort: app.https?.port ?? null });
  } catch (e) {
    post({ t: 'listen-failed', error: errMessage(e) });
  }
}

async function drain(deadline: number): Promise<void> {
  if (draining) return;
  draining = true;
  if (app) await app.drain(deadline);
  flushCalls();
  clearInterval(flushTimer);
  rateLimits.stop();
  manager.close();
  resilience.close();
  // Upstream connections close gracefully, but a stuck one must not hold the node's exit.
  await Promise.race([pools.close().catch(() => undefined), new Promise((r) => setTimeout(r, 2_000).unref())]);
  post({ t: 'drained' });
  // Nothing of uWS is left open. Messages posted before exit reach the primary before its 'exit' event.
  process.exit(0);
}
