// Developer accounts and their sessions. An account belongs to one tenant and is a consumer there (its id is
// the consumer's id): sign-up creates the consumer through the service layer (published to the gateways,
// audited), then the account. Sign-in checks the scrypt hash in constant time and bounds failed attempts:
// after MAX_FAILED in a row the account is locked for a while and sign-in answers 429 without looking at the
// password. A session token is random; only its SHA-256 is stored, with an expiry; sign-out deletes it.
import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { TurnpikeError } from '@turnpike/common';
import { DEFAULT_TENANT_NAME, tenantNotFound, type AuthContext, type Principal } from '../service/access.js';
import type { ServiceContext } from '../service/context.js';
import { createConsumer, deleteConsumer } from '../service/consumers.js';
import { parse } from '../validation/validator.js';
import { hashPassword, verifyNothing, verifyPassword } from './passwords.js';
import { SignIn, SignUp } from './schemas.js';
import { readPortalSettings } from './settings.js';

export interface PortalPolicy {
  /** How long a session lasts (default 12 h). */
  sessionTtlMs: number;
  /** Failed sign-ins in a row that lock the account (default 5). */
  maxFailedSignins: number;
  /** How long the lock lasts (default 15 min); each further lot of failures doubles it, up to a day. */
  lockoutMs: number;
}

export const DEFAULT_POLICY: PortalPolicy = { sessionTtlMs: 12 * 3600_000, maxFailedSignins: 5, lockoutMs: 15 * 60_000 };

export interface Developer {
  /** The developer's consumer id. */
  id: string;
  email: string;
  display_name: string;
  tenant: string;
  username: string;
  created_at: string;
}

export interface PortalTenant {
  id: string;
  name: string;
}

export interface DeveloperSession {
  sessionId: string;
  consumerId: string;
  tenant: PortalTenant;
  expiresAt: Date;
}

const TENANT_NAME = /^[a-zA-Z0-9][a-zA-Z0-9._-]{0,127}$/;

/** The tenant a portal request addresses by name (`?tenant=` or X-Turnpike-Tenant; default `default`). */
export async function resolvePortalTenant(ctx: ServiceContext, name: string | undefined): Promise<PortalTenant> {
  const wanted = name === undefined || name === '' ? DEFAULT_TENANT_NAME : name;
  if (!TENANT_NAME.test(wanted)) throw new TurnpikeError('TP_ERR_VALIDATION', 'tenant must be a tenant name', [{ path: '/tenant', message: 'must be a tenant name' }]);
  const [row] = await ctx.sql<PortalTenant[]>`SELECT id, name FROM tenants WHERE name = ${wanted}`;
  if (!row) throw tenantNotFound(wanted);
  return row;
}

function sha256Hex(s: string): string {
  return createHash('sha256').update(s, 'utf8').digest('hex');
}

interface DeveloperRow {
  consumer_id: string;
  tenant_id: string;
  email: string;
  display_name: string;
  password_params: string;
  password_salt: Buffer;
  password_hash: Buffer;
  failed_signins: number;
  locked_until: Date | null;
  created_at: Date;
  username: string;
}

function toDeveloper(r: DeveloperRow, tenant: string): Developer {
  return { id: r.consumer_id, email: r.email, display_name: r.display_name, tenant, username: r.username, created_at: r.created_at.toISOString() };
}

/** The rights a developer acts with through the service layer: an editor limited by scopes to what the portal does. */
export function developerAuth(s: DeveloperSession): AuthContext {
  const principal: Principal = {
    // Audit rows of portal writes name the session as the token and the developer (consumer id) as the user.
    tokenId: s.sessionId,
    userId: s.consumerId,
    superuser: false,
    roles: new Map([[s.tenant.id, 'editor']]),
    scopes: [
      { resource: 'keys', access: 'write' },
      { resource: 'subscriptions', access: 'write' },
      { resource: 'consumers', access: 'read' },
      { resource: 'analytics', access: 'read' },
    ],
    expiresAt: s.expiresAt,
    homeTenantId: s.tenant.id,
  };
  return { principal, tenantId: s.tenant.id, tenantName: s.tenant.name };
}

/** Sign-up has no developer yet: the consumer is created by a principal that may only write consumers. */
function signUpAuth(tenant: PortalTenant): AuthContext {
  return {
    principal: {
      tokenId: '00000000-0000-0000-0000-000000000000',
      userId: null,
      superuser: false,
      roles: new Map([[tenant.id, 'editor']]),
      scopes: [{ resource: 'consumers', access: 'write' }],
      expiresAt: null,
      homeTenantId: tenant.id,
    },
    tenantId: tenant.id,
    tenantName: tenant.name,
  };
}

