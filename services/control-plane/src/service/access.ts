// Who is calling and what they may do: the principal an admin token stands for, the tenant a request
// addresses, and authorize() — the one place where roles and scopes are checked.
//
// Roles are per tenant: viewer (read), editor (+ write configuration), admin (+ tokens and members),
// owner (+ the tenant itself). A superuser (the bootstrap token) holds every right in every tenant and
// creates tenants and users. A token's scopes, when set, further restrict what its role allows.
// An object of a tenant the caller has no role in is reported as not found, never as forbidden.
import { CORE_ENTITY_KINDS, RESOURCE_KINDS, TurnpikeError, type ResourceKind } from '@turnpike/common';

export const ROLES = ['viewer', 'editor', 'admin', 'owner'] as const;
export type Role = (typeof ROLES)[number];

/**
 * What scopes and roles are about: every kind of configuration, then the admin-only resources. Not
 * `openapi_docs`: the data plane's copy of a service's document, read and written as part of its service.
 */
const CONFIG_KINDS = RESOURCE_KINDS.filter((k): k is ResourceKind => k !== 'openapi_docs');
export const SCOPE_RESOURCES = [...CORE_ENTITY_KINDS, ...CONFIG_KINDS, 'analytics', 'tenants', 'members', 'tokens', 'audit', '*'] as const;
export type ScopeResource = (typeof SCOPE_RESOURCES)[number];
export type Resource = Exclude<ScopeResource, '*'>;
export type Access = 'read' | 'write';

export interface Scope {
  resource: ScopeResource;
  access: Access;
}

export const DEFAULT_TENANT_ID = '00000000-0000-4000-8000-000000000001';
export const DEFAULT_TENANT_NAME = 'default';

export interface Principal {
  tokenId: string;
  userId: string | null;
  superuser: boolean;
  /** Role per tenant id (a service token: its one tenant; a user token: the user's memberships). */
  roles: ReadonlyMap<string, Role>;
  /** null: not restricted by scopes. */
  scopes: readonly Scope[] | null;
  expiresAt: Date | null;
  /** The tenant the token was created in: addressed when a request names none. */
  homeTenantId: string;
}

/** A request's caller and the tenant it addresses (REST `X-Turnpike-Tenant`, gRPC `x-turnpike-tenant`). */
export interface AuthContext {
  principal: Principal;
  tenantId: string;
  tenantName: string;
}

/** Used when a service function runs without a request (library use): the default tenant, every right. */
export const SYSTEM_AUTH: AuthContext = {
  principal: { tokenId: '00000000-0000-0000-0000-000000000000', userId: null, superuser: true, roles: new Map(), scopes: null, expiresAt: null, homeTenantId: '00000000-0000-4000-8000-000000000001' },
  tenantId: DEFAULT_TENANT_ID,
  tenantName: DEFAULT_TENANT_NAME,
};

const RANK: Record<Role, number> = { viewer: 1, editor: 2, admin: 3, owner: 4 };

export function roleRank(r: Role | null): number {
  return r === null ? 0 : RANK[r];
}

/** The least role that may do `access` on `resource` in a tenant. */
const NEEDS: Record<Resource, Record<Access, Role>> = {
  upstreams: { read: 'viewer', write: 'editor' },
  services: { read: 'viewer', write: 'editor' },
  routes: { read: 'viewer', write: 'editor' },
  consumers: { read: 'viewer', write: 'editor' },
  keys: { read: 'viewer', write: 'editor' },
  consumer_groups: { read: 'viewer', write: 'editor' },
  credentials: { read: 'viewer', write: 'editor' },
  plans: { read: 'viewer', write: 'editor' },
  // Requesting is an editor's write; deciding (approve/reject/revoke) needs admin (see the actions).
  subscriptions: { read: 'viewer', write: 'editor' },
  plugins: { read: 'viewer', write: 'editor' },
  ai_providers: { read: 'viewer', write: 'editor' },
  prompt_templates: { read: 'viewer', write: 'editor' },
  // A spending ceiling is not raised by the editors whose keys it constrains: admins set budgets.
  ai_budgets: { read: 'viewer', write: 'admin' },
  certificates: { read: 'viewer', write: 'editor' },
  analytics: { read: 'viewer', write: 'owner' },
  tenants: { read: 'viewer', write: 'owner' },
  members: { read: 'viewer', write: 'admin' },
  tokens: { read: 'admin', write: 'admin' },
  audit: { read: 'admin', write: 'owner' },
};

export function requiredRole(resource: Resource, access: Access): Role {
  return NEEDS[resource][access];
}

/** The caller's role in a tenant: a superuser acts as owner everywhere; null means none (the tenant is invisible). */
export function roleIn(p: Principal, tenantId: string): Role | null {
  if (p.superuser) return 'owner';
  return p.roles.get(tenantId) ?? null;
}

/** Whether the scopes (null: unrestricted) allow `access` on `resource`; write implies read. */
export function scopesAllow(scopes: readonly Scope[] | null, resource: Resource, access: Access): boolean {
  if (scopes === null) return true;
  return scopes.some((s) => (s.resource === '*' || s.resource === resource) && (s.access === 'write' || access === 'read'));
}

export function mayIn(p: Principal, tenantId: string, resource: Resource, access: Access): boolean {
  const role = roleIn(p, tenantId);
  return role !== null && roleRank(role) >= roleRank(requiredRole(resource, access)) && scopesAllow(p.scopes, resource, access);
}

export function forbidden(resource: string, access: Access): TurnpikeError {
  return new TurnpikeError('TP_ERR_FORBIDDEN', `this admin token may not ${access} ${resource} in this tenant`);
}

export function tenantNotFound(what: string): TurnpikeError {
  return new TurnpikeError('TP_ERR_NOT_FOUND', `tenant ${JSON.stringify(what)} not found`);
}

/**
 * The one authorization check: may the caller do `access` on `resource` in `tenantId` (default: the
 * request's tenant)? A tenant the caller has no role in is 404; a role or scope that does not reach is 403.
 * Returns the tenant id to filter by.
 */
export function authorize(auth: AuthContext, resource: Resource, access: Access, tenantId: string = auth.tenantId): string {
  const role = roleIn(auth.principal, tenantId);
  if (role === null) throw tenantNotFound(tenantId);
  if (roleRank(role) < roleRank(requiredRole(resource, access)) || !scopesAllow(auth.principal.scopes, resource, access)) {
    throw forbidden(resource, access);
  }
  return tenantId;
}

/** Superuser-only actions (creating tenants and users). */
export function requireSuperuser(auth: AuthContext, what: string): void {
  if (!auth.principal.superuser) throw new TurnpikeError('TP_ERR_FORBIDDEN', `only a superuser token may ${what}`);
}
