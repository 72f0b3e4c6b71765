// Versions of prompt templates (issue 9). A template write that changes what the model is sent (messages,
// variables, parameters, model, provider_id) records a new immutable version (1, 2, 3 …) in
// prompt_template_versions; a write that changes only name, description or tags does not. Services may pin
// a version; the template's data-plane entry carries the current version and every pinned one, so a pinned
// service keeps being served the same prompt while the template moves on.
import { isDeepStrictEqual } from 'node:util';
import type { TransactionSql } from 'postgres';
import { PROMPT_TEMPLATE_CONTENT_FIELDS, TurnpikeError, type FieldError, type Integration, type PromptTemplateContent, type PromptTemplateVersion } from '@turnpike/common';
import type { ResourceDoc, ResourceEntity } from '../resources/definition.js';
import { defOf } from '../resources/registry.js';
import { getResource, updateResource } from '../resources/store.js';
import { authorize } from './access.js';
import { iso, jsonb } from './checks.js';
import { authOf, type ServiceContext } from './context.js';
import { notFound, requireId } from './ids.js';
import { pageQuery, toPage, type ListOptions, type Page } from './pagination.js';
import type { WriteOptions } from './versions.js';

interface VersionRow {
  template_id: string;
  version: number;
  content: PromptTemplateContent;
  created_at: Date;
}

/** The fields of a (validated, defaults filled in) template doc that a version pins. */
export function contentOf(doc: ResourceDoc): PromptTemplateContent {
  const out: Record<string, unknown> = {};
  for (const f of PROMPT_TEMPLATE_CONTENT_FIELDS) out[f] = doc[f] ?? null;
  return out as PromptTemplateContent;
}

/**
 * ResourceDef.beforeStore of prompt templates: on create, version 1; on update, a new version when the
 * content differs from the stored (current) one, else the doc keeps its version.
 */
export async function stampVersion(
  doc: ResourceDoc,
  ctx: { tx: TransactionSql; tenantId: string; id: string; prior: ResourceDoc | null; now: Date },
): Promise<ResourceDoc> {
  const content = contentOf(doc);
  const prior = ctx.prior;
  const count = prior === null ? 0 : Number(prior.versions_count ?? 0);
  if (prior !== null && count > 0 && isDeepStrictEqual(contentOf(prior), content)) {
    return { ...doc, version: prior.version, versions_count: count };
  }
  const version = count + 1;
  await ctx.tx`INSERT INTO prompt_template_versions (template_id, version, tenant_id, content, created_at)
    VALUES (${ctx.id}, ${version}, ${ctx.tenantId}, ${jsonb(ctx.tx, content)}, ${ctx.now})`;
  return { ...doc, version, versions_count: version };
}

/**
 * ResourceDef.dataPlaneExtra of prompt templates: `versions`, the content of the current version and of
 * every version a service pins, oldest first (the whole history would make the KV entry grow forever).
 */
export async function publishedVersions(tx: TransactionSql, entity: ResourceEntity): Promise<{ versions: Array<PromptTemplateContent & { version: number }> }> {
  const rows = await tx<VersionRow[]>`
    SELECT version, content FROM prompt_template_versions
    WHERE template_id = ${entity.id} AND (version = ${Number(entity.version ?? 0)} OR version IN (
      SELECT (integration->>'prompt_template_version')::integer FROM services
      WHERE integration @> ${jsonb(tx, { type: 'ai', prompt_template_id: entity.id })} AND integration ? 'prompt_template_version'))
    ORDER BY version`;
  return { versions: rows.map((r) => ({ version: Number(r.version), ...r.content })) };
}

/** The template and version a service's integration pins; null when it pins none. */
export function pinOf(integration: Integration | null | undefined): { templateId: string; version: number } | null {
  if (!integration || integration.type !== 'ai' || !integration.prompt_template_id || integration.prompt_template_version === undefined) return null;
  return { templateId: integration.prompt_template_id.toLowerCase(), version: integration.prompt_template_version };
}

