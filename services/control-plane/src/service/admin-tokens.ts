// Admin API tokens: stored as SHA-256 only; checked by hash lookup plus a constant-time comparison. A
// token is a principal: a superuser (the bootstrap token), a user's token (acting with the user's roles)
// or a service token (one role in its tenant); optional scopes restrict it further, an optional expiry
// ends it. Tokens are listed and managed in their home tenant; a token can only create tokens with at
// most its own rights.
import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { TurnpikeError } from '@turnpike/common';
import { LOCK_BOOTSTRAP } from '../db/locks.js';
import { parse } from '../validation/validator.js';
import {
  DEFAULT_TENANT_ID,
  authorize,
  forbidden,
  roleIn,
  roleRank,
  scopesAllow,
  tenantNotFound,
  type AuthContext,
  type Principal,
  type Role,
  type Scope,
} from './access.js';
import { TokenCreate, type Token } from './admin-schemas.js';
import { iso } from './checks.js';
import { authOf, type ServiceContext } from './context.js';
import { notFound, requireId } from './ids.js';
import { pageQuery, toPage, type ListOptions, type Page } from './pagination.js';
import { writeAdmin } from './write.js';

function sha256(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}

export function generateAdminToken(): string {
  return `tpa_${randomBytes(32).toString('base64url')}`;
}

interface TokenRow {
  id: string;
  seq: string;
  name: string;
  token_sha256: string;
  tenant_id: string;
  user_id: string | null;
  role: Role | null;
  superuser: boolean;
  scopes: Scope[] | null;
  expires_at: Date | null;
  created_by: string | null;
  prefix: string;
  created_at: Date;
}

export function toToken(r: TokenRow): Token {
  return {
    id: r.id,
    name: r.name,
    tenant_id: r.tenant_id,
    user_id: r.user_id,
    role: r.role,
    superuser: r.superuser,
    scopes: r.scopes,
    expires_at: r.expires_at === null ? null : iso(r.expires_at),
    created_by: r.created_by,
    prefix: r.prefix,
    created_at: iso(r.created_at),
  };
}

/**
 * At first start (no token at all) creates the bootstrap token — `preferred` when given — and returns it
 * in clear, the only time it is ever visible. It is a superuser homed in the default tenant. Returns
 * undefined when tokens already exist.
 */
export async function ensureBootstrapToken(ctx: ServiceContext, preferred?: string): Promise<string | undefined> {
  return await ctx.sql.begin(async (tx) => {
    await tx`SELECT pg_advisory_xact_lock(${LOCK_BOOTSTRAP})`;
    const [row] = await tx<{ n: string }[]>`SELECT count(*) AS n FROM admin_tokens`;
    if (Number(row!.n) > 0) return undefined;
    const token = preferred && preferred.length > 0 ? preferred : generateAdminToken();
    await tx`INSERT INTO admin_tokens (id, name, token_sha256, tenant_id, superuser, prefix)
      VALUES (${randomUUID()}, 'bootstrap', ${sha256(token).toString('hex')}, ${DEFAULT_TENANT_ID}, true, ${token.slice(0, 8)})`;
    return token;
  });
}

/** Resolves a bearer token to its principal, or throws TP_ERR_AUTH_TOKEN_INVALID (unknown or expired). */
export async function authenticateAdminToken(ctx: ServiceContext, token: string): Promise<Principal> {
  const digest = sha256(token);
  const rows = await ctx.sql<(TokenRow & { expired: boolean })[]>`
    SELECT *, (expires_at IS NOT NULL AND expires_at <= now()) AS expired FROM admin_tokens WHERE token_sha256 = ${digest.toString('hex')}`;
  const row = rows[0];
  if (!row || !timingSafeEqual(Buffer.from(row.token_sha256, 'hex'), digest)) {
    throw new TurnpikeError('TP_ERR_AUTH_TOKEN_INVALID', 'the admin token is not valid');
  }
  if (row.expired) throw new TurnpikeError('TP_ERR_AUTH_TOKEN_INVALID', 'the admin token has expired');
  const roles = new Map<string, Role>();
  if (row.role !== null) roles.set(row.tenant_id, row.role);
  if (row.user_id !== null) {
    const ms = await ctx.sql<{ tenant_id: string; role: Role }[]>`SELECT tenant_id, role FROM memberships WHERE user_id = ${row.user_id}`;
    for (const m of ms) roles.set(m.tenant_id, m.role);
  }
  return { tokenId: row.id, userId: row.user_id, superuser: row.superuser, roles, scopes: row.scopes, expiresAt: row.expires_at, homeTenantId: row.tenant_id };
}

