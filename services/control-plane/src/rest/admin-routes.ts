// REST routes of tenancy and RBAC: tenants, users, tenant members, admin tokens, the audit log.
import type { FastifyInstance } from 'fastify';
import * as svc from '../service/index.js';
import { replyEntity, setEtag, writeOptions } from './conditional.js';
import { replyCreated } from './idempotent-create.js';
import { listOptions, param, queryParams } from './request-params.js';

export function installAdminRoutes(app: FastifyInstance): void {
  app.post('/v1/tenants', async (req, reply) =>
    await replyCreated(req.svc, req, reply, { create: async (c) => await svc.createTenant(c, req.body), location: (t) => `/v1/tenants/${t.id}` }),
  );
  app.get('/v1/tenants', async (req) => await svc.listTenants(req.svc, listOptions(req, ['name'])));
  app.get('/v1/tenants/:id', async (req, reply) => replyEntity(req, reply, await svc.getTenant(req.svc, param(req, 'id'))));
  app.patch('/v1/tenants/:id', async (req, reply) => {
    const updated = await svc.updateTenant(req.svc, param(req, 'id'), req.body, 'patch', writeOptions(req));
    setEtag(reply, updated);
    return reply.send(updated);
  });
  app.delete('/v1/tenants/:id', async (req, reply) => {
    await svc.deleteTenant(req.svc, param(req, 'id'), writeOptions(req));
    return reply.code(204).send();
  });

  app.get('/v1/tenants/:id/members', async (req) => await svc.listMembers(req.svc, param(req, 'id'), listOptions(req)));
  app.put('/v1/tenants/:id/members/:userId', async (req) => await svc.putMember(req.svc, param(req, 'id'), param(req, 'userId'), req.body));
  app.delete('/v1/tenants/:id/members/:userId', async (req, reply) => {
    await svc.deleteMember(req.svc, param(req, 'id'), param(req, 'userId'));
    return reply.code(204).send();
  });

  app.post('/v1/users', async (req, reply) =>
    await replyCreated(req.svc, req, reply, { create: async (c) => await svc.createUser(c, req.body), location: (u) => `/v1/users/${u.id}` }),
  );
  app.get('/v1/users', async (req) => await svc.listUsers(req.svc, listOptions(req, ['name'])));
  app.get('/v1/users/:id', async (req) => await svc.getUser(req.svc, param(req, 'id')));
  app.delete('/v1/users/:id', async (req, reply) => {
    await svc.deleteUser(req.svc, param(req, 'id'));
    return reply.code(204).send();
  });

  app.post('/v1/tokens', async (req, reply) =>
    await replyCreated(req.svc, req, reply, {
      create: async (c) => await svc.createAdminToken(c, req.body),
      location: (t) => `/v1/tokens/${t.id}`,
      // The clear token is shown once: a replay answers the same 201 without it.
      redact: ({ token: _token, ...rest }) => rest,
    }),
  );
  app.get('/v1/tokens', async (req) => await svc.listAdminTokens(req.svc, listOptions(req, ['name'])));
  app.get('/v1/tokens/:id', async (req) => await svc.getAdminToken(req.svc, param(req, 'id')));
  app.delete('/v1/tokens/:id', async (req, reply) => {
    await svc.revokeAdminToken(req.svc, param(req, 'id'));
    return reply.code(204).send();
  });

  app.get('/v1/audit', async (req) => await svc.listAudit(req.svc, queryParams(req)));
}
