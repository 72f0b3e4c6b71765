// Parses untrusted call records (from JetStream messages or store callers) into typed CallRecords once,
// at the edge, so the stores can encode them without re-checking.
import type { CallRecord } from '@turnpike/common';

const STRING_FIELDS = ['request_id', 'node_id', 'service_id', 'route_id', 'consumer_id', 'method', 'path', 'error_code'] as const;
const COUNT_FIELDS = ['bytes_in', 'bytes_out'] as const;
const LATENCY_FIELDS = ['upstream_latency_ms', 'total_latency_ms'] as const;
// The calls table keeps ts as a DateTime (UInt32 seconds).
const MAX_TS_MS = 0xffffffff * 1000;

/** Returns the record, typed, or a reason it is not one. Unknown extra fields are dropped. */
export function parseCallRecord(v: unknown): CallRecord | string {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return 'record is not an object';
  const o = v as Record<string, unknown>;
  for (const f of STRING_FIELDS) {
    if (typeof o[f] !== 'string') return `${f} must be a string`;
  }
  if ((o.request_id as string).length === 0) return 'request_id must not be empty';
  const ts = o.ts;
  if (typeof ts !== 'number' || !Number.isSafeInteger(ts) || ts < 0 || ts >= MAX_TS_MS) return 'ts must be epoch milliseconds';
  const status = o.status;
  if (typeof status !== 'number' || !Number.isInteger(status) || status < 0 || status > 65535) return 'status must be an integer 0..65535';
  for (const f of COUNT_FIELDS) {
    const n = o[f];
    if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) return `${f} must be a non-negative integer`;
  }
  for (const f of LATENCY_FIELDS) {
    const n = o[f];
    if (typeof n !== 'number' || !Number.isFinite(n) || n < 0) return `${f} must be a non-negative number`;
  }
  return {
    request_id: o.request_id as string,
    ts,
    node_id: o.node_id as string,
    service_id: o.service_id as string,
    route_id: o.route_id as string,
    consumer_id: o.consumer_id as string,
    method: o.method as string,
    path: o.path as string,
    status,
    upstream_latency_ms: o.upstream_latency_ms as number,
    total_latency_ms: o.total_latency_ms as number,
    bytes_in: o.bytes_in as number,
    bytes_out: o.bytes_out as number,
    error_code: o.error_code as string,
  };
}
