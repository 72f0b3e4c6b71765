// REST of the developer portal: `/portal/api/v1/*` for developers (session tokens, not admin tokens: the
// `/v1` auth hook does not apply here) and `/v1/portal/*` for operators (settings, the developer list).
// Handlers only parse the request and call the portal's service functions.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { TurnpikeError, type AnalyticsStore } from '@turnpike/common';
import { authorize } from '../service/access.js';
import { authOf, type ServiceContext } from '../service/context.js';
import { queryParams } from '../rest/request-params.js';
import { parse } from '../validation/validator.js';
import {
  AccountLocked,
  DEFAULT_POLICY,
  authenticateSession,
  developerAuth,
  getDeveloper,
  listDevelopers,
  resolvePortalTenant,
  signIn,
  signOut,
  signUp,
  type DeveloperSession,
  type PortalPolicy,
  type PortalTenant,
} from './accounts.js';
import { getCatalogEntry, listCatalog } from './catalog.js';
import { TryRequest } from './schemas.js';
import { cancelSubscription, createOwnKey, getOwnSubscription, listOwnKeys, listOwnSubscriptions, ownUsage, requestSubscription, revokeOwnKey, rotateOwnKey } from './self-service.js';
import { getPortalSettings, readPortalSettings, updatePortalSettings } from './settings.js';
import { tryRequest } from './try-it.js';

export const PORTAL_API = '/portal/api/v1';

export interface PortalApiOptions {
  analytics?: AnalyticsStore | undefined;
  /**
   * The gateway "try it" uses when the tenant sets none (default: env TP_PORTAL_GATEWAY_URL); a function when
   * it is known only later (`turnpike up` starts its node after the control plane).
   */
  gatewayUrl?: string | null | (() => string | null) | undefined;
  policy?: Partial<PortalPolicy> | undefined;
}

function tenantName(req: FastifyRequest): string | undefined {
  const q = (req.query ?? {}) as Record<string, unknown>;
  if (typeof q.tenant === 'string') return q.tenant;
  const h = req.headers['x-turnpike-tenant'];
  return Array.isArray(h) ? h[0] : h;
}

function param(req: FastifyRequest, name: string): string {
  return String((req.params as Record<string, string>)[name] ?? '');
}

