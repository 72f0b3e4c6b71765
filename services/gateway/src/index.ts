// startGateway: one data-plane node. Config comes from the cluster's NATS KV bucket (or a ConfigBus handed
// in by the embedded `turnpike up`), is compiled off the hot path, and the uWS proxy reads the snapshot.
import { hostname } from 'node:os';
import type { us_listen_socket } from 'uWebSockets.js';
import { NatsHeartbeatChannel, type ConfigBus, type ConfigWatch, type HeartbeatChannel, type LogSink } from '@turnpike/common';
import { loadUws } from './uws/loader.js';
import { ConfigManager } from './config/manager.js';
import { NatsConfigSource } from './config/nats-source.js';
import { PoolRegistry } from './upstream/pools.js';
import { createProxyHandler, inFlightRequests } from './proxy/handler.js';
import { GatewayMetrics } from './status/metrics.js';
import { startStatusServer } from './status/server.js';
import { CallLogBatcher } from './call-log/batcher.js';
import { JetStreamLogSink } from './call-log/jetstream-sink.js';
import { HeartbeatReporter } from './heartbeat/index.js';
import { GATEWAY_VERSION } from './heartbeat/version.js';
import { log } from './log.js';

export interface GatewayOptions {
  nodeId?: string;
  cluster?: string;
  /** NATS mode: the config bucket of `cluster` and the call-log stream. */
  natsUrl?: string;
  /** Embedded mode: a ready config bus (e.g. InProcessConfigBus). */
  bus?: ConfigBus;
  /** Where call logs go; required in embedded mode, JetStream by default with NATS. */
  logSink?: LogSink;
  dataDir?: string;
  host?: string;
  proxyPort?: number;
  statusPort?: number;
  maxBodyBytes?: number;
  maxHeaderBytes?: number;
  /** How long to wait for the bus's initial values before falling back to last-known-good. */
  initialConfigWaitMs?: number;
  /** Grace period for in-flight requests on close. */
  drainTimeoutMs?: number;
  /** Where heartbeats go: by default NATS core pub/sub with NATS, none in embedded mode unless given. */
  heartbeat?: HeartbeatChannel;
  /** Heartbeat period (default 2 s); 0 sends only the beats after config swaps and on close. */
  heartbeatIntervalMs?: number;
  /**
   * Route stages this node serves (env TP_STAGES): routes whose `stage` is listed plus stage-less routes.
   * Unset or empty: every route.
   */
  stages?: readonly string[];
}

export interface Gateway {
  nodeId: string;
  proxyPort: number;
  statusPort: number;
  snapshot(): { revision: number; loaded: boolean; source: string | null };
  close(): Promise<void>;
}

