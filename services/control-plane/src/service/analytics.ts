// Analytics queries: parse the query parameters, then ask the injected AnalyticsStore (ClickHouse or chdb).
import { TurnpikeError, type AnalyticsStore, type CallRecord, type CallsFilter, type FieldError, type TrendPoint } from '@turnpike/common';
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

export function parseCallsFilter(q: QueryParams, allowLimit: boolean): CallsFilter {
  const f: CallsFilter = {};
  const errs: FieldError[] = [];
  for (const [k, v] of Object.entries(q)) {
    if (v === undefined) continue;
    if (!ALLOWED.has(k) || (k === 'limit' && !allowLimit)) {
      errs.push({ path: `/${k}`, message: 'is not a known parameter' });
      continue;
    }
    switch (k) {
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
  if (errs.length > 0) throw new TurnpikeError('TP_ERR_VALIDATION', `invalid query: ${errs[0]!.path} ${errs[0]!.message}`, errs);
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

export async function queryTrend(ctx: ServiceContext, store: AnalyticsStore | undefined, q: QueryParams): Promise<TrendPoint[]> {
  // The trend defaults to the last hour.
  const f = parseCallsFilter(q, false);
  await restrictToTenant(ctx, f);
  f.to ??= Date.now();
  f.from ??= f.to - 3_600_000;
  return await requireStore(store).trend(f);
}
