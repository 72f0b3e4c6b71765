// The proxy's uWS app on one thread: the request handler, the listen socket and the drain. The same code
// serves in the main thread (TP_WORKERS=1) and in each proxy worker thread (src/node/worker.ts).
import type { TemplatedApp, us_listen_socket } from 'uWebSockets.js';
import type { CallRecord } from '@turnpike/common';
import type { Uws } from '../uws/loader.js';
import type { Snapshot } from '../config/compiler.js';
import type { GatewayMetrics } from '../status/metrics.js';
import { createProxyHandler, inFlightRequests, startDraining, type MtlsPeers, type ProxyDeps } from '../proxy/handler.js';
import { createWebSocketProxy, registerWebSocketProxy, type WebSocketProxy } from '../proxy/websocket.js';
import { EMPTY_TLS } from '../tls/certificates.js';
import { HttpsListener, type InstallRoutes } from '../tls/https-listener.js';
import { MtlsListener } from '../tls/mtls-listener.js';
import { RequestTracer } from '../tracing/tracer.js';
import { AiRuntime } from '../ai/runtime.js';
import type { BudgetGate } from '../ai/budget-gate.js';
import { WsApiRuntime, type RemoteWsApi } from '../websocket-api/runtime.js';

/**
 * The handler's plain-data settings (limits, timeouts): built once by startGateway and handed to every
 * proxy thread as is (structured clone), so a new ProxyDeps field needs no change here.
 */
export type ProxyLimits = Omit<ProxyDeps, 'snapshot' | 'record' | 'observe' | 'transferred' | 'upstreamError' | 'nodeId' | 'port' | 'https' | 'mtls' | 'tracer' | 'ai' | 'wsApi'>;

export interface ProxyAppOptions {
  host: string;
  port: number;
  nodeId: string;
  limits: ProxyLimits;
  snapshot(): Snapshot | null;
  record(rec: CallRecord): void;
  metrics: GatewayMetrics;
  /** The HTTPS listener (port 0: a free one; dataDir: see tls/https-listener.ts); unset: none. */
  https?: { port: number; dataDir: string } | null;
  /**
   * The mTLS listener (tls/mtls-listener.ts; port 0: a free one; its internal unix socket under dataDir); unset:
   * none. Node 20's net cannot share a port between threads: one proxy thread per node gets this.
   */
  mtls?: { port: number; dataDir: string } | null;
  /** The node's AI budget ledger as this thread reaches it (ai/budget-gate.ts); null or unset: none. */
  budgets?: BudgetGate | null;
  /** This thread's worker index (0 without worker threads): WebSocket API connection ids name it. */
  worker?: number;
  /** Reaches WebSocket API connections other threads hold (another node's, another worker's); null or unset: none. */
  wsApiRemote?: RemoteWsApi | null;
}

export interface ProxyApp {
  readonly app: TemplatedApp;
  readonly port: number;
  /** Null without `https`; apply() each new snapshot's `tls` to it. */
  readonly https: HttpsListener | null;
  /** Null without `mtls`; apply() each new snapshot's `tls` to it as well. */
  readonly mtls: MtlsListener | null;
  /** This thread's WebSocket API connections: the node's management channel runs operations on them. */
  readonly wsApi: WsApiRuntime;
  /**
   * Graceful drain: closes the listen socket (new connections are refused once every thread did), marks
   * responses `Connection: close`, waits for in-flight requests until `deadline` (epoch ms), then closes
   * every connection left (idle keep-alive ones included).
   */
  drain(deadline: number): Promise<void>;
  /** Closes the listen socket and every connection now (uWS handles must be gone before a thread exits). */
  closeNow(): void;
}