export async function startGateway(opts: GatewayOptions): Promise<Gateway> {
  const nodeId = opts.nodeId ?? `${hostname()}-${process.pid}`;
  const cluster = opts.cluster ?? 'default';
  const dataDir = opts.dataDir ?? `.turnpike/gateway-${nodeId}`;
  const host = opts.host ?? '0.0.0.0';
  if (!opts.bus && !opts.natsUrl) throw new Error('startGateway needs natsUrl or bus');
  if (!opts.logSink && !opts.natsUrl) throw new Error('startGateway needs logSink when there is no NATS');
  const startedAt = Date.now();
  // Set once the node is up; config swaps before that are reported by its first beat.
  let heartbeat: HeartbeatReporter | null = null;

  const { uws, native } = loadUws();
  const pools = new PoolRegistry();
  const metrics = new GatewayMetrics();
  const manager = new ConfigManager({
    dataDir,
    poolFor: (origin, connectTimeoutMs) => {
      const o = { connectTimeoutMs };
      return { key: PoolRegistry.key(origin, o), dispatcher: pools.get(origin, o) };
    },
    onSwap: (snap) => {
      pools.retain(snap.poolKeys);
      heartbeat?.beat();
    },
    stages: opts.stages && opts.stages.length > 0 ? new Set(opts.stages) : null,
  });

  let source: NatsConfigSource | null = null;
  let busWatch: ConfigWatch | null = null;
  if (opts.bus) busWatch = await opts.bus.watch(manager.newWatchSession());
  else {
    source = new NatsConfigSource(opts.natsUrl!, cluster, nodeId, manager);
    source.start();
  }
  const natsConnected = (): boolean => (source ? source.connected : true);

  const sink = opts.logSink ?? new JetStreamLogSink(() => source?.connection, nodeId);
  const batcher = new CallLogBatcher(sink);

  // Wait briefly for the bus; if it cannot deliver, serve the last-known-good config meanwhile.
  const waited = await Promise.race([
    manager.whenLoaded().then(() => true),
    new Promise<boolean>((r) => setTimeout(() => r(false), opts.initialConfigWaitMs ?? 2_000).unref()),
  ]);
  if (!waited && !manager.snapshot) manager.loadLastKnownGood();
  if (!manager.snapshot) log('warn', 'config.not_loaded', { msg: 'serving 503 until the config bus delivers' });

  let proxyPort = 0;
  const app = uws.App();
  app.any(
    '/*',
    createProxyHandler({
      snapshot: () => manager.snapshot,
      record: (rec) => batcher.record(rec),
      observe: (status, ms) => metrics.observe(status, ms),
      upstreamError: (code) => metrics.upstreamError(code),
      nodeId,
      maxBodyBytes: opts.maxBodyBytes ?? 10 * 1024 * 1024,
      maxHeaderBytes: opts.maxHeaderBytes ?? 16 * 1024,
      port: () => proxyPort,
    }),
  );
  const listenSocket = await new Promise<us_listen_socket>((resolve, reject) => {
    app.listen(host, opts.proxyPort ?? 8000, (ls) => (ls ? resolve(ls) : reject(new Error(`cannot listen on ${host}:${opts.proxyPort ?? 8000}`))));
  });
  proxyPort = uws.us_socket_local_port(listenSocket);

  const status = await startStatusServer(host, opts.statusPort ?? 8100, {
    ready: () => {
      const snap = manager.snapshot;
      return {
        ready: snap !== null,
        body: {
          ready: snap !== null,
          node_id: nodeId,
          revision: snap?.revision ?? 0,
          source: manager.source,
          nats_connected: natsConnected(),
          counts: snap?.counts ?? null,
          rejected: snap?.rejected ?? [],
        },
      };
    },
    metrics: () =>
      metrics.render({
        revision: () => manager.snapshot?.revision ?? 0,
        rejected: () => manager.snapshot?.rejected.length ?? 0,
        configLoaded: () => manager.snapshot !== null,
        natsConnected,
        uwsNative: () => native,
        callLog: () => batcher.stats(),
        inFlight: inFlightRequests,
      }),
  });

  const channel = opts.heartbeat ?? (source ? new NatsHeartbeatChannel(() => source?.connection, cluster) : null);
  if (channel) {
    const nodeHostname = hostname();
    heartbeat = new HeartbeatReporter({
      channel,
      intervalMs: opts.heartbeatIntervalMs ?? 2_000,
      read: () => {
        const snap = manager.snapshot;
        return {
          node_id: nodeId,
          cluster,
          hostname: nodeHostname,
          pid: process.pid,
          version: GATEWAY_VERSION,
          started_at: startedAt,
          revision: snap?.revision ?? 0,
          source: manager.source ?? 'none',
          ready: snap !== null,
          bus_connected: natsConnected(),
          in_flight: inFlightRequests(),
          requests_total: metrics.requestsTotal(),
        };
      },
    });
    heartbeat.beat();
  }

  let closing: Promise<void> | null = null;
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      // First, while NATS is still connected: the cluster view shows this node unready at once.
      heartbeat?.stop();
      uws.us_listen_socket_close(listenSocket);
      const deadline = Date.now() + (opts.drainTimeoutMs ?? 5_000);
      while (inFlightRequests() > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      // Present on the native App though missing from its typings: closes idle keep-alive connections.
      (app as unknown as { close?: () => void }).close?.();
      manager.close();
      await busWatch?.stop().catch(() => undefined);
      await batcher.close().catch(() => undefined);
      await source?.close();
      await pools.close();
      await status.close();
    })());

  return {
    nodeId,
    proxyPort,
    statusPort: status.port,
    snapshot: () => ({ revision: manager.snapshot?.revision ?? 0, loaded: manager.snapshot !== null, source: manager.source }),
    close,
  };
}
