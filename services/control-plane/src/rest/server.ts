// The REST admin API (fastify): JSON in and out, bearer auth, every route a thin call into the service layer.
import { randomUUID } from 'node:crypto';
import Fastify, { type FastifyInstance } from 'fastify';
import { TurnpikeError, type AnalyticsStore } from '@turnpike/common';
import type { Logger } from '../log.js';
import * as svc from '../service/index.js';
import type { ServiceContext } from '../service/index.js';
import { installAuth } from './auth.js';
import { installErrorHandling } from './error-handler.js';
import { buildOpenApi } from './openapi.js';
import { listOptions, param, queryParams } from './request-params.js';
import { CRUD_RESOURCES } from './resource-table.js';

export const BODY_LIMIT = 1024 * 1024;

export interface RestServerOptions {
  ctx: ServiceContext;
  analytics?: AnalyticsStore | undefined;
  log: Logger;
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export function buildRestServer(opts: RestServerOptions): FastifyInstance {
  const { ctx, analytics, log } = opts;
  const app = Fastify({
    logger: false,
    bodyLimit: BODY_LIMIT,
    // A caller's own x-request-id is kept (when sane) so logs correlate across systems.
    genReqId: (req) => {
      const h = req.headers['x-request-id'];
      return typeof h === 'string' && REQUEST_ID.test(h) ? h : randomUUID();
    },
  });

  // JSON only: other media types are refused (fastify's 415, answered as TP_ERR_BAD_REQUEST).
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => {
    const text = typeof body === 'string' ? body : body.toString('utf8');
    if (text.trim() === '') return done(null, undefined);
    try {
      done(null, JSON.parse(text));
    } catch (err) {
      done(new TurnpikeError('TP_ERR_BAD_JSON', `request body is not valid JSON: ${(err as Error).message}`), undefined);
    }
  });
  app.addHook('onRequest', async (req, reply) => {
    void reply.header('x-request-id', req.id);
  });
  installErrorHandling(app, log);
  installAuth(app, ctx);

  const openapi = JSON.stringify(buildOpenApi());
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/v1/openapi.json', async (_req, reply) => reply.type('application/json').send(openapi));
  app.get('/v1/status', async () => await svc.configStatus(ctx));

  for (const r of CRUD_RESOURCES) {
    const base = `/v1/${r.plural}`;
    app.post(base, async (req, reply) => {
      const created = (await r.ops.create(ctx, req.body)) as { id: string };
      return reply.code(201).header('location', `${base}/${created.id}`).send(created);
    });
    app.get(base, async (req) => await r.ops.list(ctx, listOptions(req)));
    app.get(`${base}/:id`, async (req) => await r.ops.get(ctx, param(req, 'id')));
    app.patch(`${base}/:id`, async (req) => await r.ops.update(ctx, param(req, 'id'), req.body, 'patch'));
    app.put(`${base}/:id`, async (req) => await r.ops.update(ctx, param(req, 'id'), req.body, 'replace'));
    app.delete(`${base}/:id`, async (req, reply) => {
      await r.ops.remove(ctx, param(req, 'id'));
      return reply.code(204).send();
    });
  }

  const keys = '/v1/consumers/:id/keys';
  app.post(keys, async (req, reply) => {
    const created = await svc.createApiKey(ctx, param(req, 'id'), req.body);
    return reply.code(201).header('location', `/v1/consumers/${created.consumer_id}/keys/${created.id}`).send(created);
  });
  app.get(keys, async (req) => await svc.listApiKeys(ctx, param(req, 'id'), listOptions(req)));
  app.get(`${keys}/:keyId`, async (req) => await svc.getApiKey(ctx, param(req, 'id'), param(req, 'keyId')));
  app.delete(`${keys}/:keyId`, async (req, reply) => {
    await svc.deleteApiKey(ctx, param(req, 'id'), param(req, 'keyId'));
    return reply.code(204).send();
  });

  app.get('/v1/analytics/calls', async (req) => ({ data: await svc.queryCalls(analytics, queryParams(req)) }));
  app.get('/v1/analytics/trend', async (req) => ({ data: await svc.queryTrend(analytics, queryParams(req)) }));

  return app;
}
