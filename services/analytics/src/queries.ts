// The analytics SQL, built once and run unchanged by both stores (ClickHouse server over HTTP, chdb
// embedded): only the transport differs. Reads use FINAL so a record delivered twice is counted once
// even before ReplacingMergeTree has merged the duplicates away.
import { TurnpikeError, type CallRecord, type CallsFilter, type TrendPoint } from '@turnpike/common';
import { dateTime, ident, join, sql, type Sql } from './clickhouse/escape.js';

export const CALL_COLUMNS = [
  'request_id',
  'ts',
  'ts_ms',
  'node_id',
  'service_id',
  'route_id',
  'consumer_id',
  'method',
  'path',
  'status',
  'upstream_latency_ms',
  'total_latency_ms',
  'bytes_in',
  'bytes_out',
  'error_code',
  // Migration 4 (clickhouse/call-columns.ts): the full record.
  'credential_id',
  'plan_id',
  'client_ip',
  'user_agent',
  'host',
  'gateway_latency_ms',
  'upstream_connect_ms',
  'upstream_ttfb_ms',
  'upstream_addr',
  'ai_provider',
  'ai_model',
  'ai_prompt_tokens',
  'ai_completion_tokens',
  'ai_cost_usd',
  'captured',
  // Migration 6 (clickhouse/cached-tokens.ts).
  'ai_cached_tokens',
] as const;

export const DEFAULT_CALLS_LIMIT = 100;
export const MAX_CALLS_LIMIT = 10_000;

/** `INSERT … FORMAT JSONEachRow` followed by one JSON object per line: one request body for either store. */
export function insertCallsQuery(db: string, records: readonly CallRecord[]): string {
  const head = sql`INSERT INTO ${ident(db)}.calls (${join(CALL_COLUMNS.map((c) => ident(c)), ', ')}) FORMAT JSONEachRow`.text;
  let body = head + '\n';
  for (const r of records) body += encodeCallRow(r) + '\n';
  return body;
}

/** The statement of a RowBinary INSERT of call records (clickhouse/row-binary.ts writes the data). */
export function insertCallsRowBinaryStatement(db: string): string {
  return sql`INSERT INTO ${ident(db)}.calls (${join(CALL_COLUMNS.map((c) => ident(c)), ', ')}) FORMAT RowBinary`.text;
}

/** One JSONEachRow line. ts goes in as Unix seconds, which every version parses time-zone free. */
export function encodeCallRow(r: CallRecord): string {
  return JSON.stringify({
    request_id: wellFormed(r.request_id),
    ts: Math.floor(r.ts / 1000),
    ts_ms: r.ts,
    node_id: wellFormed(r.node_id),
    service_id: wellFormed(r.service_id),
    route_id: wellFormed(r.route_id),
    consumer_id: wellFormed(r.consumer_id),
    method: wellFormed(r.method),
    path: wellFormed(r.path),
    status: r.status,
    upstream_latency_ms: r.upstream_latency_ms,
    total_latency_ms: r.total_latency_ms,
    bytes_in: r.bytes_in,
    bytes_out: r.bytes_out,
    error_code: wellFormed(r.error_code),
    // Absent only when a caller bypassed parseCallRecord: the column defaults.
    credential_id: wellFormed(r.credential_id ?? ''),
    plan_id: wellFormed(r.plan_id ?? ''),
    client_ip: wellFormed(r.client_ip ?? ''),
    user_agent: wellFormed(r.user_agent ?? ''),
    host: wellFormed(r.host ?? ''),
    gateway_latency_ms: r.gateway_latency_ms ?? 0,
    upstream_connect_ms: r.upstream_connect_ms ?? 0,
    upstream_ttfb_ms: r.upstream_ttfb_ms ?? 0,
    upstream_addr: wellFormed(r.upstream_addr ?? ''),
    ai_provider: wellFormed(r.ai_provider ?? ''),
    ai_model: wellFormed(r.ai_model ?? ''),
    ai_prompt_tokens: r.ai_prompt_tokens ?? 0,
    ai_completion_tokens: r.ai_completion_tokens ?? 0,
    ai_cached_tokens: r.ai_cached_tokens ?? 0,
    ai_cost_usd: r.ai_cost_usd ?? 0,
    captured: wellFormed(r.captured ?? ''),
  });
}

// ClickHouse 18.16 rejects JSON with a lone surrogate escape ("missing second part of surrogate pair"),
// which would fail the whole batch; replace lone surrogates with U+FFFD as TextEncoder would.
const SURROGATE = /[\uD800-\uDFFF]/;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;
function wellFormed(s: string): string {
  return SURROGATE.test(s) ? s.replace(LONE_SURROGATE, '\uFFFD') : s;
}

