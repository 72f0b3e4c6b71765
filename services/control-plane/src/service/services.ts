// Services: an API fronted by the gateway, bound to one upstream (http) or another integration
// (lambda | websocket | websocket-api | ai).
import { randomUUID } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import type { TransactionSql } from 'postgres';
import {
  AiIntegration,
  HttpIntegration,
  LambdaIntegration,
  ServiceCreate,
  WebSocketIntegration,
  WebSocketApiIntegration,
  ServiceUpdate,
  TurnpikeError,
  normalizeIntegration,
  serviceSplitProblems,
  serviceTargetProblems,
  type ServiceSplit,
  type FieldError,
  type Integration,
  type OpenApiDocConfig,
  type Service,
  type ServiceLifecycle,
} from '@turnpike/common';
import { parse } from '../validation/validator.js';
import { assertReference, assertUnique, assertUnused, iso, jsonb } from './checks.js';
import { authorize } from './access.js';
import { authOf, type ServiceContext } from './context.js';
import { notFound, requireId } from './ids.js';
import { selectPage, toPage, type ListOptions, type Page } from './pagination.js';
import { checkVersion, withVersion, type WriteOptions } from './versions.js';
import { writeConfig, type WriteScope } from './write.js';
import { releaseReferences, republishResource } from '../resources/store.js';
import { assertServiceDocUsable } from './openapi-usable.js';
import { missingVersion, pinOf } from './prompt-template-versions.js';
import { publicIntegration, sealIntegrationCredentials } from './lambda-credentials.js';

export interface ServiceRow {
  id: string;
  tenant_id: string;
  seq: string;
  name: string;
  /** The http upstream, or a websocket integration's upstream (copied, for the foreign key); null otherwise. */
  upstream_id: string | null;
  /** Null for http services. */
  integration: Exclude<Integration, { type: 'http' }> | null;
  base_path: string;
  tags: string[];
  lifecycle: ServiceLifecycle;
  api_version: string;
  sunset_at: Date | null;
  catalog_visibility: 'public' | 'private';
  openapi: Record<string, unknown> | null;
  /** The config revision at which `openapi` last changed; null while there is none. */
  openapi_revision: string | null;
  subscription_required: boolean;
  splits: ServiceSplit[];
  revision: string;
  version: string;
  created_at: Date;
  updated_at: Date;
}

/** `sealed`: keep lambda credentials' sealed secrets (for the data plane); else the API's form without them. */
export function toService(r: ServiceRow, sealed = false): Service {
  return {
    id: r.id,
    name: r.name,
    // http services read as before: `upstream_id` set, `integration` null. Others: the reverse.
    upstream_id: r.integration === null ? r.upstream_id : null,
    integration: sealed ? r.integration : publicIntegration(r.integration),
    base_path: r.base_path,
    tags: r.tags,
    lifecycle: r.lifecycle,
    version: r.api_version,
    sunset_at: r.sunset_at ? iso(r.sunset_at) : null,
    catalog_visibility: r.catalog_visibility,
    subscription_required: r.subscription_required,
    openapi: r.openapi,
    splits: r.splits ?? [],
    created_at: iso(r.created_at),
    updated_at: iso(r.updated_at),
  };
}

/**
 * The service as the data plane (and the audit log) receives it: without the OpenAPI document, which can be
 * up to a megabyte, is never read by a gateway, and would otherwise travel to every node on every change.
 */
export function serviceForDataPlane(s: Service, tenantId?: string): Service {
  const { openapi: _doc, ...rest } = s;
  // Nodes match tenant-scoped AI budgets by it (gateway ai/budget-index.ts).
  return tenantId === undefined ? rest : ({ ...rest, tenant_id: tenantId } as Service);
}

/**
 * The service's OpenAPI document as the data plane receives it (`openapi_docs.<service id>`, for request
 * validation); null while the service has none. Published only when the document changes.
 */
export function openapiDocForDataPlane(r: Pick<ServiceRow, 'id' | 'openapi'>): OpenApiDocConfig | null {
  return r.openapi === null ? null : { id: r.id, service_id: r.id, document: r.openapi };
}

const TRANSITIONS: Record<ServiceLifecycle, readonly ServiceLifecycle[]> = {
  draft: ['published'],
  published: ['deprecated', 'retired'],
  deprecated: ['published', 'retired'],
  retired: [],
};

