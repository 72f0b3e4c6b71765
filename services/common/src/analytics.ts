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
  limit?: number;
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
  close(): Promise<void>;
}
