// REST routes of the generic resource kinds (resources/registry.ts): `/v1/<path>` or, for kinds that
// belong to a consumer, `/v1/consumers/{consumer_id}/<path>`; plus `POST .../{id}/<action>`.
import type { FastifyInstance } from 'fastify';
import { RESOURCE_DEFS, createResource, deleteResource, getResource, listResources, runAction, updateResource, type ResourceDef, type ResourceEntity } from '../resources/index.js';
import { replyEntity, setEtag, writeOptions } from './conditional.js';
import { replyCreated } from './idempotent-create.js';
import { param, resourceListOptions } from './request-params.js';

/** The collection URL in fastify's syntax (`:consumer_id`) or OpenAPI's (`{consumer_id}`). */
export function collectionPath(def: ResourceDef, style: 'fastify' | 'openapi'): string {
  if (!def.parent) return `/v1/${def.path}`;
  const p = style === 'fastify' ? `:${def.parent.field}` : `{${def.parent.field}}`;
  return `/v1/${def.parent.path}/${p}/${def.path}`;
}

export function installResourceRoutes(app: FastifyInstance): void {
  for (const def of RESOURCE_DEFS) {
    const base = collectionPath(def, 'fastify');
    const parentOf = (req: Parameters<typeof param>[0]): string | undefined => (def.parent ? param(req, def.parent.field) : undefined);
    const reveal = def.revealOnce ?? [];
    app.post(base, async (req, reply) =>
      await replyCreated<ResourceEntity>(req.svc, req, reply, {
        create: async (c) => await createResource(c, def, req.body, parentOf(req)),
        location: (created) => `${def.parent ? base.replace(`:${def.parent.field}`, String(created[def.parent.field])) : base}/${created.id}`,
        ...(reveal.length > 0 ? { redact: (c: ResourceEntity) => Object.fromEntries(Object.entries(c).filter(([k]) => !reveal.includes(k))) as ResourceEntity } : {}),
      }),
    );
    app.get(base, async (req) => await listResources(req.svc, def, resourceListOptions(req, Object.keys(def.filters ?? {})), parentOf(req)));
    app.get(`${base}/:id`, async (req, reply) => replyEntity(req, reply, await getResource(req.svc, def, param(req, 'id'), parentOf(req))));
    for (const [method, mode] of [['PATCH', 'patch'], ['PUT', 'replace']] as const) {
      app.route({
        method,
        url: `${base}/:id`,
        handler: async (req, reply) => {
          const updated = await updateResource(req.svc, def, param(req, 'id'), req.body, mode, writeOptions(req), parentOf(req));
          setEtag(reply, updated);
          return reply.send(updated);
        },
      });
    }
    app.delete(`${base}/:id`, async (req, reply) => {
      await deleteResource(req.svc, def, param(req, 'id'), writeOptions(req), parentOf(req));
      return reply.code(204).send();
    });
    for (const action of def.actions ?? []) {
      app.post(`${base}/:id/${action.name}`, async (req, reply) => {
        const updated = await runAction(req.svc, def, action.name, param(req, 'id'), req.body, writeOptions(req));
        setEtag(reply, updated);
        return reply.send(updated);
      });
    }
  }
}