/** The field error (at `path`) when the (existing) template has no such version; null when it has. */
export async function missingVersion(tx: TransactionSql, templateId: string, version: number, path: string): Promise<FieldError | null> {
  const [row] = await tx<{ n: number | null }[]>`SELECT max(version) AS n FROM prompt_template_versions WHERE template_id = ${templateId}`;
  const n = row?.n === null || row?.n === undefined ? 0 : Number(row.n);
  if (version <= n) return null;
  return { path, message: `prompt template ${templateId} has no version ${version} (it has ${n === 1 ? 'version 1' : `versions 1 to ${n}`})` };
}

function toVersion(r: VersionRow): PromptTemplateVersion {
  return { template_id: r.template_id, version: Number(r.version), ...r.content, created_at: iso(r.created_at) };
}

/** The template's id in the caller's tenant (404 when it has none by that id). */
async function requireTemplate(ctx: ServiceContext, id: string, tenantId: string): Promise<string> {
  const tid = requireId('prompt template', id);
  const rows = await ctx.sql`SELECT id FROM resources WHERE id = ${tid} AND tenant_id = ${tenantId} AND kind = 'prompt_templates'`;
  if (rows.length === 0) throw notFound('prompt template', id);
  return tid;
}

/** A version number from a URL segment: 400 when it is not a positive integer. */
export function parseVersionNumber(text: string): number {
  if (!/^[1-9]\d{0,8}$/.test(text)) throw new TurnpikeError('TP_ERR_VALIDATION', 'version must be a positive integer', [{ path: '/version', message: 'must be a positive integer' }]);
  return Number(text);
}

/** `GET /v1/prompt-templates/{id}/versions`: newest first, keyset-paged by version number. */
export async function listPromptTemplateVersions(ctx: ServiceContext, id: string, opts: ListOptions = {}): Promise<Page<PromptTemplateVersion>> {
  const t = authorize(authOf(ctx), 'prompt_templates', 'read');
  const q = pageQuery(opts);
  const tid = await requireTemplate(ctx, id, t);
  // The cursor holds the last version shown: the next page has the older ones.
  const rows = await ctx.sql<(VersionRow & { seq: number })[]>`
    SELECT template_id, version, content, created_at, version AS seq FROM prompt_template_versions
    WHERE template_id = ${tid} AND (${q.after} = 0 OR version < ${q.after})
    ORDER BY version DESC LIMIT ${q.limit + 1}`;
  return toPage(rows, q, toVersion);
}

/** `GET /v1/prompt-templates/{id}/versions/{n}` (404 for a version that does not exist). */
export async function getPromptTemplateVersion(ctx: ServiceContext, id: string, version: string): Promise<PromptTemplateVersion> {
  const t = authorize(authOf(ctx), 'prompt_templates', 'read');
  const n = parseVersionNumber(version);
  const tid = await requireTemplate(ctx, id, t);
  const [row] = await ctx.sql<VersionRow[]>`
    SELECT template_id, version, content, created_at FROM prompt_template_versions WHERE template_id = ${tid} AND version = ${n}`;
  if (!row) throw new TurnpikeError('TP_ERR_NOT_FOUND', `prompt template ${JSON.stringify(id)} has no version ${n}`);
  return toVersion(row);
}

/**
 * `POST /v1/prompt-templates/{id}/versions/{n}/restore`: makes version n's content current again, as a new
 * version (the history is never rewritten). An ordinary update underneath, so the provider and model are
 * checked as they are now (422 when the provider is gone), and If-Match applies. When n's content is already
 * the current one, nothing changes.
 */
export async function restorePromptTemplateVersion(ctx: ServiceContext, id: string, version: string, opts?: WriteOptions): Promise<ResourceEntity> {
  authorize(authOf(ctx), 'prompt_templates', 'write');
  const def = defOf('prompt_templates')!;
  const target = await getPromptTemplateVersion(ctx, id, version);
  const { template_id: _t, version: _v, created_at: _c, ...content } = target;
  const current = await getResource(ctx, def, id);
  if (isDeepStrictEqual(contentOf(current), content)) return current;
  return await updateResource(ctx, def, id, content, 'patch', opts);
}