export function installPortalApi(app: FastifyInstance, opts: PortalApiOptions = {}): void {
  const policy: PortalPolicy = { ...DEFAULT_POLICY, ...opts.policy };
  const configured = opts.gatewayUrl !== undefined ? opts.gatewayUrl : (process.env.TP_PORTAL_GATEWAY_URL ?? null) || null;
  const defaultGateway = (): string | null => (typeof configured === 'function' ? configured() : configured);

  const session = async (req: FastifyRequest): Promise<{ s: DeveloperSession; ctx: ServiceContext }> => {
    const s = await authenticateSession(req.svc, req.headers.authorization);
    return { s, ctx: { ...req.svc, auth: developerAuth(s) } };
  };
  /** The session's tenant when signed in; else the one named by ?tenant= / X-Turnpike-Tenant (default `default`). */
  const tenantOf = async (req: FastifyRequest): Promise<PortalTenant> =>
    req.headers.authorization ? (await authenticateSession(req.svc, req.headers.authorization)).tenant : await resolvePortalTenant(req.svc, tenantName(req));

  const noStore = async (_req: FastifyRequest, reply: FastifyReply): Promise<void> => {
    void reply.header('cache-control', 'no-store');
  };

  void app.register(
    async (api) => {
      api.addHook('onRequest', noStore);

      api.get('/config', async (req) => {
        const tenant = await resolvePortalTenant(req.svc, tenantName(req));
        const s = await readPortalSettings(req.svc.sql, tenant.id, defaultGateway());
        return { tenant: tenant.name, signup: s.signup, gateway_url: s.effective_gateway_url };
      });

      api.post('/accounts', async (req, reply) => {
        const tenant = await resolvePortalTenant(req.svc, tenantName(req));
        return reply.code(201).send(await signUp(req.svc, tenant, req.body, policy));
      });
      api.post('/sessions', async (req, reply) => {
        const tenant = await resolvePortalTenant(req.svc, tenantName(req));
        try {
          return reply.code(201).send(await signIn(req.svc, tenant, req.body, policy));
        } catch (err) {
          if (err instanceof AccountLocked) void reply.header('retry-after', String(err.retryAfterSeconds));
          throw err;
        }
      });
      api.delete('/sessions/current', async (req, reply) => {
        const { s } = await session(req);
        await signOut(req.svc, s);
        return reply.code(204).send();
      });
      api.get('/me', async (req) => {
        const { s } = await session(req);
        return await getDeveloper(req.svc, s);
      });

      api.get('/catalog', async (req) => await listCatalog(req.svc.sql, (await tenantOf(req)).id));
      api.get('/catalog/:id', async (req) => await getCatalogEntry(req.svc.sql, (await tenantOf(req)).id, param(req, 'id')));

      api.get('/keys', async (req) => {
        const { s, ctx } = await session(req);
        return await listOwnKeys(ctx, s.consumerId);
      });
      api.post('/keys', async (req, reply) => {
        const { s, ctx } = await session(req);
        return reply.code(201).send(await createOwnKey(ctx, s.consumerId, req.body));
      });
      api.post('/keys/:id/rotate', async (req, reply) => {
        const { s, ctx } = await session(req);
        return reply.code(201).send(await rotateOwnKey(ctx, s.consumerId, param(req, 'id'), req.body));
      });
      api.delete('/keys/:id', async (req, reply) => {
        const { s, ctx } = await session(req);
        await revokeOwnKey(ctx, s.consumerId, param(req, 'id'));
        return reply.code(204).send();
      });

      api.get('/subscriptions', async (req) => {
        const { s, ctx } = await session(req);
        return await listOwnSubscriptions(ctx, s.consumerId);
      });
      api.post('/subscriptions', async (req, reply) => {
        const { s, ctx } = await session(req);
        return reply.code(201).send(await requestSubscription(ctx, s.consumerId, s.tenant.id, req.body));
      });
      api.get('/subscriptions/:id', async (req) => {
        const { s, ctx } = await session(req);
        return await getOwnSubscription(ctx, s.consumerId, param(req, 'id'));
      });
      api.delete('/subscriptions/:id', async (req, reply) => {
        const { s, ctx } = await session(req);
        await cancelSubscription(ctx, s.consumerId, param(req, 'id'));
        return reply.code(204).send();
      });

      api.get('/usage', async (req) => {
        const { s, ctx } = await session(req);
        const { tenant: _t, ...q } = queryParams(req);
        return await ownUsage(ctx, s.consumerId, opts.analytics, q);
      });

      api.post('/try', async (req) => {
        const { s } = await session(req);
        const b = parse(TryRequest, req.body, { defaults: true });
        let entry;
        try {
          entry = await getCatalogEntry(req.svc.sql, s.tenant.id, b.service_id);
        } catch {
          throw new TurnpikeError('TP_ERR_UNPROCESSABLE', `service ${b.service_id} is not in the catalog`, [{ path: '/service_id', message: 'is not a catalog service' }]);
        }
        const settings = await readPortalSettings(req.svc.sql, s.tenant.id, defaultGateway());
        return await tryRequest(settings.effective_gateway_url, entry, b);
      });

      // Anything else under the API is a JSON 404, not the app's index.html (the /portal/* fallback).
      api.all('/*', async (req) => {
        throw new TurnpikeError('TP_ERR_NOT_FOUND', `no such endpoint: ${req.method} ${req.url.split('?')[0]}`);
      });
    },
    { prefix: PORTAL_API },
  );
  app.all('/portal/api', async (req) => {
    throw new TurnpikeError('TP_ERR_NOT_FOUND', `no such endpoint: ${req.method} ${req.url.split('?')[0]}`);
  });
  app.all('/portal/api/*', async (req) => {
    throw new TurnpikeError('TP_ERR_NOT_FOUND', `no such endpoint: ${req.method} ${req.url.split('?')[0]}`);
  });

  // Operators (admin token, the /v1 auth hook): the tenant's portal settings and its developer accounts.
  app.get('/v1/portal/settings', async (req) => await getPortalSettings(req.svc, defaultGateway()));
  app.patch('/v1/portal/settings', async (req) => await updatePortalSettings(req.svc, req.body, defaultGateway()));
  app.get('/v1/portal/developers', async (req) => {
    const auth = authOf(req.svc);
    authorize(auth, 'consumers', 'read');
    return await listDevelopers(req.svc, { id: auth.tenantId, name: auth.tenantName });
  });
}
