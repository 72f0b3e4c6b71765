// Bearer-token auth for `/v1/*` (except the OpenAPI document); `/healthz` stays open. The request gets
// its own service context: the principal the admin token stands for and the tenant addressed by
// `X-Turnpike-Tenant` (a tenant name; absent: the token's home tenant — `default` for the bootstrap token). The token id is also kept as the principal
// that idempotency keys are scoped to.
import type { FastifyInstance } from 'fastify';
import { authenticateAdminToken, bearerToken, resolveTenant, type ServiceContext } from '../service/index.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Id of the admin token that authenticated the request ('' on open endpoints). */
    adminTokenId: string;
    /** The service context of this request (caller, tenant, request id); the bare one on open endpoints. */
    svc: ServiceContext;
  }
}

const PUBLIC = new Set(['/v1/openapi.json']);
export const TENANT_HEADER = 'x-turnpike-tenant';

export function installAuth(app: FastifyInstance, ctx: ServiceContext): void {
  app.decorateRequest('adminTokenId', '');
  app.decorateRequest('svc', null as unknown as ServiceContext);
  app.addHook('onRequest', async (req) => {
    req.svc = { ...ctx, requestId: req.id };
    const path = req.url.split('?')[0] ?? '';
    if (!path.startsWith('/v1/') && path !== '/v1') return;
    if (PUBLIC.has(path)) return;
    const principal = await authenticateAdminToken(ctx, bearerToken(req.headers.authorization));
    req.adminTokenId = principal.tokenId;
    const h = req.headers[TENANT_HEADER];
    const auth = await resolveTenant(ctx, principal, Array.isArray(h) ? h.join(',') : h);
    req.svc = { ...ctx, requestId: req.id, auth };
  });
}