function emailTaken(): TurnpikeError {
  return new TurnpikeError('TP_ERR_CONFLICT', 'an account with this email already exists', [{ path: '/email', message: 'is already registered' }]);
}

/** A consumer username from the email's local part (usernames allow no `@`), made unique by a random suffix. */
function usernameFor(email: string): string {
  const local = email.split('@')[0]!.replace(/[^a-zA-Z0-9._-]/g, '-').slice(0, 40);
  return `dev-${local}-${randomBytes(3).toString('hex')}`;
}

export interface SessionIssued {
  developer: Developer;
  token: string;
  expires_at: string;
}

async function issueSession(ctx: ServiceContext, consumerId: string, policy: PortalPolicy): Promise<{ token: string; expiresAt: Date }> {
  const token = `tps_${randomBytes(32).toString('base64url')}`;
  const expiresAt = new Date(Date.now() + policy.sessionTtlMs);
  await ctx.sql`INSERT INTO developer_sessions (id, consumer_id, token_sha256, expires_at) VALUES (${randomUUID()}, ${consumerId}, ${sha256Hex(token)}, ${expiresAt})`;
  // Housekeeping: the account's expired sessions go when it gets a new one.
  await ctx.sql`DELETE FROM developer_sessions WHERE consumer_id = ${consumerId} AND expires_at <= now()`;
  return { token, expiresAt };
}

async function loadDeveloper(ctx: ServiceContext, tenantId: string, where: { email?: string; consumerId?: string }): Promise<DeveloperRow | undefined> {
  const [row] = await ctx.sql<DeveloperRow[]>`
    SELECT d.*, c.username FROM developers d JOIN consumers c ON c.id = d.consumer_id
     WHERE d.tenant_id = ${tenantId}
       ${where.email !== undefined ? ctx.sql`AND d.email = ${where.email}` : ctx.sql``}
       ${where.consumerId !== undefined ? ctx.sql`AND d.consumer_id = ${where.consumerId}` : ctx.sql``}`;
  return row;
}

export async function signUp(ctx: ServiceContext, tenant: PortalTenant, input: unknown, policy: PortalPolicy): Promise<SessionIssued> {
  const settings = await readPortalSettings(ctx.sql, tenant.id, null);
  if (settings.signup !== 'open') throw new TurnpikeError('TP_ERR_PORTAL_SIGNUP_CLOSED', `tenant ${tenant.name} does not allow self sign-up; ask its operators for an account`);
  const b = parse(SignUp, input, { defaults: true });
  const email = b.email.toLowerCase();
  if (await loadDeveloper(ctx, tenant.id, { email })) throw emailTaken();
  const pw = await hashPassword(b.password);
  const sctx: ServiceContext = { ...ctx, auth: signUpAuth(tenant) };
  let consumer;
  try {
    consumer = await createConsumer(sctx, { username: usernameFor(email), custom_id: `portal:${email}`, tags: ['portal'] });
  } catch (err) {
    // The custom id is the email's: taken means an account (or an operator's consumer) claims it.
    if (err instanceof TurnpikeError && err.code === 'TP_ERR_CONFLICT') throw emailTaken();
    throw err;
  }
  try {
    await ctx.sql`INSERT INTO developers (consumer_id, tenant_id, email, display_name, password_params, password_salt, password_hash)
      VALUES (${consumer.id}, ${tenant.id}, ${email}, ${b.display_name.trim()}, ${pw.params}, ${pw.salt}, ${pw.hash})`;
  } catch (err) {
    // Two sign-ups with one email racing: the loser's consumer goes again (published and audited as a delete).
    await deleteConsumer(sctx, consumer.id).catch(() => undefined);
    if ((err as { code?: string }).code === '23505') throw emailTaken();
    throw err;
  }
  const row = (await loadDeveloper(ctx, tenant.id, { consumerId: consumer.id }))!;
  const s = await issueSession(ctx, consumer.id, policy);
  return { developer: toDeveloper(row, tenant.name), token: s.token, expires_at: s.expiresAt.toISOString() };
}

function signInFailed(): TurnpikeError {
  return new TurnpikeError('TP_ERR_PORTAL_SIGNIN_FAILED', 'wrong email or password');
}

export class AccountLocked extends TurnpikeError {
  constructor(readonly retryAfterSeconds: number) {
    super('TP_ERR_PORTAL_ACCOUNT_LOCKED', `too many failed sign-ins: try again in ${retryAfterSeconds} s`);
  }
}

function lockMs(failures: number, policy: PortalPolicy): number {
  const lots = Math.floor(failures / policy.maxFailedSignins) - 1;
  return Math.min(24 * 3600_000, policy.lockoutMs * 2 ** Math.max(0, Math.min(lots, 10)));
}

