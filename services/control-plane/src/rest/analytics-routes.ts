// The analytics REST endpoints (console dashboards): call search (JSON or CSV export), trend, time series,
// top N and a per-consumer summary. Parameters are parsed and tenant-scoped in service/analytics.ts.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { AnalyticsStore } from '@turnpike/common';
import * as svc from '../service/index.js';
import { CALL_CSV_COLUMNS } from '../service/analytics.js';
import { toCsv } from './csv.js';
import { param, queryParams } from './request-params.js';

/** CSV when asked by `format=csv`, or (no format) by an Accept header naming text/csv and not JSON. */
function wantsCsv(req: FastifyRequest, q: Record<string, string>): boolean {
  if (q.format !== undefined) return q.format === 'csv';
  const accept = req.headers.accept ?? '';
  return /\btext\/csv\b/i.test(accept) && !/\bapplication\/json\b/i.test(accept);
}

export function installAnalyticsRoutes(app: FastifyInstance, analytics: AnalyticsStore | undefined): void {
  app.get('/v1/analytics/calls', async (req, reply) => {
    const q = queryParams(req);
    const page = await svc.searchCalls(req.svc, analytics, q);
    if (wantsCsv(req, q)) {
      return reply
        .header('content-type', 'text/csv; charset=utf-8')
        .header('content-disposition', 'attachment; filename="calls.csv"')
        .send(toCsv(CALL_CSV_COLUMNS, page.data as unknown as Record<string, unknown>[]));
    }
    return page;
  });
  app.get('/v1/analytics/trend', async (req) => ({ data: await svc.queryTrend(req.svc, analytics, queryParams(req)) }));
  app.get('/v1/analytics/timeseries', async (req) => await svc.queryTimeseries(req.svc, analytics, queryParams(req)));
  app.get('/v1/analytics/top', async (req) => await svc.queryTop(req.svc, analytics, queryParams(req)));
  app.get('/v1/analytics/consumers/:id', async (req) => await svc.consumerSummary(req.svc, analytics, param(req, 'id'), queryParams(req)));
}