const TENANT_NAME = /^[a-zA-Z0-9][a-zA-Z0-9._-]{0,127}$/;

/**
 * The tenant a request addresses: by name, or when none is given the token's home tenant (the one it was
 * created in; the bootstrap token's is `default`). A tenant the principal has no role in is reported as
 * not found, exactly like one that does not exist.
 */
export async function resolveTenant(ctx: ServiceContext, principal: Principal, name: string | undefined): Promise<AuthContext> {
  const named = name !== undefined && name !== '';
  if (named && !TENANT_NAME.test(name)) {
    throw new TurnpikeError('TP_ERR_VALIDATION', 'X-Turnpike-Tenant must be a tenant name', [{ path: '/X-Turnpike-Tenant', message: 'must be a tenant name' }]);
  }
  const wanted = named ? name : principal.homeTenantId;
  const [row] = named
    ? await ctx.sql<{ id: string; name: string }[]>`SELECT id, name FROM tenants WHERE name = ${wanted}`
    : await ctx.sql<{ id: string; name: string }[]>`SELECT id, name FROM tenants WHERE id = ${wanted}`;
  if (!row || roleIn(principal, row.id) === null) throw tenantNotFound(wanted);
  return { principal, tenantId: row.id, tenantName: row.name };
}

/** Parses an `Authorization: Bearer <token>` value (REST header or gRPC metadata). */
export function bearerToken(header: string | undefined): string {
  if (!header) throw new TurnpikeError('TP_ERR_AUTH_REQUIRED', 'an admin token is required: Authorization: Bearer <token>');
  const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
  if (!m) throw new TurnpikeError('TP_ERR_AUTH_TOKEN_INVALID', 'the Authorization header must be "Bearer <token>"');
  return m[1]!;
}

/** Whether a scope asked for a new token stays within the creator's scopes. */
function scopeCovered(creator: readonly Scope[] | null, s: Scope): boolean {
  if (creator === null) return true;
  if (s.resource === '*') return creator.some((c) => c.resource === '*' && (c.access === 'write' || s.access === 'read'));
  return scopesAllow(creator, s.resource, s.access);
}