/** 409 with the field path `/lifecycle` unless `from → to` is an allowed lifecycle transition. */
export function assertLifecycleTransition(from: ServiceLifecycle, to: ServiceLifecycle): void {
  if (from === to) return;
  if (TRANSITIONS[from].includes(to)) return;
  const message = from === 'retired' ? 'retired services cannot change lifecycle' : `a ${from} service cannot become ${to}`;
  throw new TurnpikeError('TP_ERR_CONFLICT', message, [
    { path: '/lifecycle', message: `allowed from ${from}: ${TRANSITIONS[from].join(', ') || 'none'}` },
  ]);
}

export async function createService(ctx: ServiceContext, input: unknown): Promise<Service> {
  const t = authorize(authOf(ctx), 'services', 'write');
  const b = parseService(ServiceCreate, input, true);
  const target = serviceTarget(b);
  const splits = serviceSplits(b);
  // Stored credentials are sealed bound to the service id, so the id is chosen first.
  const id = randomUUID();
  target.integration = sealIntegrationCredentials(target.integration, null, id, ctx.keyring);
  return await writeConfig(ctx, async (w) => {
    await assertUnique(w.tx, 'services', 'name', b.name, null, 'service', t);
    await assertTargetReferences(w.tx, target, t);
    await assertSplitReferences(w.tx, splits, t);
    if (b.openapi) await assertServiceDocUsable(w.tx, t, null, b.openapi);
    const [row] = await w.tx<ServiceRow[]>`
      INSERT INTO services (id, tenant_id, name, upstream_id, integration, base_path, tags, lifecycle, api_version, sunset_at,
                            catalog_visibility, subscription_required, openapi, openapi_revision, splits, revision, created_at, updated_at)
      VALUES (${id}, ${t}, ${b.name}, ${target.upstream_id}, ${target.integration ? jsonb(w.tx, target.integration) : null},
              ${b.base_path ?? ''}, ${jsonb(w.tx, b.tags ?? [])},
              ${b.lifecycle ?? 'published'}, ${b.version ?? ''}, ${b.sunset_at ?? null}, ${b.catalog_visibility ?? 'private'},
              ${b.subscription_required ?? false}, ${b.openapi ? jsonb(w.tx, b.openapi) : null}, ${b.openapi ? w.revision : null},
              ${jsonb(w.tx, splits)}, ${w.revision}, ${w.now}, ${w.now})
      RETURNING *`;
    const s = toService(row!);
    // The pinned version reaches the data plane no later than the service that asks for it.
    await republishPinned(w, null, row!.integration);
    w.emit({ kind: 'services', id: s.id, op: 'put', data: serviceForDataPlane(toService(row!, true), row!.tenant_id) });
    const doc = openapiDocForDataPlane(row!);
    if (doc) w.emit({ kind: 'openapi_docs', id: s.id, op: 'put', data: doc });
    w.audit({ action: 'create', resource: 'services', id: s.id, after: serviceForDataPlane(s) });
    return withVersion(s, row!.version);
  });
}

const INTEGRATIONS = { http: HttpIntegration, lambda: LambdaIntegration, websocket: WebSocketIntegration, 'websocket-api': WebSocketApiIntegration, ai: AiIntegration } as const;

/**
 * `parse`, with errors inside `integration` reported against the branch its `type` names: a union's
 * validator would otherwise report every branch's complaints (a lambda missing `upstream_id`, ...).
 */
