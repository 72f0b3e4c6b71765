// The analytics questions the control plane asks; answered by ClickHouse (server) or chdb (embedded).
import type { CallRecord } from './call-log.js';

export interface CallsFilter {
  /** Inclusive lower bound, ms since epoch. */
  from?: number;
  /** Exclusive upper bound, ms since epoch. */
  to?: number;
  service_id?: string;
  route_id?: string;
  consumer_id?: string;
  /** Exact status code (e.g. 404) or class (2..5 meaning 2xx..5xx) via status_class. */
  status?: number;
  status_class?: number;
  /** Exact request id (search). */
  request_id?: string;
  limit?: number;
  /** Rows to skip (paging of the newest-first list). */
  offset?: number;
}

export type TimeseriesInterval = 'minute' | 'hour';
export type TimeseriesGroupBy = 'none' | 'service' | 'route' | 'consumer';

export interface TimeseriesFilter {
  /** Inclusive lower bound, ms since epoch. */
  from: number;
  /** Exclusive upper bound, ms since epoch. */
  to: number;
  interval: TimeseriesInterval;
  group_by: TimeseriesGroupBy;
  service_id?: string;
  route_id?: string;
  consumer_id?: string;
}

export interface TimeseriesPoint {
  /** Bucket start, ms since epoch. */
  bucket: number;
  /** The group's id (service, route or consumer id); '' when group_by is none. */
  key: string;
  requests: number;
  errors: number;
  bytes_in: number;
  bytes_out: number;
  latency_p50_ms: number;
  latency_p95_ms: number;
  latency_p99_ms: number;
  /** AI usage summed over the bucket's calls (0 where no call carried AI fields). */
  prompt_tokens: number;
  completion_tokens: number;
  /** Prompt tokens served from the providers' prompt caches (part of prompt_tokens; 0 before migration 6). */
  cached_tokens: number;
  cost_usd: number;
  /** Calls with an AI model recorded (ai_model != ''). */
  ai_calls: number;
}

/** ai_model / ai_provider are answered from the hourly ai_usage_1h rollup (AI calls only). */
export type TopDimension = 'service' | 'route' | 'consumer' | 'error_code' | 'ai_model' | 'ai_provider';
/** What /top ranks by; `tokens` is prompt_tokens + completion_tokens. */
export type TopOrder = 'requests' | 'cost_usd' | 'tokens';

export interface TopFilter {
  dimension: TopDimension;
  from: number;
  to: number;
  limit: number;
  /** Default: requests. */
  order_by?: TopOrder;
  service_id?: string;
  route_id?: string;
  consumer_id?: string;
}

export interface TopEntry {
  key: string;
  requests: number;
  errors: number;
  prompt_tokens: number;
  completion_tokens: number;
  /** Part of prompt_tokens: served from the providers' prompt caches. */
  cached_tokens: number;
  cost_usd: number;
}

export interface TrendPoint {
  /** Minute start, ms since epoch. */
  minute: number;
  s2xx: number;
  s3xx: number;
  s4xx: number;
  s5xx: number;
  total: number;
}

export interface AnalyticsStore {
  /** Idempotent on request_id: inserting the same record twice counts it once. */
  insert(records: CallRecord[]): Promise<void>;
  calls(filter: CallsFilter): Promise<CallRecord[]>;
  trend(filter: CallsFilter): Promise<TrendPoint[]>;
  /** Aggregates per bucket (and group) from the minute/hour rollups. */
  timeseries(filter: TimeseriesFilter): Promise<TimeseriesPoint[]>;
  /** Top `limit` keys of a dimension by `order_by` (error_code: calls with a non-empty error code). */
  top(filter: TopFilter): Promise<TopEntry[]>;
  close(): Promise<void>;
}
