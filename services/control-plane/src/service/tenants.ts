// Tenants (teams): each owns its configuration, members and tokens. Superusers create tenants; a tenant's
// owner renames or deletes it. The built-in `default` tenant is never renamed or deleted.
import { randomUUID } from 'node:crypto';
import { TurnpikeError } from '@turnpike/common';
import { parse } from '../validation/validator.js';
import { DEFAULT_TENANT_ID, authorize, requireSuperuser, roleIn } from './access.js';
import { TenantCreate, TenantUpdate, type Tenant } from './admin-schemas.js';
import { iso } from './checks.js';
import { authOf, type ServiceContext } from './context.js';
import { notFound, requireId } from './ids.js';
import { pageQuery, toPage, type ListOptions, type Page } from './pagination.js';
import { checkVersion, withVersion, type WriteOptions } from './versions.js';
import { writeAdmin } from './write.js';

interface TenantRow {
  id: string;
  seq: string;
  name: string;
  version: string;
  created_at: Date;
  updated_at: Date;
}

function toTenant(r: TenantRow): Tenant {
  return { id: r.id, name: r.name, created_at: iso(r.created_at), updated_at: iso(r.updated_at) };
}

function nameTaken(name: string): TurnpikeError {
  return new TurnpikeError('TP_ERR_CONFLICT', `tenant with name ${JSON.stringify(name)} already exists`, [{ path: '/name', message: 'is already taken' }]);
}

/** A tenant id the caller has some role in (else 404, whether or not it exists). */
function visibleTenant(ctx: ServiceContext, id: string): string {
  const tid = requireId('tenant', id);
  if (roleIn(authOf(ctx).principal, tid) === null) throw notFound('tenant', id);
  return tid;
}

export async function createTenant(ctx: ServiceContext, input: unknown): Promise<Tenant> {
  requireSuperuser(authOf(ctx), 'create tenants');
  const b = parse(TenantCreate, input, { defaults: true });
  return await writeAdmin(ctx, async (w) => {
    const dup = await w.tx`SELECT id FROM tenants WHERE name = ${b.name}`;
    if (dup.length > 0) throw nameTaken(b.name);
    const [row] = await w.tx<TenantRow[]>`
      INSERT INTO tenants (id, name, created_at, updated_at) VALUES (${randomUUID()}, ${b.name}, ${w.now}, ${w.now}) RETURNING *`;
    const t = toTenant(row!);
    w.audit({ action: 'create', resource: 'tenants', id: t.id, after: t, tenantId: t.id });
    return withVersion(t, row!.version);
  });
}

/** Superusers see every tenant; others the tenants they have a role in. */
export async function listTenants(ctx: ServiceContext, opts?: ListOptions): Promise<Page<Tenant>> {
  const p = authOf(ctx).principal;
  const q = pageQuery(opts);
  const ids = [...p.roles.keys()];
  const rows = await ctx.sql<TenantRow[]>`
    SELECT * FROM tenants WHERE seq > ${q.after}
      ${p.superuser ? ctx.sql`` : ctx.sql`AND id = ANY(${ctx.sql.array(ids)}::uuid[])`}
      ${opts?.name !== undefined ? ctx.sql`AND name = ${opts.name}` : ctx.sql``}
    ORDER BY seq LIMIT ${q.limit + 1}`;
  return toPage(rows, q, toTenant);
}

export async function getTenant(ctx: ServiceContext, id: string): Promise<Tenant> {
  const tid = visibleTenant(ctx, id);
  authorize(authOf(ctx), 'tenants', 'read', tid);
  const [row] = await ctx.sql<TenantRow[]>`SELECT * FROM tenants WHERE id = ${tid}`;
  if (!row) throw notFound('tenant', id);
  return withVersion(toTenant(row), row.version);
}

export async function updateTenant(ctx: ServiceContext, id: string, input: unknown, _mode: 'patch' | 'replace' = 'patch', opts?: WriteOptions): Promise<Tenant> {
  const tid = visibleTenant(ctx, id);
  authorize(authOf(ctx), 'tenants', 'write', tid);
  const b = parse(TenantUpdate, input, { defaults: false });
  return await writeAdmin(ctx, async (w) => {
    const [cur] = await w.tx<TenantRow[]>`SELECT * FROM tenants WHERE id = ${tid} FOR UPDATE`;
    if (!cur) throw notFound('tenant', id);
    checkVersion(cur.version, opts, 'tenant', id);
    const name = b.name ?? cur.name;
    if (name !== cur.name) {
      if (tid === DEFAULT_TENANT_ID) throw new TurnpikeError('TP_ERR_UNPROCESSABLE', 'the default tenant cannot be renamed', [{ path: '/name', message: 'cannot be changed' }]);
      const dup = await w.tx`SELECT id FROM tenants WHERE name = ${name} AND id <> ${tid}`;
      if (dup.length > 0) throw nameTaken(name);
    }
    const [row] = await w.tx<TenantRow[]>`
      UPDATE tenants SET name = ${name}, updated_at = ${w.now}, version = version + 1 WHERE id = ${tid} RETURNING *`;
    const t = toTenant(row!);
    w.audit({ action: 'update', resource: 'tenants', id: tid, before: toTenant(cur), after: t, tenantId: tid });
    return withVersion(t, row!.version);
  });
}

/** Deletes an empty tenant with its memberships and tokens (409 while it still has configuration). */
export async function deleteTenant(ctx: ServiceContext, id: string, opts?: WriteOptions): Promise<void> {
  const tid = visibleTenant(ctx, id);
  authorize(authOf(ctx), 'tenants', 'write', tid);
  await writeAdmin(ctx, async (w) => {
    const [cur] = await w.tx<TenantRow[]>`SELECT * FROM tenants WHERE id = ${tid} FOR UPDATE`;
    if (!cur) throw notFound('tenant', id);
    checkVersion(cur.version, opts, 'tenant', id);
    if (tid === DEFAULT_TENANT_ID) throw new TurnpikeError('TP_ERR_UNPROCESSABLE', 'the default tenant cannot be deleted');
    const [used] = await w.tx<{ n: string }[]>`
      SELECT (SELECT count(*) FROM upstreams WHERE tenant_id = ${tid}) + (SELECT count(*) FROM services WHERE tenant_id = ${tid})
           + (SELECT count(*) FROM routes WHERE tenant_id = ${tid}) + (SELECT count(*) FROM consumers WHERE tenant_id = ${tid})
           + (SELECT count(*) FROM resources WHERE tenant_id = ${tid}) AS n`;
    if (Number(used!.n) > 0) throw new TurnpikeError('TP_ERR_IN_USE', `tenant ${JSON.stringify(cur.name)} still has ${used!.n} configuration entities; delete them first`);
    await w.tx`DELETE FROM tenants WHERE id = ${tid}`;
    w.audit({ action: 'delete', resource: 'tenants', id: tid, before: toTenant(cur), tenantId: tid });
  });
}
