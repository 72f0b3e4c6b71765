// Services: an API fronted by the gateway, bound to one upstream.
import { randomUUID } from 'node:crypto';
import { ServiceCreate, ServiceUpdate, TurnpikeError, type Service, type ServiceLifecycle } from '@turnpike/common';
import { parse } from '../validation/validator.js';
import { assertReference, assertUnique, assertUnused, iso, jsonb } from './checks.js';
import { authorize } from './access.js';
import { authOf, type ServiceContext } from './context.js';
import { notFound, requireId } from './ids.js';
import { selectPage, toPage, type ListOptions, type Page } from './pagination.js';
import { checkVersion, withVersion, type WriteOptions } from './versions.js';
import { writeConfig } from './write.js';

export interface ServiceRow {
  id: string;
  seq: string;
  name: string;
  upstream_id: string;
  base_path: string;
  tags: string[];
  lifecycle: ServiceLifecycle;
  api_version: string;
  sunset_at: Date | null;
  catalog_visibility: 'public' | 'private';
  openapi: Record<string, unknown> | null;
  revision: string;
  version: string;
  created_at: Date;
  updated_at: Date;
}

export function toService(r: ServiceRow): Service {
  return {
    id: r.id,
    name: r.name,
    upstream_id: r.upstream_id,
    base_path: r.base_path,
    tags: r.tags,
    lifecycle: r.lifecycle,
    version: r.api_version,
    sunset_at: r.sunset_at ? iso(r.sunset_at) : null,
    catalog_visibility: r.catalog_visibility,
    openapi: r.openapi,
    created_at: iso(r.created_at),
    updated_at: iso(r.updated_at),
  };
}

/**
 * The service as the data plane (and the audit log) receives it: without the OpenAPI document, which can be
 * up to a megabyte, is never read by a gateway, and would otherwise travel to every node on every change.
 */
export function serviceForDataPlane(s: Service): Service {
  const { openapi: _doc, ...rest } = s;
  return rest;
}

const TRANSITIONS: Record<ServiceLifecycle, readonly ServiceLifecycle[]> = {
  draft: ['published'],
  published: ['deprecated', 'retired'],
  deprecated: ['published', 'retired'],
  retired: [],
};

/** 409 with the field path `/lifecycle` unless `from → to` is an allowed lifecycle transition. */
export function assertLifecycleTransition(from: ServiceLifecycle, to: ServiceLifecycle): void {
  if (from === to) return;
  if (TRANSITIONS[from].includes(to)) return;
  const message = from === 'retired' ? 'retired services cannot change lifecycle' : `a ${from} service cannot become ${to}`;
  throw new TurnpikeError('TP_ERR_CONFLICT', message, [
    { path: '/lifecycle', message: `allowed from ${from}: ${TRANSITIONS[from].join(', ') || 'none'}` },
  ]);
}

export async function createService(ctx: ServiceContext, input: unknown): Promise<Service> {
  const t = authorize(authOf(ctx), 'services', 'write');
  const b = parse(ServiceCreate, input, { defaults: true });
  const upstreamId = b.upstream_id.toLowerCase();
  return await writeConfig(ctx, async (w) => {
    await assertUnique(w.tx, 'services', 'name', b.name, null, 'service', t);
    await assertReference(w.tx, 'upstreams', upstreamId, '/upstream_id', 'upstream', t);
    const [row] = await w.tx<ServiceRow[]>`
      INSERT INTO services (id, tenant_id, name, upstream_id, base_path, tags, lifecycle, api_version, sunset_at,
                            catalog_visibility, openapi, revision, created_at, updated_at)
      VALUES (${randomUUID()}, ${t}, ${b.name}, ${upstreamId}, ${b.base_path ?? ''}, ${jsonb(w.tx, b.tags ?? [])},
              ${b.lifecycle ?? 'published'}, ${b.version ?? ''}, ${b.sunset_at ?? null}, ${b.catalog_visibility ?? 'private'},
              ${b.openapi ? jsonb(w.tx, b.openapi) : null}, ${w.revision}, ${w.now}, ${w.now})
      RETURNING *`;
    const s = toService(row!);
    w.emit({ kind: 'services', id: s.id, op: 'put', data: serviceForDataPlane(s) });
    w.audit({ action: 'create', resource: 'services', id: s.id, after: serviceForDataPlane(s) });
    return withVersion(s, row!.version);
  });
}