function parseService<S extends typeof ServiceCreate | typeof ServiceUpdate>(schema: S, input: unknown, defaults: boolean): ReturnType<typeof parse<S>> {
  try {
    return parse(schema, input, { defaults });
  } catch (e) {
    const raw = input !== null && typeof input === 'object' ? (input as { integration?: unknown }).integration : undefined;
    if (!(e instanceof TurnpikeError) || !e.fields || raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw e;
    const type = (raw as { type?: unknown }).type;
    let branch: FieldError[];
    if (typeof type === 'string' && Object.hasOwn(INTEGRATIONS, type)) {
      try {
        parse(INTEGRATIONS[type as keyof typeof INTEGRATIONS], raw, { defaults });
        branch = [];
      } catch (be) {
        if (!(be instanceof TurnpikeError)) throw be;
        branch = (be.fields ?? []).map((f) => ({ path: `/integration${f.path}`, message: f.message }));
      }
    } else {
      branch = [{ path: '/integration/type', message: `must be one of: ${Object.keys(INTEGRATIONS).map((k) => JSON.stringify(k)).join(', ')}` }];
    }
    const fields = [...e.fields.filter((f) => f.path !== '/integration' && !f.path.startsWith('/integration/')), ...branch];
    if (fields.length === 0) throw e;
    const more = fields.length > 1 ? ` (and ${fields.length - 1} more)` : '';
    throw new TurnpikeError('TP_ERR_VALIDATION', `${fields[0]!.path} ${fields[0]!.message}${more}`, fields);
  }
}

type ServiceTarget = ReturnType<typeof normalizeIntegration> & {
  /** Where the upstream reference was given, for the error path. */
  refField: string;
};

/**
 * Exactly one of `upstream_id` and `integration` (422 otherwise), normalized one way: `{type: 'http'}` is
 * stored and returned as a bare `upstream_id` (see normalizeIntegration in @turnpike/common).
 */
function serviceTarget(s: { upstream_id?: string | null | undefined; integration?: Integration | null | undefined }): ServiceTarget {
  const fields = serviceTargetProblems(s);
  if (fields.length > 0) throw new TurnpikeError('TP_ERR_UNPROCESSABLE', `${fields[0]!.path.slice(1)} ${fields[0]!.message}`, fields);
  const refField = s.integration ? '/integration/upstream_id' : '/upstream_id';
  return { ...normalizeIntegration(s.upstream_id, s.integration), refField };
}

/**
 * What a service points at must exist in the tenant: its upstream, or an AI integration's providers and
 * prompt template (422 with the field's path otherwise).
 */
async function assertTargetReferences(tx: TransactionSql, target: ServiceTarget, tenantId: string): Promise<void> {
  if (target.upstream_id !== null) await assertReference(tx, 'upstreams', target.upstream_id, target.refField, 'upstream', tenantId);
  if (target.integration?.type === 'websocket-api') {
    // Each http route names an upstream; each must exist (locked against a concurrent delete, which checks use).
    for (const [key, r] of Object.entries(target.integration.routes)) {
      if (r.type === 'http') await assertReference(tx, 'upstreams', r.upstream_id, `/integration/routes/${key}/upstream_id`, 'upstream', tenantId);
    }
    return;
  }
  const ai = target.integration?.type === 'ai' ? target.integration : null;
  if (!ai) return;
  const wanted: Array<{ kind: 'ai_providers' | 'prompt_templates'; id: string; path: string; what: string }> = ai.provider_ids.map((id, i) => ({
    kind: 'ai_providers' as const,
    id: id.toLowerCase(),
    path: `/integration/provider_ids/${i}`,
    what: 'AI provider',
  }));
  if (ai.prompt_template_id) wanted.push({ kind: 'prompt_templates', id: ai.prompt_template_id.toLowerCase(), path: '/integration/prompt_template_id', what: 'prompt template' });
  const fields: FieldError[] = [];
  for (const w of wanted) {
    const rows = await tx`SELECT id FROM resources WHERE id = ${w.id} AND tenant_id = ${tenantId} AND kind = ${w.kind} FOR KEY SHARE`;
    if (rows.length === 0) fields.push({ path: w.path, message: `${w.what} ${w.id} does not exist` });
    else if (w.kind === 'prompt_templates' && ai.prompt_template_version !== undefined) {
      const missing = await missingVersion(tx, w.id, ai.prompt_template_version, '/integration/prompt_template_version');
      if (missing) fields.push(missing);
    }
  }
  if (ai.prompt_template_version !== undefined && !ai.prompt_template_id) {
    fields.push({ path: '/integration/prompt_template_version', message: 'pins a version of the prompt template: set prompt_template_id too' });
  }
  if (fields.length > 0) throw new TurnpikeError('TP_ERR_UNPROCESSABLE', fields.map((f) => `${f.path.slice(1)}: ${f.message}`).join('; '), fields);
}

/**
 * The splits of a service about to be written, upstream ids lowercased (422 with field paths when the
 * weights add up to more than 100, a split names the service's own upstream, or the service is not http).
 */
function serviceSplits(s: Parameters<typeof serviceSplitProblems>[0]): ServiceSplit[] {
  const fields = serviceSplitProblems(s);
  if (fields.length > 0) throw new TurnpikeError('TP_ERR_UNPROCESSABLE', `${fields[0]!.path.slice(1)} ${fields[0]!.message}`, fields);
  return (s.splits ?? []).map((sp) => ({ ...sp, upstream_id: sp.upstream_id.toLowerCase() }));
}

/** Every upstream a split names must exist in the tenant (422 at /splits/<i>/upstream_id otherwise). */
async function assertSplitReferences(tx: TransactionSql, splits: readonly ServiceSplit[], tenantId: string): Promise<void> {
  for (let i = 0; i < splits.length; i++) await assertReference(tx, 'upstreams', splits[i]!.upstream_id, `/splits/${i}/upstream_id`, 'upstream', tenantId);
}

/** 409 TP_ERR_IN_USE when a service's splits name this upstream (run before deleting one). */
export async function assertNoSplitUses(tx: TransactionSql, upstreamId: string): Promise<void> {
  const rows = await tx<{ id: string; name: string }[]>`
    SELECT id, name FROM services WHERE splits @> ${jsonb(tx, [{ upstream_id: upstreamId }])} ORDER BY seq LIMIT 5`;
  if (rows.length > 0) {
    throw new TurnpikeError('TP_ERR_IN_USE', `upstream ${JSON.stringify(upstreamId)} is named by the splits of services ${rows.map((r) => `${r.name} (${r.id})`).join(', ')}`);
  }
}

/** 409 TP_ERR_IN_USE when a websocket-api service's routes name this upstream (run before deleting one). */
export async function assertNoWebSocketApiUses(tx: TransactionSql, upstreamId: string): Promise<void> {
  const rows = await tx<{ id: string; name: string }[]>`
    SELECT id, name FROM services
    WHERE integration->>'type' = 'websocket-api'
      AND EXISTS (SELECT 1 FROM jsonb_each(integration->'routes') AS r(key, value) WHERE r.value->>'upstream_id' = ${upstreamId})
    ORDER BY seq LIMIT 5`;
  if (rows.length > 0) {
    throw new TurnpikeError('TP_ERR_IN_USE', `upstream ${JSON.stringify(upstreamId)} is named by the WebSocket API routes of services ${rows.map((r) => `${r.name} (${r.id})`).join(', ')}`);
  }
}

/**
 * A prompt template's data-plane entry carries the versions services pin: when a service starts or stops
 * pinning one (or pins another), the templates concerned are published again, after the service row changed.
 */
async function republishPinned(w: WriteScope, before: ServiceRow['integration'], after: ServiceRow['integration']): Promise<void> {
  const was = pinOf(before);
  const now = pinOf(after);
  if (isDeepStrictEqual(was, now)) return;
  const ids = new Set([was?.templateId, now?.templateId].filter((id): id is string => id !== undefined));
  for (const id of ids) await republishResource(w, 'prompt_templates', id);
}

/** 409 TP_ERR_IN_USE when a service's AI integration names this provider or prompt template (run before deleting one). */
export async function assertNoServiceUses(tx: TransactionSql, field: 'provider_ids' | 'prompt_template_id', id: string, what: string): Promise<void> {
  const probe = field === 'provider_ids' ? { type: 'ai', provider_ids: [id] } : { type: 'ai', prompt_template_id: id };
  const rows = await tx<{ id: string; name: string }[]>`SELECT id, name FROM services WHERE integration @> ${jsonb(tx, probe)} ORDER BY seq LIMIT 5`;
  if (rows.length > 0) {
    throw new TurnpikeError('TP_ERR_IN_USE', `${what} ${JSON.stringify(id)} is used by the AI integration of services ${rows.map((r) => `${r.name} (${r.id})`).join(', ')}`);
  }
}

export async function getService(ctx: ServiceContext, id: string): Promise<Service> {
  const t = authorize(authOf(ctx), 'services', 'read');
  const sid = requireId('service', id);
  const [row] = await ctx.sql<ServiceRow[]>`SELECT * FROM services WHERE id = ${sid} AND tenant_id = ${t}`;
  if (!row) throw notFound('service', id);
  return withVersion(toService(row), row.version);
}

export async function listServices(ctx: ServiceContext, opts?: ListOptions): Promise<Page<Service>> {
  const t = authorize(authOf(ctx), 'services', 'read');
  const { rows, q } = await selectPage<ServiceRow>(ctx.sql, 'services', 'name', opts, t);
  return toPage(rows, q, toService);
}

export async function updateService(
  ctx: ServiceContext,
  id: string,
  input: unknown,
  mode: 'patch' | 'replace' = 'patch',
  opts?: WriteOptions,
): Promise<Service> {
  const t = authorize(authOf(ctx), 'services', 'write');
  const sid = requireId('service', id);
  const b = mode === 'patch' ? parseService(ServiceUpdate, input, false) : parseService(ServiceCreate, input, true);
  return await writeConfig(ctx, async (w) => {
    const [cur] = await w.tx<ServiceRow[]>`SELECT * FROM services WHERE id = ${sid} AND tenant_id = ${t} FOR UPDATE`;
    if (!cur) throw notFound('service', id);
    checkVersion(cur.version, opts, 'service', id);
    const next = { ...toService(cur), ...b };
    // A patch names the new target with one field: setting one of upstream_id / integration clears the other.
    if (mode === 'patch' && b.integration != null && b.upstream_id === undefined) next.upstream_id = null;
    if (mode === 'patch' && b.upstream_id != null && b.integration === undefined) next.integration = null;
    const target = serviceTarget(next);
    target.integration = sealIntegrationCredentials(target.integration, cur.integration, sid, ctx.keyring);
    const splits = serviceSplits(next);
    assertLifecycleTransition(cur.lifecycle, next.lifecycle ?? 'published');
    if (next.name !== cur.name) await assertUnique(w.tx, 'services', 'name', next.name, sid, 'service', t);
    if (target.upstream_id !== cur.upstream_id || target.integration?.type === 'ai' || target.integration?.type === 'websocket-api') await assertTargetReferences(w.tx, target, t);
    if (JSON.stringify(splits) !== JSON.stringify(cur.splits ?? [])) await assertSplitReferences(w.tx, splits, t);
    // Key order aside (jsonb keeps its own), an unchanged document keeps its revision and is not republished.
    const openapi = next.openapi ?? null;
    const docChanged = !isDeepStrictEqual(openapi, cur.openapi);
    if (docChanged && openapi) await assertServiceDocUsable(w.tx, t, sid, openapi);
    const [row] = await w.tx<ServiceRow[]>`
      UPDATE services SET name = ${next.name}, upstream_id = ${target.upstream_id},
        integration = ${target.integration ? jsonb(w.tx, target.integration) : null}, base_path = ${next.base_path},
        tags = ${jsonb(w.tx, next.tags)}, lifecycle = ${next.lifecycle ?? 'published'}, api_version = ${next.version ?? ''},
        sunset_at = ${next.sunset_at ?? null}, catalog_visibility = ${next.catalog_visibility ?? 'private'},
        subscription_required = ${next.subscription_required ?? false},
        openapi = ${openapi ? jsonb(w.tx, openapi) : null},
        openapi_revision = ${docChanged ? (openapi ? w.revision : null) : cur.openapi_revision}, splits = ${jsonb(w.tx, splits)},
        revision = ${w.revision}, updated_at = ${w.now}, version = version + 1
      WHERE id = ${sid} RETURNING *`;
    const s = toService(row!);
    await republishPinned(w, cur.integration, row!.integration);
    w.emit({ kind: 'services', id: s.id, op: 'put', data: serviceForDataPlane(toService(row!, true), row!.tenant_id) });
    if (docChanged) {
      const doc = openapiDocForDataPlane(row!);
      w.emit(doc ? { kind: 'openapi_docs', id: s.id, op: 'put', data: doc } : { kind: 'openapi_docs', id: s.id, op: 'del' });
    }
    w.audit({ action: 'update', resource: 'services', id: s.id, before: serviceForDataPlane(toService(cur)), after: serviceForDataPlane(s) });
    return withVersion(s, row!.version);
  });
}

export async function deleteService(ctx: ServiceContext, id: string, opts?: WriteOptions): Promise<void> {
  const t = authorize(authOf(ctx), 'services', 'write');
  const sid = requireId('service', id);
  await writeConfig(ctx, async (w) => {
    const [cur] = await w.tx<ServiceRow[]>`SELECT * FROM services WHERE id = ${sid} AND tenant_id = ${t} FOR UPDATE`;
    if (!cur) throw notFound('service', id);
    checkVersion(cur.version, opts, 'service', id);
    await assertUnused(w.tx, 'routes', 'service_id', sid, 'service', 'routes');
    await releaseReferences(w, 'services', sid);
    await w.tx`DELETE FROM services WHERE id = ${sid}`;
    w.emit({ kind: 'services', id: sid, op: 'del' });
    await republishPinned(w, cur.integration, null);
    if (cur.openapi !== null) w.emit({ kind: 'openapi_docs', id: sid, op: 'del' });
    w.audit({ action: 'delete', resource: 'services', id: sid, before: serviceForDataPlane(toService(cur)) });
  });
}
