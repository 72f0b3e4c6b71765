// The end-to-end ingester test drives the gateway's real call-log path (CallLogBatcher +
// JetStreamLogSink). analytics must not depend on the gateway package, so the gateway's compiled
// modules are loaded from the workspace at run time (build the gateway first: `pnpm build`).
import type { NatsConnection } from '@nats-io/transport-node';
import type { CallRecord, LogSink } from '@turnpike/common';

export interface Batcher {
  record(rec: CallRecord): void;
  close(deadlineMs?: number): Promise<void>;
  stats(): { buffered: number; dropped: number; sent: number };
}

export interface GatewayCallLog {
  CallLogBatcher: new (sink: LogSink, opts?: { maxBatch?: number; flushIntervalMs?: number; maxBuffered?: number; minBackoffMs?: number; maxBackoffMs?: number }) => Batcher;
  JetStreamLogSink: new (getConnection: () => NatsConnection | undefined, nodeId: string, opts?: { publishTimeoutMs?: number }) => LogSink;
}

export async function loadGatewayCallLog(): Promise<GatewayCallLog> {
  // dist/test/ → services/gateway/dist/src/call-log/
  const base = new URL('../../../gateway/dist/src/call-log/', import.meta.url);
  const batcher = (await import(new URL('batcher.js', base).href)) as Pick<GatewayCallLog, 'CallLogBatcher'>;
  const sink = (await import(new URL('jetstream-sink.js', base).href)) as Pick<GatewayCallLog, 'JetStreamLogSink'>;
  return { CallLogBatcher: batcher.CallLogBatcher, JetStreamLogSink: sink.JetStreamLogSink };
}
