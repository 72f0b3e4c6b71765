// The REST admin API (fastify): JSON in and out, bearer auth, every route a thin call into the service layer.
import { randomUUID } from 'node:crypto';
import Fastify, { type FastifyInstance } from 'fastify';
import { TurnpikeError, type AnalyticsStore, type BudgetLedgerStore, type CacheInvalidationChannel } from '@turnpike/common';
import { NodeRegistry } from '../cluster/node-registry.js';
import type { Logger } from '../log.js';
import * as svc from '../service/index.js';
import type { ServiceContext } from '../service/index.js';
import { installAdminRoutes } from './admin-routes.js';
import { installAnalyticsRoutes } from './analytics-routes.js';
import { installResourceRoutes } from './resource-routes.js';
import { installPromptTemplateVersionRoutes } from './prompt-template-versions.js';
import { installPluginTypeRoutes } from './plugin-types.js';
import { installAuth } from './auth.js';
import { installConsoleAssets } from './console-assets.js';
import { installPortalApi } from '../portal/routes.js';
import { getAiBudgetUsage } from '../service/ai-budget-usage.js';
import { whoAmI } from '../service/whoami.js';
import { answerFrameworkError, installErrorHandling } from './error-handler.js';
import { buildOpenApi } from './openapi.js';
import { replyEntity, setEtag, writeOptions } from './conditional.js';
import { replyCreated } from './idempotent-create.js';
import { listOptions, param, queryParams } from './request-params.js';
import { CRUD_RESOURCES } from './resource-table.js';
import { MAX_JSON_DEPTH, nestingExceeds } from '../validation/validator.js';

export const BODY_LIMIT = 1024 * 1024;

export interface RestServerOptions {
  ctx: ServiceContext;
  analytics?: AnalyticsStore | undefined;
  log: Logger;
  /** Gateway nodes heard from (cluster view); empty when absent. */
  nodes?: NodeRegistry | undefined;
  /** Where cache invalidations go to the gateway nodes; none: POST /v1/cache/invalidations answers 503. */
  cacheInvalidation?: CacheInvalidationChannel | null | undefined;
  /** The AI budget ledger the gateway nodes write (NATS KV); none: GET /v1/ai-budgets/{id}/usage answers 503. */
  budgetLedger?: BudgetLedgerStore | null | undefined;
  /** The portal's "try it" gateway when a tenant sets none (see PortalApiOptions.gatewayUrl). */
  portalGatewayUrl?: string | null | (() => string | null) | undefined;
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export function buildRestServer(opts: RestServerOptions): FastifyInstance {
  const { ctx, analytics, log } = opts;
  const app = Fastify({
    logger: false,
    bodyLimit: BODY_LIMIT,
    frameworkErrors: answerFrameworkError,
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
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      return done(new TurnpikeError('TP_ERR_BAD_JSON', `request body is not valid JSON: ${(err as Error).message}`), undefined);
    }
    // Refused before anything walks it recursively (hashing, cloning): 1 MiB of `[[[[` overflows the stack.
    if (nestingExceeds(value, MAX_JSON_DEPTH)) {
      return done(new TurnpikeError('TP_ERR_BAD_JSON', `request body nests deeper than ${MAX_JSON_DEPTH} levels`), undefined);
    }
    done(null, value);
  });
  app.addHook('onRequest', async (req, reply) => {
    void reply.header('x-request-id', req.id);
  });
  installErrorHandling(app, log);
  installAuth(app, ctx);

  const openapi = JSON.stringify(buildOpenApi());
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/v1/openapi.json', async (_req, reply) => reply.type('application/json').send(openapi));
  app.get('/v1/status', async (req) => await svc.configStatus(req.svc));
  app.get('/v1/me', async (req) => await whoAmI(req.svc));
  const nodes = opts.nodes ?? new NodeRegistry();
  app.get('/v1/cluster/nodes', async (req) => await svc.listClusterNodes(req.svc, nodes));
  app.get('/v1/config/revision', async (req) => await svc.configRevision(req.svc));
  app.post('/v1/cache/invalidations', async (req, reply) => reply.code(202).send(await svc.invalidateCache(req.svc, req.body, opts.cacheInvalidation ?? null)));

  for (const r of CRUD_RESOURCES) {
    const base = `/v1/${r.plural}`;
    app.post(base, async (req, reply) =>
      await replyCreated(req.svc, req, reply, { create: async (c) => await r.ops.create(c, req.body), location: (created) => `${base}/${created.id}` }),
    );
    app.get(base, async (req) => await r.ops.list(req.svc, listOptions(req, r.filters)));
    app.get(`${base}/:id`, async (req, reply) => replyEntity(req, reply, await r.ops.get(req.svc, param(req, 'id'))));
    for (const [method, mode] of [['PATCH', 'patch'], ['PUT', 'replace']] as const) {
      app.route({
        method,
        url: `${base}/:id`,
        handler: async (req, reply) => {
          const updated = await r.ops.update(req.svc, param(req, 'id'), req.body, mode, writeOptions(req));
          setEtag(reply, updated);
          return reply.send(updated);
        },
      });
    }
    app.delete(`${base}/:id`, async (req, reply) => {
      await r.ops.remove(req.svc, param(req, 'id'), writeOptions(req));
      return reply.code(204).send();
    });
  }

  const keys = '/v1/consumers/:id/keys';
  app.post(keys, async (req, reply) =>
    await replyCreated(req.svc, req, reply, {
      create: async (c) => await svc.createApiKey(c, param(req, 'id'), req.body),
      location: (created) => `/v1/consumers/${created.consumer_id}/keys/${created.id}`,
      // The clear key is shown once: a replay answers the same 201 without it.
      redact: ({ key: _key, ...rest }) => rest,
    }),
  );
  app.get(keys, async (req) => await svc.listApiKeys(req.svc, param(req, 'id'), listOptions(req, ['name'])));
  app.get(`${keys}/:keyId`, async (req, reply) => replyEntity(req, reply, await svc.getApiKey(req.svc, param(req, 'id'), param(req, 'keyId'))));
  app.patch(`${keys}/:keyId`, async (req, reply) => {
    const updated = await svc.updateApiKey(req.svc, param(req, 'id'), param(req, 'keyId'), req.body, writeOptions(req));
    setEtag(reply, updated);
    return reply.send(updated);
  });
  app.delete(`${keys}/:keyId`, async (req, reply) => {
    await svc.deleteApiKey(req.svc, param(req, 'id'), param(req, 'keyId'), writeOptions(req));
    return reply.code(204).send();
  });

  app.get('/v1/consumers/:id/usage', async (req) => await svc.getConsumerUsage(req.svc, param(req, 'id')));
  app.get('/v1/ai-budgets/:id/usage', async (req) => await getAiBudgetUsage(req.svc, param(req, 'id'), opts.budgetLedger ?? null));

  installAnalyticsRoutes(app, analytics);
  installAdminRoutes(app);
  installResourceRoutes(app);
  installPromptTemplateVersionRoutes(app);
  installPluginTypeRoutes(app);
  installPortalApi(app, { analytics, ...(opts.portalGatewayUrl !== undefined ? { gatewayUrl: opts.portalGatewayUrl } : {}) });
  installConsoleAssets(app);

  return app;
}
