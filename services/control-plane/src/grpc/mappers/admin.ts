// Proto ↔ service-layer shapes of the tenancy/RBAC services (tenants, members, users, admin tokens, audit log).
import type { Member, Tenant, Token, User } from '../../service/admin-schemas.js';
import type { AuditEntry } from '../../service/audit.js';
import { versioned, type ProtoObject } from './input-mask.js';

export function tenantToProto(t: Tenant): ProtoObject {
  return versioned(t, { ...t });
}

/** UpdateTenantRequest.tenant → the PATCH body: a name only when one is set (proto3 '' means unset). */
export function tenantUpdateFromProto(input: ProtoObject | undefined): ProtoObject {
  const name = input?.name;
  return typeof name === 'string' && name !== '' ? { name } : {};
}

export function userToProto(u: User): ProtoObject {
  return { id: u.id, name: u.name, created_at: u.created_at };
}

export function memberToProto(m: Member): ProtoObject {
  return { user_id: m.user_id, user_name: m.user_name, tenant_id: m.tenant_id, role: m.role, created_at: m.created_at };
}

/** PutMemberRequest → the PUT body; an unset role stays absent so validation names /role. */
export function memberPutFromProto(req: ProtoObject): ProtoObject {
  return typeof req.role === 'string' && req.role !== '' ? { role: req.role } : {};
}

/** Null fields become unset (proto3 strings); the clear token only where the service returned it. */
export function tokenToProto(t: Token & { token?: string }): ProtoObject {
  const out: ProtoObject = { id: t.id, name: t.name, tenant_id: t.tenant_id, superuser: t.superuser, scopes: t.scopes ?? [], prefix: t.prefix, created_at: t.created_at };
  if (t.user_id !== null) out.user_id = t.user_id;
  if (t.role !== null) out.role = t.role;
  if (t.expires_at !== null) out.expires_at = t.expires_at;
  if (t.created_by !== null) out.created_by = t.created_by;
  if (t.token !== undefined) out.token = t.token;
  return out;
}

/** CreateTokenRequest → the REST body (unset and proto3 zero values dropped). */
export function tokenCreateFromProto(req: ProtoObject): ProtoObject {
  const out: ProtoObject = { name: req.name ?? '' };
  for (const k of ['role', 'user_id', 'expires_at'] as const) if (req[k] !== undefined) out[k] = req[k];
  if (req.superuser === true) out.superuser = true;
  if (Array.isArray(req.scopes) && req.scopes.length > 0) out.scopes = req.scopes;
  return out;
}

export function auditToProto(e: AuditEntry): ProtoObject {
  const out: ProtoObject = { id: e.id, at: e.at, action: e.action, resource_type: e.resource_type, resource_id: e.resource_id };
  if (e.tenant_id !== null) out.tenant_id = e.tenant_id;
  if (e.actor_token_id !== null) out.actor_token_id = e.actor_token_id;
  if (e.actor_user_id !== null) out.actor_user_id = e.actor_user_id;
  if (e.before !== null) out.before_json = JSON.stringify(e.before);
  if (e.after !== null) out.after_json = JSON.stringify(e.after);
  if (e.request_id !== null) out.request_id = e.request_id;
  return out;
}

/** ListAuditRequest → the query parameters of GET /v1/audit (proto3 zero values mean unset). */
export function auditQueryFromProto(req: ProtoObject): Record<string, string> {
  const q: Record<string, string> = {};
  for (const k of ['from', 'to', 'actor', 'resource_type', 'resource_id', 'action', 'cursor'] as const) {
    const v = req[k];
    if (typeof v === 'string' && v !== '') q[k] = v;
  }
  if (typeof req.limit === 'number' && req.limit !== 0) q.limit = String(req.limit);
  return q;
}
