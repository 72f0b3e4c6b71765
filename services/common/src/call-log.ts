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
  // ---- issue 8 fields. Optional on the wire: records from older nodes lack them and are stored with the
  // defaults named here ('' / 0); gateway nodes always set them, and the analytics store returns them all. ----
  /** The credential an auth plugin matched (key, JWT issuer, basic-auth user … id); '' for none. */
  credential_id?: string;
  /** The plan of the consumer's approved subscription to the service; '' for none. */
  plan_id?: string;
  /** The client's address: the TCP peer, or the X-Forwarded-For/Forwarded client when the peer is a trusted proxy. */
  client_ip?: string;
  /** The User-Agent header, cut to USER_AGENT_MAX characters; '' when absent. */
  user_agent?: string;
  /** The Host header as sent (with its port, if any). */
  host?: string;
  /** Time the gateway itself spent: total_latency_ms − upstream_latency_ms, never below 0 (ms). */
  gateway_latency_ms?: number;
  /**
   * Dispatch to the request being written on an upstream connection (ms): connect time plus pool wait, ≈0 on
   * a reused idle connection; 0 where the upstream client does not report it (undici: https targets).
   */
  upstream_connect_ms?: number;
  /** Dispatch to the upstream's response head (ms), the time to first byte; 0 when no upstream was called. */
  upstream_ttfb_ms?: number;
  /** The upstream target as `host:port` (last attempt); '' when none was picked. */
  upstream_addr?: string;
  /**
   * AI gateway: the provider, model and token counts of the completion (ai_cached_tokens: prompt tokens served
   * from the provider's prompt cache, part of ai_prompt_tokens), and its cost in US dollars; ''/0 otherwise.
   */
  ai_provider?: string;
  ai_model?: string;
  ai_prompt_tokens?: number;
  ai_completion_tokens?: number;
  ai_cached_tokens?: number;
  ai_cost_usd?: number;
  /** call-capture plugin: the captured headers/bodies as a JSON string (CapturedExchange); '' when not captured. */
  captured?: string;
}

/** Longest User-Agent kept in a record. */
export const USER_AGENT_MAX = 256;

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
