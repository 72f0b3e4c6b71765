// Analytics queries: parse the query parameters, then ask the injected AnalyticsStore (ClickHouse or chdb).
import {
  TurnpikeError,
  type AnalyticsStore,
  type CallRecord,
  type CallsFilter,
  type FieldError,
  type TimeseriesFilter,
  type TimeseriesGroupBy,
  type TimeseriesInterval,
  type TimeseriesPoint,
  type TopDimension,
  type TopEntry,
  type TopOrder,
  type TrendPoint,
} from '@turnpike/common';
import { authorize } from './access.js';
import { authOf, type ServiceContext } from './context.js';
import { isUuid, notFound } from './ids.js';

export type QueryParams = Record<string, string | undefined>;

const DEFAULT_CALLS_LIMIT = 100;
const MAX_CALLS_LIMIT = 1000;

/** ms since epoch (digits) or an ISO 8601 date-time. */
function parseTime(v: string): number | null {
  if (/^\d{1,16}$/.test(v)) return Number(v);
  if (!/^\d{4}-\d{2}-\d{2}([T ][\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(v)) return null;
  const t = Date.parse(v);
  return Number.isNaN(t) ? null : t;
}

function parseInt(v: string, min: number, max: number): number | null {
  if (!/^-?\d{1,10}$/.test(v)) return null;
  const n = Number(v);
  return n >= min && n <= max ? n : null;
}

const ALLOWED = new Set(['from', 'to', 'service_id', 'route_id', 'consumer_id', 'status', 'status_class', 'limit']);
// Only the calls search pages and looks up single requests; `format` is read by the REST layer (csv).
const SEARCH_ONLY = new Set(['offset', 'request_id', 'format']);
const MAX_OFFSET = 100_000;
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

function validationError(errs: FieldError[]): TurnpikeError {
  return new TurnpikeError('TP_ERR_VALIDATION', `invalid query: ${errs[0]!.path} ${errs[0]!.message}`, errs);
}

export function parseCallsFilter(q: QueryParams, allowLimit: boolean, extra: ReadonlySet<string> = new Set()): CallsFilter {
  const f: CallsFilter = {};
  const errs: FieldError[] = [];
  for (const [k, v] of Object.entries(q)) {
    if (v === undefined || extra.has(k)) continue;
    if ((!ALLOWED.has(k) && !(allowLimit && SEARCH_ONLY.has(k))) || (k === 'limit' && !allowLimit)) {
      errs.push({ path: `/${k}`, message: 'is not a known parameter' });
      continue;
    }
    switch (k) {
      case 'request_id':
        if (!REQUEST_ID.test(v)) errs.push({ path: '/request_id', message: 'must be 1 to 128 letters, digits or ._:-' });
        else f.request_id = v;
        break;
      case 'offset': {
        const n = parseInt(v, 0, MAX_OFFSET);
        if (n === null) errs.push({ path: '/offset', message: `must be an integer from 0 to ${MAX_OFFSET}` });
        else f.offset = n;
        break;
      }
      case 'format':
        if (v !== 'json' && v !== 'csv') errs.push({ path: '/format', message: 'must be json or csv' });
        break;
      case 'from':
      case 'to': {
        const t = parseTime(v);
        if (t === null) errs.push({ path: `/${k}`, message: 'must be ms since epoch or an ISO 8601 date-time' });
        else f[k] = t;
        break;
      }
      case 'service_id':
      case 'route_id':
      case 'consumer_id':
        if (!isUuid(v)) errs.push({ path: `/${k}`, message: 'must be a uuid' });
        else f[k] = v.toLowerCase();
        break;
      case 'status': {
        const n = parseInt(v, 100, 599);
        if (n === null) errs.push({ path: '/status', message: 'must be an HTTP status from 100 to 599' });
        else f.status = n;
        break;
      }
      case 'status_class': {
        // Accept `2` or `2xx`.
        const n = parseInt(v.replace(/xx$/i, ''), 1, 5);
        if (n === null) errs.push({ path: '/status_class', message: 'must be 1 to 5 (or 1xx to 5xx)' });
        else f.status_class = n;
        break;
      }
      case 'limit': {
        const n = parseInt(v, 1, MAX_CALLS_LIMIT);
        if (n === null) errs.push({ path: '/limit', message: `must be an integer from 1 to ${MAX_CALLS_LIMIT}` });
        else f.limit = n;
        break;
      }
    }
  }
  if (f.from !== undefined && f.to !== undefined && f.from >= f.to) errs.push({ path: '/from', message: 'must be before to' });
  if (errs.length > 0) throw validationError(errs);
  return f;
}

function requireStore(store: AnalyticsStore | undefined): AnalyticsStore {
  if (!store) throw new TurnpikeError('TP_ERR_UNAVAILABLE', 'analytics is not configured (set TP_CLICKHOUSE_URL)');
  return store;
}

/**
 * Call logs are shared by all tenants (the data plane is): a superuser sees everything; anyone else must
 * filter by a service, route or consumer of the request's tenant (another tenant's id is 404).
 */
async function restrictToTenant(ctx: ServiceContext, f: CallsFilter): Promise<void> {
  const auth = authOf(ctx);
  const t = authorize(auth, 'analytics', 'read');
  if (auth.principal.superuser) return;
  const refs = [
    ['service_id', 'services', f.service_id],
    ['route_id', 'routes', f.route_id],
    ['consumer_id', 'consumers', f.consumer_id],
  ] as const;
  if (refs.every(([, , id]) => id === undefined)) {
    throw new TurnpikeError('TP_ERR_VALIDATION', 'analytics queries of a tenant must filter by service_id, route_id or consumer_id', [
      { path: '/service_id', message: 'is required (or route_id, or consumer_id)' },
    ]);
  }
  for (const [field, table, id] of refs) {
    if (id === undefined) continue;
    const rows = await ctx.sql`SELECT id FROM ${ctx.sql(table)} WHERE id = ${id} AND tenant_id = ${t}`;
    if (rows.length === 0) throw notFound(field.replace('_id', ''), id);
  }
}

export async function queryCalls(ctx: ServiceContext, store: AnalyticsStore | undefined, q: QueryParams): Promise<CallRecord[]> {
  // Bad parameters are reported as such even when no store is configured.
  const f = parseCallsFilter(q, true);
  await restrictToTenant(ctx, f);
  f.limit ??= DEFAULT_CALLS_LIMIT;
  return await requireStore(store).calls(f);
}

/** The columns of a CSV export of calls, in order (every CallRecord field). */
export const CALL_CSV_COLUMNS: readonly string[] = [
  'request_id', 'ts', 'node_id', 'service_id', 'route_id', 'consumer_id', 'credential_id', 'plan_id', 'method', 'host', 'path',
  'status', 'error_code', 'total_latency_ms', 'upstream_latency_ms', 'gateway_latency_ms', 'upstream_connect_ms', 'upstream_ttfb_ms',
  'upstream_addr', 'bytes_in', 'bytes_out', 'client_ip', 'user_agent', 'ai_provider', 'ai_model', 'ai_prompt_tokens',
  'ai_completion_tokens', 'ai_cached_tokens', 'ai_cost_usd',
];

export interface CallsPage {
  data: CallRecord[];
  /** The offset of the next page, or null on the last page. */
  next_offset: number | null;
}

/** One page of the newest-first search: one extra row tells whether another page follows. */
export async function searchCalls(ctx: ServiceContext, store: AnalyticsStore | undefined, q: QueryParams): Promise<CallsPage> {
  const f = parseCallsFilter(q, true);
  await restrictToTenant(ctx, f);
  const limit = f.limit ?? DEFAULT_CALLS_LIMIT;
  const offset = f.offset ?? 0;
  const rows = await requireStore(store).calls({ ...f, limit: limit + 1, offset });
  return { data: rows.slice(0, limit), next_offset: rows.length > limit ? offset + limit : null };
}

export async function queryTrend(ctx: ServiceContext, store: AnalyticsStore | undefined, q: QueryParams): Promise<TrendPoint[]> {
  // The trend defaults to the last hour.
  const f = parseCallsFilter(q, false);
  await restrictToTenant(ctx, f);
  f.to ??= Date.now();
  f.from ??= f.to - 3_600_000;
  return await requireStore(store).trend(f);
}

const HOUR = 3_600_000;
/** Up to this range the time series defaults to minute buckets; beyond it, hour buckets. */
const MINUTE_INTERVAL_MAX_MS = 6 * HOUR;
/** Minute buckets over more than this would be tens of thousands of points: ask for hours. */
const MAX_MINUTE_RANGE_MS = 2 * 24 * HOUR;
const MAX_RANGE_MS = 400 * 24 * HOUR;
const INTERVALS: readonly TimeseriesInterval[] = ['minute', 'hour'];
const GROUP_BYS: readonly TimeseriesGroupBy[] = ['none', 'service', 'route', 'consumer'];
const DIMENSIONS: readonly TopDimension[] = ['consumer', 'route', 'service', 'error_code', 'ai_model', 'ai_provider'];
const TOP_ORDERS: readonly TopOrder[] = ['requests', 'cost_usd', 'tokens'];
const DEFAULT_TOP_LIMIT = 10;
const MAX_TOP_LIMIT = 100;

function oneOf<T extends string>(q: QueryParams, key: string, allowed: readonly T[], errs: FieldError[]): T | undefined {
  const v = q[key];
  if (v === undefined) return undefined;
  if ((allowed as readonly string[]).includes(v)) return v as T;
  errs.push({ path: `/${key}`, message: `must be one of ${allowed.join(', ')}` });
  return undefined;
}

/** from/to default to the last `defaultMs`; the range is bounded so one query cannot scan years. */
function range(f: CallsFilter, defaultMs: number, errs: FieldError[]): { from: number; to: number } {
  const to = f.to ?? Date.now();
  const from = f.from ?? to - defaultMs;
  if (from >= to) errs.push({ path: '/from', message: 'must be before to' });
  if (to - from > MAX_RANGE_MS) errs.push({ path: '/from', message: 'range must be at most 400 days' });
  return { from, to };
}

export function parseTimeseriesFilter(q: QueryParams): TimeseriesFilter {
  const f = parseCallsFilter(q, false, new Set(['interval', 'group_by']));
  const errs: FieldError[] = [];
  if (f.status !== undefined) errs.push({ path: '/status', message: 'is not a known parameter' });
  if (f.status_class !== undefined) errs.push({ path: '/status_class', message: 'is not a known parameter' });
  const { from, to } = range(f, HOUR, errs);
  const interval = oneOf(q, 'interval', INTERVALS, errs) ?? (to - from <= MINUTE_INTERVAL_MAX_MS ? 'minute' : 'hour');
  if (interval === 'minute' && to - from > MAX_MINUTE_RANGE_MS) errs.push({ path: '/interval', message: 'minute buckets cover at most 2 days; use hour' });
  const group_by = oneOf(q, 'group_by', GROUP_BYS, errs) ?? 'none';
  if (errs.length > 0) throw validationError(errs);
  return { from, to, interval, group_by, service_id: f.service_id, route_id: f.route_id, consumer_id: f.consumer_id };
}

export async function queryTimeseries(
  ctx: ServiceContext,
  store: AnalyticsStore | undefined,
  q: QueryParams,
): Promise<{ interval: TimeseriesInterval; group_by: TimeseriesGroupBy; from: number; to: number; points: TimeseriesPoint[] }> {
  const f = parseTimeseriesFilter(q);
  await restrictToTenant(ctx, f);
  const points = await requireStore(store).timeseries(f);
  return { interval: f.interval, group_by: f.group_by, from: f.from, to: f.to, points };
}

export async function queryTop(
  ctx: ServiceContext,
  store: AnalyticsStore | undefined,
  q: QueryParams,
): Promise<{ dimension: TopDimension; order_by: TopOrder; from: number; to: number; data: TopEntry[] }> {
  const { limit: rawLimit, dimension: _d, order_by: _o, ...rest } = q;
  const f = parseCallsFilter(rest, false);
  const errs: FieldError[] = [];
  if (f.status !== undefined) errs.push({ path: '/status', message: 'is not a known parameter' });
  if (f.status_class !== undefined) errs.push({ path: '/status_class', message: 'is not a known parameter' });
  const dimension = oneOf(q, 'dimension', DIMENSIONS, errs);
  if (q.dimension === undefined) errs.push({ path: '/dimension', message: `is required (${DIMENSIONS.join(', ')})` });
  const order_by = oneOf(q, 'order_by', TOP_ORDERS, errs) ?? 'requests';
  let limit = DEFAULT_TOP_LIMIT;
  if (rawLimit !== undefined) {
    const n = parseInt(rawLimit, 1, MAX_TOP_LIMIT);
    if (n === null) errs.push({ path: '/limit', message: `must be an integer from 1 to ${MAX_TOP_LIMIT}` });
    else limit = n;
  }
  const { from, to } = range(f, 24 * HOUR, errs);
  if (errs.length > 0 || dimension === undefined) throw validationError(errs);
  await restrictToTenant(ctx, f);
  const data = await requireStore(store).top({ dimension, order_by, from, to, limit, service_id: f.service_id, route_id: f.route_id, consumer_id: f.consumer_id });
  return { dimension, order_by, from, to, data };
}

export interface ConsumerSummary {
  consumer_id: string;
  from: number;
  to: number;
  requests: number;
  errors: number;
  bytes_in: number;
  bytes_out: number;
  prompt_tokens: number;
  completion_tokens: number;
  cached_tokens: number;
  cost_usd: number;
  ai_calls: number;
  top_routes: TopEntry[];
  /** The consumer's AI models by cost; hour buckets (ai_usage_1h) whose start lies in [from, to). */
  top_models: TopEntry[];
}

/** One consumer's totals over a range (default: the last 24 hours), its busiest routes and costliest AI models. */
export async function consumerSummary(ctx: ServiceContext, store: AnalyticsStore | undefined, consumerId: string, q: QueryParams): Promise<ConsumerSummary> {
  if (!isUuid(consumerId)) throw notFound('consumer', consumerId);
  const f = parseCallsFilter(q, false);
  const errs: FieldError[] = [];
  for (const k of ['service_id', 'route_id', 'consumer_id', 'status', 'status_class'] as const) {
    if (f[k] !== undefined) errs.push({ path: `/${k}`, message: 'is not a known parameter' });
  }
  const { from, to } = range(f, 24 * HOUR, errs);
  if (errs.length > 0) throw validationError(errs);
  const consumer_id = consumerId.toLowerCase();
  await restrictToTenant(ctx, { consumer_id });
  const s = requireStore(store);
  // Hour buckets when hour-aligned or long; the time series sums them into one total.
  const interval: TimeseriesInterval = to - from > MINUTE_INTERVAL_MAX_MS || (from % HOUR === 0 && to % HOUR === 0) ? 'hour' : 'minute';
  const [points, top_routes, top_models] = await Promise.all([
    s.timeseries({ from, to, interval, group_by: 'none', consumer_id }),
    s.top({ dimension: 'route', from, to, limit: DEFAULT_TOP_LIMIT, consumer_id }),
    s.top({ dimension: 'ai_model', order_by: 'cost_usd', from, to, limit: DEFAULT_TOP_LIMIT, consumer_id }),
  ]);
  const sum = (k: 'requests' | 'errors' | 'bytes_in' | 'bytes_out' | 'prompt_tokens' | 'completion_tokens' | 'cached_tokens' | 'cost_usd' | 'ai_calls'): number =>
    points.reduce((n, p) => n + p[k], 0);
  return {
    consumer_id,
    from,
    to,
    requests: sum('requests'),
    errors: sum('errors'),
    bytes_in: sum('bytes_in'),
    bytes_out: sum('bytes_out'),
    prompt_tokens: sum('prompt_tokens'),
    completion_tokens: sum('completion_tokens'),
    cached_tokens: sum('cached_tokens'),
    cost_usd: sum('cost_usd'),
    ai_calls: sum('ai_calls'),
    top_routes,
    top_models,
  };
}
