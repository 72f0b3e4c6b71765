// The portal's settings per tenant, set by operators (GET/PATCH /v1/portal/settings): whether developers
// may sign up on their own (closed unless an operator opens it) and the gateway base URL "try it" sends
// requests through (falling back to TP_PORTAL_GATEWAY_URL of the control plane).
import type { Sql } from 'postgres';
import { authorize } from '../service/access.js';
import { authOf, type ServiceContext } from '../service/context.js';
import { writeAdmin } from '../service/write.js';
import { withVersion } from '../service/versions.js';
import { parse } from '../validation/validator.js';
import { PortalSettingsUpdate } from './schemas.js';

export interface PortalSettings {
  signup: 'open' | 'closed';
  /** The tenant's own gateway URL; null: the control plane's default (`effective_gateway_url`). */
  gateway_url: string | null;
  /** What "try it" uses: gateway_url, else TP_PORTAL_GATEWAY_URL; null: "try it" is unavailable. */
  effective_gateway_url: string | null;
  updated_at: string | null;
}

interface SettingsRow {
  signup: 'open' | 'closed';
  gateway_url: string | null;
  version: string;
  updated_at: Date;
}

function trimSlash(u: string | null | undefined): string | null {
  return u ? u.replace(/\/+$/, '') : null;
}

export async function readPortalSettings(sql: Sql, tenantId: string, defaultGatewayUrl: string | null): Promise<PortalSettings & { version: number }> {
  const [row] = await sql<SettingsRow[]>`SELECT signup, gateway_url, version, updated_at FROM portal_settings WHERE tenant_id = ${tenantId}`;
  return {
    signup: row?.signup ?? 'closed',
    gateway_url: row?.gateway_url ?? null,
    effective_gateway_url: trimSlash(row?.gateway_url ?? defaultGatewayUrl),
    updated_at: row ? row.updated_at.toISOString() : null,
    version: row ? Number(row.version) : 0,
  };
}

export async function getPortalSettings(ctx: ServiceContext, defaultGatewayUrl: string | null): Promise<PortalSettings> {
  const t = authorize(authOf(ctx), 'tenants', 'read');
  const { version, ...s } = await readPortalSettings(ctx.sql, t, defaultGatewayUrl);
  return withVersion(s, version);
}

/** Who may become a consumer of the tenant is the tenant admins' call (role admin, like members). */
export async function updatePortalSettings(ctx: ServiceContext, input: unknown, defaultGatewayUrl: string | null): Promise<PortalSettings> {
  const t = authorize(authOf(ctx), 'members', 'write');
  const b = parse(PortalSettingsUpdate, input ?? {}, { defaults: false });
  await writeAdmin(ctx, async (w) => {
    const before = await w.tx<SettingsRow[]>`SELECT signup, gateway_url, version, updated_at FROM portal_settings WHERE tenant_id = ${t} FOR UPDATE`;
    const cur = before[0];
    const signup = b.signup ?? cur?.signup ?? 'closed';
    const gatewayUrl = b.gateway_url !== undefined ? trimSlash(b.gateway_url) : (cur?.gateway_url ?? null);
    await w.tx`INSERT INTO portal_settings (tenant_id, signup, gateway_url, updated_at) VALUES (${t}, ${signup}, ${gatewayUrl}, ${w.now})
      ON CONFLICT (tenant_id) DO UPDATE SET signup = EXCLUDED.signup, gateway_url = EXCLUDED.gateway_url,
        updated_at = EXCLUDED.updated_at, version = portal_settings.version + 1`;
    w.audit({
      action: cur ? 'update' : 'create',
      resource: 'portal_settings',
      id: t,
      before: cur ? { signup: cur.signup, gateway_url: cur.gateway_url } : null,
      after: { signup, gateway_url: gatewayUrl },
    });
  });
  return await getPortalSettings(ctx, defaultGatewayUrl);
}