/** The WHERE clause shared by calls() and trend(); validates the filter (TP_ERR_VALIDATION). */
export function whereClause(f: CallsFilter): Sql {
  const conds: Sql[] = [];
  if (f.from !== undefined) {
    const from = checkMs('from', f.from);
    // The seconds bound lets partition pruning and the primary key work; ts_ms gives the exact bound.
    conds.push(sql`ts >= ${dateTime(from)}`, sql`ts_ms >= ${from}`);
  }
  if (f.to !== undefined) {
    const to = checkMs('to', f.to);
    if (to > 0) conds.push(sql`ts <= ${dateTime(to - 1)}`);
    conds.push(sql`ts_ms < ${to}`);
  }
  if (f.service_id !== undefined) conds.push(sql`service_id = ${checkString('service_id', f.service_id)}`);
  if (f.route_id !== undefined) conds.push(sql`route_id = ${checkString('route_id', f.route_id)}`);
  if (f.consumer_id !== undefined) conds.push(sql`consumer_id = ${checkString('consumer_id', f.consumer_id)}`);
  if (f.request_id !== undefined) conds.push(sql`request_id = ${checkString('request_id', f.request_id)}`);
  if (f.status !== undefined) {
    if (!Number.isInteger(f.status) || f.status < 0 || f.status > 65535) throw invalid('status', 'must be an HTTP status code');
    conds.push(sql`status = ${f.status}`);
  }
  if (f.status_class !== undefined) {
    if (!Number.isInteger(f.status_class) || f.status_class < 1 || f.status_class > 5) throw invalid('status_class', 'must be 1..5');
    conds.push(sql`intDiv(status, 100) = ${f.status_class}`);
  }
  return conds.length === 0 ? sql`1` : join(conds, ' AND ');
}

export function callsQuery(db: string, f: CallsFilter): string {
  const limit = f.limit ?? DEFAULT_CALLS_LIMIT;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_CALLS_LIMIT) throw invalid('limit', `must be 1..${MAX_CALLS_LIMIT}`);
  const offset = f.offset ?? 0;
  if (!Number.isInteger(offset) || offset < 0 || offset > 1_000_000) throw invalid('offset', 'must be 0..1000000');
  const cols = join(
    CALL_COLUMNS.filter((c) => c !== 'ts').map((c) => ident(c)),
    ', ',
  );
  return sql`SELECT ${cols} FROM ${ident(db)}.calls FINAL WHERE ${whereClause(f)} ORDER BY ts_ms DESC, request_id LIMIT ${offset}, ${limit} FORMAT JSONEachRow`.text;
}

/** Per-minute counts by status class; minutes come from ts_ms arithmetic, so no time zone is involved. */
export function trendQuery(db: string, f: CallsFilter): string {
  return sql`SELECT intDiv(ts_ms, 60000) * 60000 AS minute,
  countIf(intDiv(status, 100) = 2) AS s2xx,
  countIf(intDiv(status, 100) = 3) AS s3xx,
  countIf(intDiv(status, 100) = 4) AS s4xx,
  countIf(intDiv(status, 100) = 5) AS s5xx,
  count() AS total
FROM ${ident(db)}.calls FINAL WHERE ${whereClause(f)} GROUP BY minute ORDER BY minute FORMAT JSONEachRow`.text;
}

// 64-bit integers come back quoted from ClickHouse 18.16 (output_format_json_quote_64bit_integers)
// and unquoted from chdb; Number() reads both.
type Row = Record<string, unknown>;

export function parseRows(text: string): Row[] {
  const rows: Row[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() !== '') rows.push(JSON.parse(line) as Row);
  }
  return rows;
}

export function callFromRow(r: Row): CallRecord {
  return {
    request_id: String(r.request_id),
    ts: Number(r.ts_ms),
    node_id: String(r.node_id),
    service_id: String(r.service_id),
    route_id: String(r.route_id),
    consumer_id: String(r.consumer_id),
    method: String(r.method),
    path: String(r.path),
    status: Number(r.status),
    upstream_latency_ms: Number(r.upstream_latency_ms),
    total_latency_ms: Number(r.total_latency_ms),
    bytes_in: Number(r.bytes_in),
    bytes_out: Number(r.bytes_out),
    error_code: String(r.error_code),
    credential_id: String(r.credential_id),
    plan_id: String(r.plan_id),
    client_ip: String(r.client_ip),
    user_agent: String(r.user_agent),
    host: String(r.host),
    gateway_latency_ms: Number(r.gateway_latency_ms),
    upstream_connect_ms: Number(r.upstream_connect_ms),
    upstream_ttfb_ms: Number(r.upstream_ttfb_ms),
    upstream_addr: String(r.upstream_addr),
    ai_provider: String(r.ai_provider),
    ai_model: String(r.ai_model),
    ai_prompt_tokens: Number(r.ai_prompt_tokens),
    ai_completion_tokens: Number(r.ai_completion_tokens),
    ai_cached_tokens: Number(r.ai_cached_tokens),
    ai_cost_usd: Number(r.ai_cost_usd),
    captured: String(r.captured),
  };
}

export function trendPointFromRow(r: Row): TrendPoint {
  return {
    minute: Number(r.minute),
    s2xx: Number(r.s2xx),
    s3xx: Number(r.s3xx),
    s4xx: Number(r.s4xx),
    s5xx: Number(r.s5xx),
    total: Number(r.total),
  };
}

function checkMs(field: string, v: number): number {
  if (!Number.isSafeInteger(v) || v < 0 || v >= 0xffffffff * 1000) throw invalid(field, 'must be epoch milliseconds');
  return v;
}

function checkString(field: string, v: string): string {
  if (typeof v !== 'string') throw invalid(field, 'must be a string');
  return v;
}

function invalid(field: string, message: string): TurnpikeError {
  return new TurnpikeError('TP_ERR_VALIDATION', `${field} ${message}`, [{ path: `/${field}`, message }]);
}