export async function startProxyApp(uws: Uws, o: ProxyAppOptions): Promise<ProxyApp> {
  let port = 0;
  const metrics = o.metrics;
  const app = uws.App();
  // Each proxy thread exports its own spans (its own provider and OTLP exporter); null: tracing off.
  const tracer = o.limits.tracing ? new RequestTracer(o.limits.tracing, { nodeId: o.nodeId }) : null;
  // Each proxy thread calls AI providers on its own connections, with its own exact-match cache.
  const ai = new AiRuntime({ cacheMaxBytes: o.limits.aiCacheMaxBytes, observeOverhead: (ms) => metrics.aiOverhead(ms), budgets: o.budgets ?? null });
  // The WebSocket API connections this thread holds, shared by all its listeners.
  const wsApi = new WsApiRuntime({ nodeId: o.nodeId, worker: o.worker ?? 0, remote: o.wsApiRemote ?? null });
  // One shape for every listener's deps (mtls undefined but for the mTLS app): the handler's reads stay monomorphic.
  const deps = (portOf: () => number, https: boolean, mtls?: MtlsPeers): ProxyDeps => ({
    ...o.limits,
    snapshot: o.snapshot,
    record: o.record,
    observe: (route, status, ms, upstreamMs, bytesIn, bytesOut) => metrics.observe(route, status, ms, upstreamMs, bytesIn, bytesOut),
    transferred: (route, bytesIn, bytesOut) => metrics.transferred(route, bytesIn, bytesOut),
    upstreamError: (code) => metrics.upstreamError(code),
    nodeId: o.nodeId,
    port: portOf,
    https,
    mtls,
    tracer,
    ai,
    wsApi,
  });
  const httpDeps = deps(() => port, false);
  // Before app.any: uWS gives upgrade requests to the ws route, every other request to the HTTP handler.
  const websockets = registerWebSocketProxy(app, httpDeps, {
    maxMessageBytes: o.limits.wsMaxMessageBytes,
    idleTimeoutMs: o.limits.wsIdleTimeoutMs,
    counters: metrics.ws,
  });
  app.any('/*', createProxyHandler(httpDeps));
  let listenSocket: us_listen_socket | null = await new Promise<us_listen_socket>((resolve, reject) => {
    // uSockets sets SO_REUSEPORT: every worker thread listens on the same port and the kernel spreads
    // connections across them.
    app.listen(o.host, o.port, (ls) => (ls ? resolve(ls) : reject(new Error(`cannot listen on ${o.host}:${o.port}`))));
  });
  port = uws.us_socket_local_port(listenSocket);
  let https: HttpsListener | null = null;
  let mtls: MtlsListener | null = null;
  /** The TLS listeners' WebSocket proxies (closed on drain with the plain one). */
  const tlsWebsockets: WebSocketProxy[] = [];
  /** The proxy routes (ws, then any) for a TLS listener's app, with that listener's deps. */
  const routesFor = (d: ProxyDeps): InstallRoutes => {
    const wss = createWebSocketProxy(d, { maxMessageBytes: o.limits.wsMaxMessageBytes, idleTimeoutMs: o.limits.wsIdleTimeoutMs, counters: metrics.ws });
    tlsWebsockets.push(wss);
    const handler = createProxyHandler(d);
    return (a: TemplatedApp): void => {
      wss.register(a);
      a.any('/*', handler);
    };
  };
  try {
    if (o.https) https = await HttpsListener.start(uws, routesFor(deps(() => https?.port ?? 0, true)), o.snapshot()?.tls ?? EMPTY_TLS, { host: o.host, ...o.https });
    if (o.mtls) {
      // The listener exists only once start resolves (its app gets no connection before): until then, no peer.
      const peers: MtlsPeers = { peerOf: (res) => mtls?.peerOf(res) ?? null };
      mtls = await MtlsListener.start(uws, routesFor(deps(() => mtls?.port ?? 0, true, peers)), o.snapshot()?.tls ?? EMPTY_TLS, { host: o.host, ...o.mtls });
    }
  } catch (e) {
    uws.us_listen_socket_close(listenSocket);
    (app as unknown as { close?: () => void }).close?.();
    https?.close();
    throw e;
  }

  const stopAccepting = (): void => {
    if (listenSocket === null) return;
    uws.us_listen_socket_close(listenSocket);
    listenSocket = null;
    https?.stopListening();
    mtls?.stopListening();
  };
  let closed = false;
  const closeNow = (): void => {
    stopAccepting();
    if (closed) return;
    closed = true;
    // Present on the native App though missing from its typings: closes every connection.
    (app as unknown as { close?: () => void }).close?.();
    https?.close();
    mtls?.close();
    // Spans still queued go out (bounded); drain awaits it, an abrupt close does not wait.
    void tracer?.shutdown();
    void ai.close().catch(() => undefined);
  };
  return {
    app,
    port,
    https,
    mtls,
    wsApi,
    async drain(deadline: number): Promise<void> {
      startDraining();
      stopAccepting();
      // WebSockets are closed with 1001 at once (they never finish on their own), alongside in-flight requests.
      const wsClosed = Promise.all([websockets, ...tlsWebsockets].map((w) => w.closeAll(deadline)));
      while (inFlightRequests() > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      await wsClosed;
      closeNow();
      await tracer?.shutdown();
    },
    closeNow,
  };
}