export async function getService(ctx: ServiceContext, id: string): Promise<Service> {
  const t = authorize(authOf(ctx), 'services', 'read');
  const sid = requireId('service', id);
  const [row] = await ctx.sql<ServiceRow[]>`SELECT * FROM services WHERE id = ${sid} AND tenant_id = ${t}`;
  if (!row) throw notFound('service', id);
  return withVersion(toService(row), row.version);
}

export async function listServices(ctx: ServiceContext, opts?: ListOptions): Promise<Page<Service>> {
  const t = authorize(authOf(ctx), 'services', 'read');
  const { rows, q } = await selectPage<ServiceRow>(ctx.sql, 'services', 'name', opts, t);
  return toPage(rows, q, toService);
}

export async function updateService(
  ctx: ServiceContext,
  id: string,
  input: unknown,
  mode: 'patch' | 'replace' = 'patch',
  opts?: WriteOptions,
): Promise<Service> {
  const t = authorize(authOf(ctx), 'services', 'write');
  const sid = requireId('service', id);
  const b = mode === 'patch' ? parse(ServiceUpdate, input, { defaults: false }) : parse(ServiceCreate, input, { defaults: true });
  return await writeConfig(ctx, async (w) => {
    const [cur] = await w.tx<ServiceRow[]>`SELECT * FROM services WHERE id = ${sid} AND tenant_id = ${t} FOR UPDATE`;
    if (!cur) throw notFound('service', id);
    checkVersion(cur.version, opts, 'service', id);
    const next = { ...toService(cur), ...b };
    next.upstream_id = next.upstream_id.toLowerCase();
    assertLifecycleTransition(cur.lifecycle, next.lifecycle ?? 'published');
    if (next.name !== cur.name) await assertUnique(w.tx, 'services', 'name', next.name, sid, 'service', t);
    if (next.upstream_id !== cur.upstream_id) await assertReference(w.tx, 'upstreams', next.upstream_id, '/upstream_id', 'upstream', t);
    const [row] = await w.tx<ServiceRow[]>`
      UPDATE services SET name = ${next.name}, upstream_id = ${next.upstream_id}, base_path = ${next.base_path},
        tags = ${jsonb(w.tx, next.tags)}, lifecycle = ${next.lifecycle ?? 'published'}, api_version = ${next.version ?? ''},
        sunset_at = ${next.sunset_at ?? null}, catalog_visibility = ${next.catalog_visibility ?? 'private'},
        openapi = ${next.openapi ? jsonb(w.tx, next.openapi) : null},
        revision = ${w.revision}, updated_at = ${w.now}, version = version + 1
      WHERE id = ${sid} RETURNING *`;
    const s = toService(row!);
    w.emit({ kind: 'services', id: s.id, op: 'put', data: serviceForDataPlane(s) });
    w.audit({ action: 'update', resource: 'services', id: s.id, before: serviceForDataPlane(toService(cur)), after: serviceForDataPlane(s) });
    return withVersion(s, row!.version);
  });
}

export async function deleteService(ctx: ServiceContext, id: string, opts?: WriteOptions): Promise<void> {
  const t = authorize(authOf(ctx), 'services', 'write');
  const sid = requireId('service', id);
  await writeConfig(ctx, async (w) => {
    const [cur] = await w.tx<ServiceRow[]>`SELECT * FROM services WHERE id = ${sid} AND tenant_id = ${t} FOR UPDATE`;
    if (!cur) throw notFound('service', id);
    checkVersion(cur.version, opts, 'service', id);
    await assertUnused(w.tx, 'routes', 'service_id', sid, 'service', 'routes');
    await w.tx`DELETE FROM services WHERE id = ${sid}`;
    w.emit({ kind: 'services', id: sid, op: 'del' });
    w.audit({ action: 'delete', resource: 'services', id: sid, before: serviceForDataPlane(toService(cur)) });
  });
}
