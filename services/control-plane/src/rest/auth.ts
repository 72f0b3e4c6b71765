// Bearer-token auth for `/v1/*` (except the OpenAPI document); `/healthz` stays open. The admin token's id
// is kept on the request as the principal that idempotency keys are scoped to.
import type { FastifyInstance } from 'fastify';
import { authenticateAdminToken, bearerToken, type ServiceContext } from '../service/index.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Id of the admin token that authenticated the request ('' on open endpoints). */
    adminTokenId: string;
  }
}

const PUBLIC = new Set(['/v1/openapi.json']);

export function installAuth(app: FastifyInstance, ctx: ServiceContext): void {
  app.decorateRequest('adminTokenId', '');
  app.addHook('onRequest', async (req) => {
    const path = req.url.split('?')[0] ?? '';
    if (!path.startsWith('/v1/') && path !== '/v1') return;
    if (PUBLIC.has(path)) return;
    req.adminTokenId = await authenticateAdminToken(ctx, bearerToken(req.headers.authorization));
  });
}
