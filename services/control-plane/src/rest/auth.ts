// Bearer-token auth for `/v1/*` (except the OpenAPI document); `/healthz` stays open.
import type { FastifyInstance } from 'fastify';
import { authenticateAdminToken, bearerToken, type ServiceContext } from '../service/index.js';

const PUBLIC = new Set(['/v1/openapi.json']);

export function installAuth(app: FastifyInstance, ctx: ServiceContext): void {
  app.addHook('onRequest', async (req) => {
    const path = req.url.split('?')[0] ?? '';
    if (!path.startsWith('/v1/') && path !== '/v1') return;
    if (PUBLIC.has(path)) return;
    await authenticateAdminToken(ctx, bearerToken(req.headers.authorization));
  });
}
