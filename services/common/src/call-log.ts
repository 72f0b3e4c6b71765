// The call-log record: one per proxied request, produced by gateway nodes, stored in ClickHouse.

export interface CallRecord {
  /** Unique per request; the ingester de-duplicates on it. */
  request_id: string;
  /** Request start, milliseconds since the Unix epoch. */
  ts: number;
  node_id: string;
  service_id: string;
  route_id: string;
  consumer_id: string;
  method: string;
  /** Path without the query string. */
  path: string;
  status: number;
  /** Time from dispatch to the upstream's response headers; 0 when no upstream was called. */
  upstream_latency_ms: number;
  total_latency_ms: number;
  bytes_in: number;
  bytes_out: number;
  /** `TP_ERR_*` when the gateway produced the response, else empty. */
  error_code: string;
}

/** JetStream stream that carries call logs; nodes publish to `turnpike.calls.<node_id>`. */
export const CALLS_STREAM = 'TURNPIKE_CALLS';
export const CALLS_SUBJECT_PREFIX = 'turnpike.calls';
export function callsSubject(nodeId: string): string {
  return `${CALLS_SUBJECT_PREFIX}.${nodeId.replace(/[^A-Za-z0-9_-]/g, '_')}`;
}

/**
 * Where a node's batched call records go. Implementations: JetStream (cluster) and in-process
 * (turnpike up). A batch is a JSON array of CallRecord; `write` never throws.
 */
export interface LogSink {
  write(batch: CallRecord[]): Promise<void>;
  close(): Promise<void>;
}