export async function signIn(ctx: ServiceContext, tenant: PortalTenant, input: unknown, policy: PortalPolicy): Promise<SessionIssued> {
  const b = parse(SignIn, input, { defaults: true });
  const email = b.email.toLowerCase();
  const row = await loadDeveloper(ctx, tenant.id, { email });
  if (!row) {
    await verifyNothing(b.password);
    throw signInFailed();
  }
  const now = Date.now();
  if (row.locked_until && row.locked_until.getTime() > now) throw new AccountLocked(Math.ceil((row.locked_until.getTime() - now) / 1000));
  const ok = await verifyPassword(b.password, { params: row.password_params, salt: row.password_salt, hash: row.password_hash });
  if (!ok) {
    // Counted atomically: parallel guesses each count.
    const [after] = await ctx.sql<{ failed_signins: number }[]>`
      UPDATE developers SET failed_signins = failed_signins + 1 WHERE consumer_id = ${row.consumer_id} RETURNING failed_signins`;
    const failures = after?.failed_signins ?? 0;
    if (failures >= policy.maxFailedSignins && failures % policy.maxFailedSignins === 0) {
      const ms = lockMs(failures, policy);
      await ctx.sql`UPDATE developers SET locked_until = ${new Date(now + ms)} WHERE consumer_id = ${row.consumer_id}`;
    }
    throw signInFailed();
  }
  await ctx.sql`UPDATE developers SET failed_signins = 0, locked_until = NULL WHERE consumer_id = ${row.consumer_id}`;
  const s = await issueSession(ctx, row.consumer_id, policy);
  return { developer: toDeveloper(row, tenant.name), token: s.token, expires_at: s.expiresAt.toISOString() };
}

/** `Authorization: Bearer tps_...` → the session, or TP_ERR_PORTAL_SESSION_INVALID (missing, unknown, expired, signed out). */
export async function authenticateSession(ctx: ServiceContext, header: string | undefined): Promise<DeveloperSession> {
  const m = header ? /^Bearer[ \t]+(tps_[A-Za-z0-9_-]{1,128})[ \t]*$/i.exec(header) : null;
  if (!m) throw new TurnpikeError('TP_ERR_PORTAL_SESSION_INVALID', 'sign in first: Authorization: Bearer <session token>');
  const digest = sha256Hex(m[1]!);
  const [row] = await ctx.sql<{ id: string; consumer_id: string; token_sha256: string; expires_at: Date; tenant_id: string; tenant_name: string }[]>`
    SELECT s.id, s.consumer_id, s.token_sha256, s.expires_at, d.tenant_id, t.name AS tenant_name
      FROM developer_sessions s JOIN developers d ON d.consumer_id = s.consumer_id JOIN tenants t ON t.id = d.tenant_id
     WHERE s.token_sha256 = ${digest}`;
  if (!row || !timingSafeEqual(Buffer.from(row.token_sha256, 'hex'), Buffer.from(digest, 'hex')) || row.expires_at.getTime() <= Date.now()) {
    throw new TurnpikeError('TP_ERR_PORTAL_SESSION_INVALID', 'the session is not valid (expired or signed out): sign in again');
  }
  return { sessionId: row.id, consumerId: row.consumer_id, tenant: { id: row.tenant_id, name: row.tenant_name }, expiresAt: row.expires_at };
}

export async function signOut(ctx: ServiceContext, s: DeveloperSession): Promise<void> {
  await ctx.sql`DELETE FROM developer_sessions WHERE id = ${s.sessionId}`;
}

export async function getDeveloper(ctx: ServiceContext, s: DeveloperSession): Promise<Developer> {
  const row = await loadDeveloper(ctx, s.tenant.id, { consumerId: s.consumerId });
  if (!row) throw new TurnpikeError('TP_ERR_PORTAL_SESSION_INVALID', 'the account no longer exists');
  return toDeveloper(row, s.tenant.name);
}

/** Operators' view (GET /v1/portal/developers): the tenant's accounts, without secrets. */
export async function listDevelopers(ctx: ServiceContext, tenant: PortalTenant): Promise<{ data: Array<Developer & { locked_until: string | null }> }> {
  const rows = await ctx.sql<DeveloperRow[]>`
    SELECT d.*, c.username FROM developers d JOIN consumers c ON c.id = d.consumer_id WHERE d.tenant_id = ${tenant.id} ORDER BY d.seq LIMIT 1000`;
  return { data: rows.map((r) => ({ ...toDeveloper(r, tenant.name), locked_until: r.locked_until && r.locked_until.getTime() > Date.now() ? r.locked_until.toISOString() : null })) };
}
