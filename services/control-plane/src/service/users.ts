// Users and their roles per tenant (memberships). Superusers create and delete users; a tenant's admins
// assign roles in it, never above their own role, and never change the role of someone above them.
import { randomUUID } from 'node:crypto';
import { TurnpikeError } from '@turnpike/common';
import { parse } from '../validation/validator.js';
import { authorize, requireSuperuser, roleIn, roleRank, type Role } from './access.js';
import { MemberPut, UserCreate, type Member, type User } from './admin-schemas.js';
import { iso } from './checks.js';
import { authOf, type ServiceContext } from './context.js';
import { notFound, requireId } from './ids.js';
import { pageQuery, toPage, type ListOptions, type Page } from './pagination.js';
import { writeAdmin } from './write.js';

interface UserRow {
  id: string;
  seq: string;
  name: string;
  created_at: Date;
}

interface MemberRow {
  seq: string;
  user_id: string;
  user_name: string;
  tenant_id: string;
  role: Role;
  created_at: Date;
}

function toUser(r: UserRow): User {
  return { id: r.id, name: r.name, created_at: iso(r.created_at) };
}

function toMember(r: MemberRow): Member {
  return { user_id: r.user_id, user_name: r.user_name, tenant_id: r.tenant_id, role: r.role, created_at: iso(r.created_at) };
}

export async function createUser(ctx: ServiceContext, input: unknown): Promise<User> {
  requireSuperuser(authOf(ctx), 'create users');
  const b = parse(UserCreate, input, { defaults: true });
  return await writeAdmin(ctx, async (w) => {
    const dup = await w.tx`SELECT id FROM users WHERE name = ${b.name}`;
    if (dup.length > 0) throw new TurnpikeError('TP_ERR_CONFLICT', `user with name ${JSON.stringify(b.name)} already exists`, [{ path: '/name', message: 'is already taken' }]);
    const [row] = await w.tx<UserRow[]>`INSERT INTO users (id, name, created_at) VALUES (${randomUUID()}, ${b.name}, ${w.now}) RETURNING *`;
    const u = toUser(row!);
    w.audit({ action: 'create', resource: 'users', id: u.id, after: u, tenantId: null });
    return u;
  });
}

/** Superusers see every user; others the members of the request's tenant. */
export async function listUsers(ctx: ServiceContext, opts?: ListOptions): Promise<Page<User>> {
  const auth = authOf(ctx);
  const q = pageQuery(opts);
  if (!auth.principal.superuser) authorize(auth, 'members', 'read');
  const rows = await ctx.sql<UserRow[]>`
    SELECT * FROM users u WHERE seq > ${q.after}
      ${auth.principal.superuser ? ctx.sql`` : ctx.sql`AND EXISTS (SELECT 1 FROM memberships m WHERE m.user_id = u.id AND m.tenant_id = ${auth.tenantId})`}
      ${opts?.name !== undefined ? ctx.sql`AND name = ${opts.name}` : ctx.sql``}
    ORDER BY seq LIMIT ${q.limit + 1}`;
  return toPage(rows, q, toUser);
}

export async function getUser(ctx: ServiceContext, id: string): Promise<User> {
  const auth = authOf(ctx);
  const uid = requireId('user', id);
  if (!auth.principal.superuser) authorize(auth, 'members', 'read');
  const [row] = await ctx.sql<UserRow[]>`
    SELECT * FROM users u WHERE id = ${uid}
      ${auth.principal.superuser ? ctx.sql`` : ctx.sql`AND EXISTS (SELECT 1 FROM memberships m WHERE m.user_id = u.id AND m.tenant_id = ${auth.tenantId})`}`;
  if (!row) throw notFound('user', id);
  return toUser(row);
}

/** Deletes a user with its memberships and tokens. */
export async function deleteUser(ctx: ServiceContext, id: string): Promise<void> {
  requireSuperuser(authOf(ctx), 'delete users');
  const uid = requireId('user', id);
  await writeAdmin(ctx, async (w) => {
    const [row] = await w.tx<UserRow[]>`SELECT * FROM users WHERE id = ${uid} FOR UPDATE`;
    if (!row) throw notFound('user', id);
    await w.tx`DELETE FROM users WHERE id = ${uid}`;
    w.audit({ action: 'delete', resource: 'users', id: uid, before: toUser(row), tenantId: null });
  });
}

