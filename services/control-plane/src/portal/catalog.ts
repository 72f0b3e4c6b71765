// The catalog a developer browses: the tenant's services with `catalog_visibility: public` whose lifecycle
// is published or deprecated (deprecated ones marked, with their sunset), their gateway-facing routes,
// how they authenticate (the key header "try it" should use), and the plans offered for subscribing.
// Offered plans are the tenant's plans tagged `portal`: an operator decides which plans (and so which
// `approval: auto` plans) developers may pick; the others stay for operator-made subscriptions.
import type { Sql } from 'postgres';
import { notFound, isUuid } from '../service/ids.js';

export const PORTAL_PLAN_TAG = 'portal';

export interface CatalogRoute {
  /** Matches `route_id` in usage figures. */
  id: string;
  paths: string[];
  methods: string[];
  hosts: string[];
}

export interface CatalogPlan {
  id: string;
  name: string;
  description: string;
  approval: 'manual' | 'auto';
  rate_limit: unknown;
  quotas: unknown[];
}

export interface CatalogEntry {
  id: string;
  name: string;
  version: string;
  lifecycle: 'published' | 'deprecated';
  deprecated: boolean;
  sunset_at: string | null;
  subscription_required: boolean;
  /** How the gateway identifies callers of this service; null: it does not (any caller). */
  auth: { type: 'key-auth'; header: string } | null;
  routes: CatalogRoute[];
  plans: CatalogPlan[];
  has_openapi: boolean;
  /** Only on the single-entry read (documents can be large). */
  openapi?: Record<string, unknown> | null;
  /** The document's `info.description` / title, for the list. */
  title: string | null;
  description: string | null;
}

interface ServiceRow {
  id: string;
  name: string;
  api_version: string;
  lifecycle: 'published' | 'deprecated';
  sunset_at: Date | null;
  subscription_required: boolean;
  openapi: Record<string, unknown> | null;
}

export async function offeredPlans(sql: Sql, tenantId: string): Promise<CatalogPlan[]> {
  const rows = await sql<{ id: string; doc: Record<string, unknown> }[]>`
    SELECT id, doc FROM resources WHERE tenant_id = ${tenantId} AND kind = 'plans' AND doc->'tags' ? ${PORTAL_PLAN_TAG} ORDER BY seq`;
  return rows.map((r) => ({
    id: r.id,
    name: String(r.doc.name),
    description: String(r.doc.description ?? ''),
    approval: r.doc.approval === 'auto' ? 'auto' : 'manual',
    rate_limit: r.doc.rate_limit ?? null,
    quotas: (r.doc.quotas as unknown[] | undefined) ?? [],
  }));
}

async function routesOf(sql: Sql, serviceIds: string[]): Promise<Map<string, Array<CatalogRoute & { plugins: Record<string, unknown> }>>> {
  const out = new Map<string, Array<CatalogRoute & { plugins: Record<string, unknown> }>>();
  if (serviceIds.length === 0) return out;
  const rows = await sql<{ id: string; service_id: string; paths: string[]; methods: string[]; hosts: string[]; plugins: Record<string, unknown> }[]>`
    SELECT id, service_id, paths, methods, hosts, plugins FROM routes WHERE service_id IN ${sql(serviceIds)} ORDER BY seq`;
  for (const r of rows) {
    const list = out.get(r.service_id) ?? [];
    list.push({ id: r.id, paths: r.paths, methods: r.methods, hosts: r.hosts, plugins: r.plugins ?? {} });
    out.set(r.service_id, list);
  }
  return out;
}

/** key-auth configs that apply to a service: on its routes, or as plugin instances (global, service, route). */
async function keyAuthHeaders(sql: Sql, tenantId: string): Promise<Array<{ service_id?: string; route_id?: string; header: string }>> {
  const rows = await sql<{ doc: { enabled?: boolean; scope?: { service_id?: string; route_id?: string; consumer_id?: string }; config?: { header_names?: string[] } } }[]>`
    SELECT doc FROM resources WHERE tenant_id = ${tenantId} AND kind = 'plugins' AND doc->>'type' = 'key-auth'`;
  return rows
    .filter((r) => r.doc.enabled !== false && !r.doc.scope?.consumer_id)
    .map((r) => ({ ...(r.doc.scope?.service_id ? { service_id: r.doc.scope.service_id } : {}), ...(r.doc.scope?.route_id ? { route_id: r.doc.scope.route_id } : {}), header: r.doc.config?.header_names?.[0] ?? 'apikey' }));
}

function docText(doc: Record<string, unknown> | null, field: 'title' | 'description'): string | null {
  const info = doc?.info as Record<string, unknown> | undefined;
  const v = info?.[field];
  return typeof v === 'string' ? v : null;
}

async function entries(sql: Sql, tenantId: string, onlyId: string | null, withDoc: boolean): Promise<CatalogEntry[]> {
  const services = await sql<ServiceRow[]>`
    SELECT id, name, api_version, lifecycle, sunset_at, subscription_required, openapi FROM services
     WHERE tenant_id = ${tenantId} AND catalog_visibility = 'public' AND lifecycle IN ('published', 'deprecated')
       ${onlyId !== null ? sql`AND id = ${onlyId}` : sql``}
     ORDER BY name`;
  const [routes, plans, keyAuth] = await Promise.all([routesOf(sql, services.map((s) => s.id)), offeredPlans(sql, tenantId), keyAuthHeaders(sql, tenantId)]);
  return services.map((s) => {
    const rs = routes.get(s.id) ?? [];
    const routeKey = rs.find((r) => r.plugins['key-auth'] !== undefined);
    const pluginKey =
      keyAuth.find((k) => k.route_id !== undefined && rs.some((r) => r.id === k.route_id)) ??
      keyAuth.find((k) => k.service_id === s.id) ??
      keyAuth.find((k) => k.service_id === undefined && k.route_id === undefined);
    const header = routeKey ? ((routeKey.plugins['key-auth'] as { header_names?: string[] }).header_names?.[0] ?? 'apikey') : pluginKey?.header;
    const e: CatalogEntry = {
      id: s.id,
      name: s.name,
      version: s.api_version,
      lifecycle: s.lifecycle,
      deprecated: s.lifecycle === 'deprecated',
      sunset_at: s.sunset_at ? s.sunset_at.toISOString() : null,
      subscription_required: s.subscription_required,
      auth: header ? { type: 'key-auth', header } : null,
      routes: rs.map(({ id, paths, methods, hosts }) => ({ id, paths, methods, hosts })),
      plans,
      has_openapi: s.openapi !== null,
      title: docText(s.openapi, 'title'),
      description: docText(s.openapi, 'description'),
    };
    if (withDoc) e.openapi = s.openapi;
    return e;
  });
}

export async function listCatalog(sql: Sql, tenantId: string): Promise<{ data: CatalogEntry[] }> {
  return { data: await entries(sql, tenantId, null, false) };
}

/** One catalog service with its OpenAPI document; a service outside the catalog is 404 like a missing one. */
export async function getCatalogEntry(sql: Sql, tenantId: string, id: string): Promise<CatalogEntry> {
  if (!isUuid(id)) throw notFound('service', id);
  const [e] = await entries(sql, tenantId, id.toLowerCase(), true);
  if (!e) throw notFound('service', id);
  return e;
}
