// GET /v1/me: who the caller's token is and what it may do in the tenant it addresses — what a console needs
// to pick the home tenant and to offer only the actions the role allows, without trying each endpoint.
import { roleIn, type Role, type Scope } from './access.js';
import { iso } from './checks.js';
import { authOf, type ServiceContext } from './context.js';

export interface WhoAmI {
  token_id: string;
  /** null: a service token (not a user's). */
  user_id: string | null;
  superuser: boolean;
  /** null: the token does not expire. */
  expires_at: string | null;
  /** null: not restricted by scopes. */
  scopes: readonly Scope[] | null;
  /** The tenant the token was created in: addressed when a request names none. */
  home_tenant: { id: string; name: string };
  /** The tenant this request addresses (X-Turnpike-Tenant, else the home tenant) and the caller's role there. */
  tenant: { id: string; name: string; role: Role | null };
}

export async function whoAmI(ctx: ServiceContext): Promise<WhoAmI> {
  const auth = authOf(ctx);
  const p = auth.principal;
  const [home] = await ctx.sql<{ name: string }[]>`SELECT name FROM tenants WHERE id = ${p.homeTenantId}`;
  return {
    token_id: p.tokenId,
    user_id: p.userId,
    superuser: p.superuser,
    expires_at: p.expiresAt === null ? null : iso(p.expiresAt),
    scopes: p.scopes,
    // The home tenant was deleted (only an empty tenant can be): its id stays, without a name.
    home_tenant: { id: p.homeTenantId, name: home?.name ?? '' },
    tenant: { id: auth.tenantId, name: auth.tenantName, role: roleIn(p, auth.tenantId) },
  };
}