function tenantFor(ctx: ServiceContext, tenantId: string, access: 'read' | 'write'): string {
  const tid = requireId('tenant', tenantId);
  if (roleIn(authOf(ctx).principal, tid) === null) throw notFound('tenant', tenantId);
  return authorize(authOf(ctx), 'members', access, tid);
}

export async function listMembers(ctx: ServiceContext, tenantId: string, opts?: ListOptions): Promise<Page<Member>> {
  const tid = tenantFor(ctx, tenantId, 'read');
  const q = pageQuery(opts);
  const rows = await ctx.sql<MemberRow[]>`
    SELECT u.seq, m.user_id, u.name AS user_name, m.tenant_id, m.role, m.created_at
    FROM memberships m JOIN users u ON u.id = m.user_id
    WHERE m.tenant_id = ${tid} AND u.seq > ${q.after} ORDER BY u.seq LIMIT ${q.limit + 1}`;
  return toPage(rows, q, toMember);
}

/** Gives a user a role in the tenant (PUT: creates or changes the membership). */
export async function putMember(ctx: ServiceContext, tenantId: string, userId: string, input: unknown): Promise<Member> {
  const tid = tenantFor(ctx, tenantId, 'write');
  const uid = requireId('user', userId);
  const b = parse(MemberPut, input, { defaults: true });
  const mine = roleIn(authOf(ctx).principal, tid);
  if (roleRank(b.role) > roleRank(mine)) throw new TurnpikeError('TP_ERR_FORBIDDEN', `this admin token may not grant the role ${b.role} (above its own)`);
  return await writeAdmin(ctx, async (w) => {
    const [u] = await w.tx<UserRow[]>`SELECT * FROM users WHERE id = ${uid} FOR KEY SHARE`;
    if (!u) throw notFound('user', userId);
    const [cur] = await w.tx<MemberRow[]>`
      SELECT u.seq, m.user_id, u.name AS user_name, m.tenant_id, m.role, m.created_at FROM memberships m JOIN users u ON u.id = m.user_id
      WHERE m.user_id = ${uid} AND m.tenant_id = ${tid} FOR UPDATE OF m`;
    if (cur && roleRank(cur.role) > roleRank(mine)) throw new TurnpikeError('TP_ERR_FORBIDDEN', `this admin token may not change the role of a ${cur.role}`);
    await w.tx`INSERT INTO memberships (user_id, tenant_id, role, created_at) VALUES (${uid}, ${tid}, ${b.role}, ${w.now})
      ON CONFLICT (user_id, tenant_id) DO UPDATE SET role = EXCLUDED.role`;
    const after: Member = { user_id: uid, user_name: u.name, tenant_id: tid, role: b.role, created_at: cur ? iso(cur.created_at) : iso(w.now) };
    w.audit({ action: cur ? 'update' : 'create', resource: 'members', id: uid, before: cur ? toMember(cur) : null, after, tenantId: tid });
    return after;
  });
}

export async function deleteMember(ctx: ServiceContext, tenantId: string, userId: string): Promise<void> {
  const tid = tenantFor(ctx, tenantId, 'write');
  const uid = requireId('user', userId);
  const mine = roleIn(authOf(ctx).principal, tid);
  await writeAdmin(ctx, async (w) => {
    const [cur] = await w.tx<MemberRow[]>`
      SELECT u.seq, m.user_id, u.name AS user_name, m.tenant_id, m.role, m.created_at FROM memberships m JOIN users u ON u.id = m.user_id
      WHERE m.user_id = ${uid} AND m.tenant_id = ${tid} FOR UPDATE OF m`;
    if (!cur) throw notFound('member', userId);
    if (roleRank(cur.role) > roleRank(mine)) throw new TurnpikeError('TP_ERR_FORBIDDEN', `this admin token may not remove a ${cur.role}`);
    await w.tx`DELETE FROM memberships WHERE user_id = ${uid} AND tenant_id = ${tid}`;
    w.audit({ action: 'delete', resource: 'members', id: uid, before: toMember(cur), tenantId: tid });
  });
}