/** Creates a token in the request's tenant; the response is the only time its clear value is shown. */
export async function createAdminToken(ctx: ServiceContext, input: unknown): Promise<Token & { token: string }> {
  const auth = authOf(ctx);
  const t = authorize(auth, 'tokens', 'write');
  const b = parse(TokenCreate, input, { defaults: true });
  const me = auth.principal;
  const kinds = [b.role !== undefined, b.user_id !== undefined, b.superuser === true].filter(Boolean).length;
  if (kinds !== 1) {
    throw new TurnpikeError('TP_ERR_VALIDATION', 'give exactly one of role, user_id or superuser: true', [
      { path: '/role', message: 'exactly one of role, user_id or superuser: true is required' },
    ]);
  }
  // No token may create a token with more rights than its own.
  if (b.superuser === true && !me.superuser) throw new TurnpikeError('TP_ERR_FORBIDDEN', 'only a superuser token may create superuser tokens');
  if (b.role !== undefined && roleRank(b.role) > roleRank(roleIn(me, t))) {
    throw new TurnpikeError('TP_ERR_FORBIDDEN', `this admin token may not create a token with role ${b.role} (above its own)`);
  }
  const userId = b.user_id?.toLowerCase() ?? null;
  if (userId !== null && !me.superuser && me.userId !== userId) {
    throw new TurnpikeError('TP_ERR_FORBIDDEN', "only a superuser or the user's own token may create tokens for a user");
  }
  const scopes: Scope[] | null = b.scopes ?? (me.scopes === null ? null : [...me.scopes]);
  if (scopes !== null && scopes.some((s) => !scopeCovered(me.scopes, s))) {
    throw new TurnpikeError('TP_ERR_FORBIDDEN', 'a scope of the new token exceeds the scopes of this admin token');
  }
  let expiresAt: Date | null = b.expires_at === undefined ? null : new Date(b.expires_at);
  if (expiresAt !== null && (Number.isNaN(expiresAt.getTime()) || expiresAt.getTime() <= Date.now())) {
    throw new TurnpikeError('TP_ERR_VALIDATION', 'expires_at must be a future date-time', [{ path: '/expires_at', message: 'must be in the future' }]);
  }
  if (me.expiresAt !== null) {
    if (expiresAt !== null && expiresAt > me.expiresAt) throw new TurnpikeError('TP_ERR_FORBIDDEN', 'a token may not outlive the admin token that creates it');
    expiresAt ??= me.expiresAt;
  }
  const token = generateAdminToken();
  return await writeAdmin(ctx, async (w) => {
    if (userId !== null) {
      const u = await w.tx`SELECT id FROM users WHERE id = ${userId} FOR KEY SHARE`;
      if (u.length === 0) {
        throw new TurnpikeError('TP_ERR_UNPROCESSABLE', `user_id refers to user ${JSON.stringify(userId)}, which does not exist`, [
          { path: '/user_id', message: 'user does not exist' },
        ]);
      }
    }
    const [row] = await w.tx<TokenRow[]>`
      INSERT INTO admin_tokens (id, name, token_sha256, tenant_id, user_id, role, superuser, scopes, expires_at, created_by, prefix, created_at)
      VALUES (${randomUUID()}, ${b.name}, ${sha256(token).toString('hex')}, ${t}, ${userId}, ${b.role ?? null}, ${b.superuser === true},
              ${scopes === null ? null : w.tx.json(scopes as never)}, ${expiresAt}, ${me.tokenId}, ${token.slice(0, 8)}, ${w.now})
      RETURNING *`;
    const out = toToken(row!);
    w.audit({ action: 'create', resource: 'tokens', id: out.id, after: out });
    return { ...out, token };
  });
}

export async function listAdminTokens(ctx: ServiceContext, opts?: ListOptions): Promise<Page<Token>> {
  const t = authorize(authOf(ctx), 'tokens', 'read');
  const q = pageQuery(opts);
  const rows = await ctx.sql<TokenRow[]>`
    SELECT * FROM admin_tokens WHERE tenant_id = ${t} AND seq > ${q.after}
      ${opts?.name !== undefined ? ctx.sql`AND name = ${opts.name}` : ctx.sql``}
    ORDER BY seq LIMIT ${q.limit + 1}`;
  return toPage(rows, q, toToken);
}

export async function getAdminToken(ctx: ServiceContext, id: string): Promise<Token> {
  const t = authorize(authOf(ctx), 'tokens', 'read');
  const tid = requireId('admin token', id);
  const [row] = await ctx.sql<TokenRow[]>`SELECT * FROM admin_tokens WHERE id = ${tid} AND tenant_id = ${t}`;
  if (!row) throw notFound('admin token', id);
  return toToken(row);
}

/** Revokes (deletes) a token of the tenant; a token with more rights than the caller's cannot be revoked by it. */
export async function revokeAdminToken(ctx: ServiceContext, id: string): Promise<void> {
  const auth = authOf(ctx);
  const t = authorize(auth, 'tokens', 'write');
  const tid = requireId('admin token', id);
  await writeAdmin(ctx, async (w) => {
    const [row] = await w.tx<TokenRow[]>`SELECT * FROM admin_tokens WHERE id = ${tid} AND tenant_id = ${t} FOR UPDATE`;
    if (!row) throw notFound('admin token', id);
    const me = auth.principal;
    if (row.id !== me.tokenId) {
      if (row.superuser && !me.superuser) throw forbidden('superuser tokens', 'write');
      if (row.role !== null && roleRank(row.role) > roleRank(roleIn(me, t))) throw forbidden(`${row.role} tokens`, 'write');
    }
    await w.tx`DELETE FROM admin_tokens WHERE id = ${tid}`;
    w.audit({ action: 'delete', resource: 'tokens', id: tid, before: toToken(row) });
  });
}
