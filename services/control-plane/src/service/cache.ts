// Cache invalidation: drops proxy-cache entries on every gateway node, by service, route or path prefix. Nothing
// is stored: the request is checked against the tenant's configuration and published to the nodes (202).
import { randomUUID } from 'node:crypto';
import { Type, type Static } from '@sinclair/typebox';
import { Id, TurnpikeError, type CacheInvalidationChannel, type CacheInvalidationRequest } from '@turnpike/common';
import { parse } from '../validation/validator.js';
import { authorize } from './access.js';
import { authOf, type ServiceContext } from './context.js';
import { notFound } from './ids.js';

export const CacheInvalidationInput = Type.Object(
  {
    service_id: Type.Optional(Id),
    route_id: Type.Optional(Id),
    /** A path prefix (`/v1/products`): entries of this tenant's services whose request path starts with it. */
    prefix: Type.Optional(Type.String({ pattern: '^/', minLength: 1, maxLength: 2048 })),
  },
  { additionalProperties: false },
);
export type CacheInvalidationInput = Static<typeof CacheInvalidationInput>;

export const CacheInvalidationAccepted = Type.Object({
  id: Type.String({ format: 'uuid', description: 'the invalidation id, as the nodes log it' }),
  status: Type.Literal('accepted'),
  service_id: Type.Optional(Id),
  route_id: Type.Optional(Id),
  prefix: Type.Optional(Type.String()),
});
export type CacheInvalidationAccepted = Static<typeof CacheInvalidationAccepted>;

/**
 * Publishes the invalidation to the cluster's nodes. Needs write access to services; the service or route must be
 * the tenant's (404 otherwise); a prefix applies to the tenant's services only. 503 when the bus is unreachable.
 */
export async function invalidateCache(ctx: ServiceContext, input: unknown, channel: CacheInvalidationChannel | null): Promise<CacheInvalidationAccepted> {
  const t = authorize(authOf(ctx), 'services', 'write');
  const b = parse(CacheInvalidationInput, input ?? {}, { defaults: false });
  const given = (['service_id', 'route_id', 'prefix'] as const).filter((k) => b[k] !== undefined);
  if (given.length !== 1) {
    const fields = given.length === 0 ? [{ path: '', message: 'must name one of service_id, route_id, prefix' }] : given.slice(1).map((k) => ({ path: `/${k}`, message: `only one of service_id, route_id, prefix may be given (also got ${given[0]})` }));
    throw new TurnpikeError('TP_ERR_VALIDATION', fields.map((f) => `${f.path || 'body'} ${f.message}`).join('; '), fields);
  }
  const id = randomUUID();
  const msg: CacheInvalidationRequest = { id };
  const sql = ctx.sql;
  if (b.service_id !== undefined) {
    const sid = b.service_id.toLowerCase();
    const rows = await sql`SELECT 1 FROM services WHERE tenant_id = ${t} AND id = ${sid}`;
    if (rows.length === 0) throw notFound('service', b.service_id);
    msg.service_id = sid;
  } else if (b.route_id !== undefined) {
    const rid = b.route_id.toLowerCase();
    const rows = await sql`SELECT 1 FROM routes WHERE tenant_id = ${t} AND id = ${rid}`;
    if (rows.length === 0) throw notFound('route', b.route_id);
    msg.route_id = rid;
  } else {
    // The nodes know no tenants: the tenant's services travel with the prefix.
    const rows = await sql<{ id: string }[]>`SELECT id::text AS id FROM services WHERE tenant_id = ${t}`;
    msg.prefix = b.prefix!;
    msg.service_ids = rows.map((r) => r.id);
  }
  if (channel === null) throw new TurnpikeError('TP_ERR_UNAVAILABLE', 'this control plane has no channel to the gateway nodes: cache invalidation is unavailable');
  await channel.publish(msg);
  const out: CacheInvalidationAccepted = { id, status: 'accepted' };
  if (msg.service_id !== undefined) out.service_id = msg.service_id;
  if (msg.route_id !== undefined) out.route_id = msg.route_id;
  if (msg.prefix !== undefined) out.prefix = msg.prefix;
  return out;
}
