// Whether a service's OpenAPI document can drive `request-validation` (source `openapi`), checked where the
// two meet: a document attached to (or changed on) a service that such a plugin applies to, and such a plugin
// attached to (or enabled on) services with documents. Refused with 422 and field paths into the document,
// so a gateway never receives a pairing it would compile into an unavailable validator.
import type { TransactionSql } from 'postgres';
import { TurnpikeError, openApiRequestProblems, requestValidationPlugin, type FieldError, type PluginScope } from '@turnpike/common';

/** Problems listed in one refusal (a broken document can have hundreds). */
const MAX_FIELDS = 20;

/** Whether a plugin doc (as stored: config with defaults) validates against its service's OpenAPI document. */
export function readsOpenApi(doc: { type?: unknown; enabled?: unknown; config?: unknown }): boolean {
  const cfg = doc.config as { source?: unknown } | null | undefined;
  return doc.type === requestValidationPlugin.name && doc.enabled !== false && (cfg?.source ?? 'openapi') === 'openapi';
}

/** The document's problems rebased under `prefix` (e.g. `/openapi`), at most MAX_FIELDS. */
export function openApiDocProblems(doc: unknown, prefix: string): FieldError[] {
  return openApiRequestProblems(doc)
    .slice(0, MAX_FIELDS)
    .map((f) => ({ path: `${prefix}${f.path}`, message: f.message }));
}

function refuse(fields: FieldError[], what: string): never {
  const first = fields[0]!;
  const more = fields.length > 1 ? ` (and ${fields.length - 1} more)` : '';
  throw new TurnpikeError('TP_ERR_UNPROCESSABLE', `${what}: ${first.path} ${first.message}${more}`, fields);
}

/**
 * Service create/update: 422 (paths under `/openapi`) when `doc` is unusable and an enabled request-validation
 * plugin with source `openapi` applies to the service — globally, to it, or to one of its routes.
 * `serviceId` null: a service being created (only global plugins can apply yet).
 */
export async function assertServiceDocUsable(tx: TransactionSql, tenantId: string, serviceId: string | null, doc: Record<string, unknown>): Promise<void> {
  const problems = openApiDocProblems(doc, '/openapi');
  if (problems.length === 0) return;
  const rows = await tx<{ doc: { type?: unknown; enabled?: unknown; config?: unknown; scope?: PluginScope } }[]>`
    SELECT doc FROM resources
    WHERE tenant_id = ${tenantId} AND kind = 'plugins' AND doc->>'type' = ${requestValidationPlugin.name}
      AND (
        (NOT (doc->'scope' ? 'service_id') AND NOT (doc->'scope' ? 'route_id'))
        OR doc->'scope'->>'service_id' = ${serviceId ?? ''}
        OR doc->'scope'->>'route_id' IN (SELECT id::text FROM routes WHERE tenant_id = ${tenantId} AND service_id = ${serviceId})
      )`;
  if (!rows.some((r) => readsOpenApi(r.doc))) return;
  refuse(problems, 'the OpenAPI document cannot drive request validation (a request-validation plugin with source "openapi" applies to this service)');
}

/**
 * Plugin create/update: 422 when `doc` is an enabled request-validation plugin reading OpenAPI and a service it
 * applies to (its service, its route's service, or — global — every service of the tenant) has an unusable
 * document. One field per problem, at the scope field (`/scope/service_id`, `/scope/route_id`, or `/scope`
 * when global), its message naming the service and the path into its document (`/openapi/paths/~1pets/...`).
 */
export async function assertPluginDocsUsable(tx: TransactionSql, tenantId: string, doc: { type?: unknown; enabled?: unknown; config?: unknown; scope?: unknown }): Promise<void> {
  if (!readsOpenApi(doc)) return;
  const scope = (doc.scope ?? {}) as PluginScope;
  let field: string;
  let services: { id: string; name: string; openapi: unknown }[];
  if (scope.route_id !== undefined) {
    field = '/scope/route_id';
    services = await tx`
      SELECT s.id, s.name, s.openapi FROM services s JOIN routes r ON r.service_id = s.id
      WHERE r.id::text = ${scope.route_id} AND r.tenant_id = ${tenantId} AND s.openapi IS NOT NULL`;
  } else if (scope.service_id !== undefined) {
    field = '/scope/service_id';
    services = await tx`SELECT id, name, openapi FROM services WHERE id::text = ${scope.service_id} AND tenant_id = ${tenantId} AND openapi IS NOT NULL`;
  } else {
    // Global: every document of the tenant, one compile each (plugin writes are rare; documents are ≤ 1 MiB).
    field = '/scope';
    services = await tx`SELECT id, name, openapi FROM services WHERE tenant_id = ${tenantId} AND openapi IS NOT NULL ORDER BY name`;
  }
  for (const s of services) {
    const problems = openApiDocProblems(s.openapi, '/openapi');
    if (problems.length === 0) continue;
    refuse(
      problems.map((f) => ({ path: field, message: `service ${s.name} (${s.id}): OpenAPI document ${f.path} ${f.message}` })),
      `service ${s.name}'s OpenAPI document cannot drive request validation with source "openapi"`,
    );
  }
}
